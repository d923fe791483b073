// The edgeray dashboard: one page, one view at a time (the part of the address after '#'),
// each refreshed from the node's /api/... JSON every REFRESH_MS. Everything shown is built with
// createElement and text nodes, never parsed as HTML: names, states and log lines are user data.
"use strict";

const REFRESH_MS = 1500;
const view = document.getElementById("view");
const controls = document.getElementById("controls");
const updated = document.getElementById("updated");
let current = null;
let timer = null;
let generation = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + " " + units[i];
}

function short(id) { return id ? String(id).slice(0, 12) : ""; }

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";
}

function stateCell(state) {
  return el("td", { class: "state state-" + String(state).replace(/[^A-Za-z_]/g, "") }, state);
}

// columns: [title, row -> cell content (a string or a Node), optional class]
function table(id, columns, rows, empty) {
  if (!rows.length) return el("p", { class: "muted", id: id + "-empty" }, empty || "None.");
  const head = el("tr", {}, ...columns.map(([title]) => el("th", {}, title)));
  const body = rows.map((r) => el("tr", {}, ...columns.map(([, get, cls]) => {
    const v = get(r);
    return v instanceof HTMLTableCellElement ? v : el("td", cls ? { class: cls } : {}, v);
  })));
  return el("table", { id: id }, el("thead", {}, head), el("tbody", {}, ...body));
}

function resources(res) {
  return Object.entries(res || {}).map(([k, v]) => k + ": " + (k.includes("memory") ? bytes(v) : v)).join(", ");
}

function usage(total, available) {
  const parts = [];
  for (const [k, t] of Object.entries(total || {})) {
    const used = t - ((available || {})[k] ?? 0);
    const shown = k.includes("memory") ? bytes(used) + " / " + bytes(t) : used + " / " + t;
    parts.push(el("div", {}, el("meter", { min: "0", max: String(t || 1), value: String(used) }), " " + k + " " + shown));
  }
  return el("td", {}, ...parts);
}

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r.json();
}

const views = {
  async cluster() {
    const c = await api("/api/cluster");
    const alive = c.nodes.filter((n) => n.state === "ALIVE").length;
    const st = c.store;
    const cards = el("div", { class: "cards" },
      el("div", { class: "card", id: "nodes-alive" }, el("b", {}, String(alive)), "nodes alive"),
      el("div", { class: "card", id: "nodes-dead" }, el("b", {}, String(c.nodes.length - alive)), "nodes dead"),
      el("div", { class: "card", id: "store-use" }, el("b", {}, bytes(st.used) + " / " + bytes(st.capacity)),
        "object store (" + st.num_objects + " objects, " + bytes(st.spilled_bytes) + " spilled)"),
      el("div", { class: "card" }, el("b", {}, String(c.pending_tasks)), "tasks waiting here"),
      el("div", { class: "card", id: "host" }, el("b", {}, c.host.cpu_count + " CPUs"),
        "load " + c.host.load.map((x) => x.toFixed(2)).join(" ") + " · memory " +
        bytes(c.host.mem_total - c.host.mem_available) + " / " + bytes(c.host.mem_total) + " used"));
    return [
      cards,
      el("h2", {}, "Resources (cluster)"),
      table("resources", [["used / total", () => usage(c.total, c.available)]], [c]),
      el("h2", {}, "Nodes"),
      table("nodes", [
        ["node", (n) => short(n.node_id) + (n.is_head_node ? " (head)" : "") + (n.this_node ? " · this node" : "")],
        ["state", (n) => stateCell(n.state)],
        ["address", (n) => n.address],
        ["host", (n) => n.node_name],
        ["CPU and memory used / total", (n) => usage(n.resources_total, n.resources_available)],
        ["labels", (n) => Object.entries(n.labels || {}).map(([k, v]) => k + "=" + v).join(", ")],
      ], c.nodes),
      c.infeasible.length ? el("h2", {}, "Infeasible tasks") : null,
      c.infeasible.length ? table("infeasible", [["task", (t) => t.name], ["needs", (t) => resources(t.resources)]], c.infeasible) : null,
    ];
  },

  async jobs() {
    const rows = await api("/api/jobs");
    return [table("jobs", [
      ["job", (j) => j.job_id], ["type", (j) => j.type], ["status", (j) => stateCell(j.status)],
      ["submission id", (j) => j.submission_id || ""], ["entrypoint", (j) => j.entrypoint || ""],
      ["driver pid", (j) => (j.driver_info || {}).pid ?? ""], ["namespace", (j) => j.namespace || ""],
      ["message", (j) => j.message || ""],
    ], rows, "No jobs yet.")];
  },

  async actors() {
    const rows = await api("/api/actors");
    return [table("actors", [
      ["actor", (a) => short(a.actor_id)], ["class", (a) => a.class_name], ["name", (a) => a.name || ""],
      ["state", (a) => stateCell(a.state)], ["node", (a) => short(a.node_id)], ["pid", (a) => a.pid ?? ""],
      ["restarts", (a) => a.num_restarts ?? 0, "num"], ["job", (a) => a.job_id],
      ["death cause", (a) => a.death_cause || ""],
    ], rows, "No actors.")];
  },

  tasksControls() {
    const state = el("select", { id: "filter-state" },
      ...["", "PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "RUNNING", "FINISHED", "FAILED"]
        .map((s) => el("option", { value: s }, s || "any state")));
    const name = el("input", { id: "filter-name", placeholder: "name contains" });
    const job = el("input", { id: "filter-job", placeholder: "job id" });
    for (const e of [state, name, job]) e.addEventListener("input", () => refresh());
    return [el("label", {}, "State ", state), el("label", {}, "Name ", name), el("label", {}, "Job ", job)];
  },

  async tasks() {
    const q = new URLSearchParams();
    const f = (id) => (document.getElementById(id) || {}).value || "";
    if (f("filter-state")) q.set("state", f("filter-state"));
    if (f("filter-name")) q.set("name", f("filter-name"));
    if (f("filter-job")) q.set("job_id", f("filter-job"));
    const t = await api("/api/tasks?" + q.toString());
    const counts = el("div", { class: "cards", id: "task-counts" }, ...Object.entries(t.counts).map(([s, n]) =>
      el("div", { class: "card state-" + s.replace(/[^A-Za-z_]/g, ""), "data-state": s }, el("b", {}, String(n)), s)));
    return [
      counts,
      el("h2", {}, "Recent tasks (" + t.matching + " of " + t.total + " match)"),
      table("tasks", [
        ["task", (r) => r.task_id], ["name", (r) => r.name], ["state", (r) => stateCell(r.state)],
        ["type", (r) => r.type], ["job", (r) => r.job_id], ["node", (r) => short(r.node_id)],
        ["pid", (r) => r.worker_pid ?? ""], ["error", (r) => r.error_type || ""],
        ["started", (r) => when(r.start_time)], ["ended", (r) => when(r.end_time)],
      ], t.rows, "No tasks match."),
    ];
  },

  async placement_groups() {
    const rows = await api("/api/placement_groups");
    return [table("placement-groups", [
      ["group", (p) => short(p.placement_group_id)], ["name", (p) => p.name || ""],
      ["state", (p) => stateCell(p.state)], ["strategy", (p) => p.strategy],
      ["bundles (where)", (p) => el("td", {}, ...(p.bundles || []).map((b, i) =>
        el("div", {}, "#" + i + " " + resources(b.unit_resources) + " → " + (b.node_id ? short(b.node_id) : "not placed"))))],
      ["detached", (p) => (p.is_detached ? "yes" : "no")], ["job", (p) => p.creator_job_id],
    ], rows, "No placement groups.")];
  },

  async objects() {
    const o = await api("/api/objects");
    const st = o.store;
    return [
      el("p", { id: "store-summary" }, "Object store: " + bytes(st.used) + " used of " + bytes(st.capacity) + ", " +
        st.num_objects + " objects; spilled " + bytes(st.spilled_bytes) + " (" + st.num_spills + " spills, " +
        st.num_restores + " restores)."),
      table("objects", [
        ["object", (r) => r.object_id], ["reference type", (r) => r.reference_type],
        ["size", (r) => bytes(r.object_size), "num"], ["where", (r) => r.where],
        ["holders", (r) => r.holders, "num"], ["mapped", (r) => r.mapped ?? 0, "num"],
      ], o.rows, "No objects."),
    ];
  },
};

// The logs view: a file chosen from the node's logs/ directory, its tail, then what is appended.
const logState = { name: "", offset: null, pre: null, follow: true };

views.logsControls = function () {
  const pick = el("select", { id: "log-file" });
  pick.addEventListener("change", () => { logState.name = pick.value; logState.offset = null; refresh(); });
  const follow = el("input", { type: "checkbox", id: "log-follow", checked: "" });
  follow.addEventListener("change", () => { logState.follow = follow.checked; });
  logState.pre = el("pre", { class: "log", id: "log-text" });
  logState.offset = null;
  return [el("label", {}, "File ", pick), el("label", {}, follow, " follow")];
};

views.logs = async function () {
  const list = await api("/api/logs");
  const pick = document.getElementById("log-file");
  const names = list.files.map((f) => f.name);
  if (pick.options.length !== names.length || names.some((n, i) => pick.options[i].value !== n)) {
    pick.replaceChildren(...list.files.map((f) => el("option", { value: f.name }, f.name + " (" + bytes(f.size) + ")")));
  }
  if (!names.includes(logState.name)) { logState.name = names[0] || ""; logState.offset = null; }
  pick.value = logState.name;
  const pre = logState.pre;
  if (logState.name && (logState.offset === null || logState.follow)) {
    const q = new URLSearchParams({ name: logState.name });
    if (logState.offset !== null) q.set("offset", String(logState.offset));
    else q.set("tail", "1000");
    const r = await api("/api/log?" + q.toString());
    if (logState.offset === null || r.offset < logState.offset) pre.replaceChildren();
    if (r.text) {
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(document.createTextNode(r.text));
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    }
    logState.offset = r.offset;
  }
  return [el("p", { class: "muted" }, "Node " + short(list.node_id) + ": " + list.dir), pre];
};

async function refresh() {
  const name = current;
  const mine = ++generation;
  clearTimeout(timer);
  try {
    const parts = await views[name]();
    if (mine !== generation || name !== current) return;
    view.replaceChildren(...parts.filter((p) => p));
    updated.textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = name;
  } catch (e) {
    if (mine !== generation) return;
    updated.textContent = "error: " + e.message;
  }
  if (mine === generation) timer = setTimeout(refresh, REFRESH_MS);
}

function show() {
  const name = (window.location.hash || "#cluster").slice(1);
  current = Object.hasOwn(views, name) && !name.endsWith("Controls") ? name : "cluster";
  delete document.body.dataset.loaded;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === current);
  const make = views[current + "Controls"];
  controls.replaceChildren(...(make ? make() : []));
  view.replaceChildren(el("p", {}, "Loading…"));
  refresh();
}

window.addEventListener("hashchange", show);
show();
