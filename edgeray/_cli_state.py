"""The state commands of the CLI, as Ray spells them: ``list KIND [--filter K=V] [--limit N]
[--detail] [--format default|json|yaml|table]``, ``summary tasks|actors|objects``, ``get KIND ID``
and ``timeline``. They read through ``edgeray.util.state`` (the rows, filters and errors of Ray's
state API) from the node of this ``EDGERAY_HOME``, or the one at ``--address``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

#: the CLI's kinds (Ray's spellings) -> the state API's resource names
KINDS = {
    "actors": "actors", "tasks": "tasks", "objects": "objects", "nodes": "nodes", "jobs": "jobs",
    "workers": "workers", "placement-groups": "placement_groups",
}
GET_KINDS = {"actors": "get_actor", "tasks": "get_task", "nodes": "get_node",
             "placement-groups": "get_placement_group", "workers": "get_worker", "objects": "get_objects"}
FORMATS = ("default", "json", "yaml", "table")
_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|=)\s*(.*?)\s*$")


def add_parsers(sub: Any) -> None:
    """The ``list``, ``summary``, ``get`` and ``timeline`` subcommands."""
    kinds = ", ".join(KINDS)
    ls = sub.add_parser("list", help="list " + kinds)
    ls.add_argument("kind", choices=list(KINDS), help="what to list: " + kinds)
    ls.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                    help='keep rows where KEY=VALUE (or KEY!=VALUE), e.g. --filter "state=ALIVE"; repeatable')
    ls.add_argument("--limit", type=int, default=100, help="print at most this many rows (default 100, as Ray)")
    ls.add_argument("--detail", action="store_true", help="every column, not only the main ones")
    ls.add_argument("--format", choices=FORMATS, default="default", help="default/table, json or yaml")
    ls.add_argument("--address", default=None, help="the node to ask (default: the one in this EDGERAY_HOME)")
    sm = sub.add_parser("summary", help="tasks, actors or objects summarized by name, class or call site")
    sm.add_argument("kind", choices=["tasks", "actors", "objects"])
    sm.add_argument("--format", choices=("default", "json", "yaml"), default="default")
    sm.add_argument("--address", default=None)
    gt = sub.add_parser("get", help="one actor, task, node, placement group, worker or object, every column")
    gt.add_argument("kind", choices=list(GET_KINDS))
    gt.add_argument("id", help="its id (hex)")
    gt.add_argument("--address", default=None)
    tl = sub.add_parser("timeline", help="the tasks that ran, as a Chrome trace (chrome://tracing, Perfetto)")
    tl.add_argument("--output", default=None, help="the file to write (default: edgeray-timeline-<time>.json)")
    tl.add_argument("--address", default=None)


def parse_filters(given: list[str]) -> list[tuple[str, str, str]]:
    """``--filter "state=ALIVE"`` strings as the state API's (key, predicate, value) triples."""
    out = []
    for text in given:
        m = _FILTER.match(text)
        if m is None:
            raise ValueError(f"--filter {text!r}: expected KEY=VALUE or KEY!=VALUE, e.g. --filter \"state=ALIVE\"")
        out.append((m.group(1), m.group(2), m.group(3).strip("'\"")))
    return out


def run(args: argparse.Namespace) -> int:
    from .util.state.exception import RayStateApiException

    try:
        if args.command == "list":
            return _list(args)
        if args.command == "summary":
            return _summary(args)
        if args.command == "get":
            return _get(args)
        return _timeline(args)
    except (RayStateApiException, ValueError) as e:
        print(f"edgeray {args.command}: {e}", file=sys.stderr)
        return 2


def _list(args: argparse.Namespace) -> int:
    from .util.state.api import RESOURCES, list_resource

    if args.limit < 0:
        raise ValueError(f"--limit must be >= 0, got {args.limit}")
    resource = KINDS[args.kind]
    cols = RESOURCES[resource][1].list_columns(detail=args.detail)  # (Ray's columns, in its order)
    rows = [{c: r[c] for c in cols}
            for r in list_resource(resource, args.address, parse_filters(args.filter), 1 << 62, detail=args.detail)]
    total = len(rows)
    shown = rows[-args.limit:] if args.limit else []
    if args.format == "json":
        print(json.dumps(shown, indent=2, default=str))
    elif args.format == "yaml":
        print(to_yaml(shown), end="")
    else:
        print(f"======== List: {time.strftime('%Y-%m-%d %H:%M:%S')} ========")
        more = f" (the last {args.limit} shown; --limit N for more)" if total > args.limit else ""
        print(f"Total: {total}{more}\n")
        print(table(shown), end="")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from .util.state import api

    summary = getattr(api, f"summarize_{args.kind}")(address=args.address)
    if args.format == "json":
        print(json.dumps(summary, indent=2, default=str))
        return 0
    if args.format == "yaml":
        print(to_yaml(summary), end="")
        return 0
    cluster = summary["cluster"]
    print(f"======== {args.kind.capitalize()} Summary: {time.strftime('%Y-%m-%d %H:%M:%S')} ========")
    print(f"Stats:\n{'-' * 30}\n" + "".join(f"{k}: {v}\n" for k, v in cluster.items() if k != "summary"))
    rows = []
    for key, entry in cluster["summary"].items():
        counts = entry.get("state_counts") or entry.get("task_state_counts") or {}
        rows.append({"key": key, **{k: v for k, v in entry.items() if not isinstance(v, dict)},
                     "state_counts": ", ".join(f"{s}: {n}" for s, n in sorted(counts.items(), key=lambda kv: str(kv[0])))})
    print(f"Table (group by {cluster.get('summary_by')}):\n{'-' * 30}")
    print(table(rows), end="")
    return 0


def _get(args: argparse.Namespace) -> int:
    from .util.state import api

    found = getattr(api, GET_KINDS[args.kind])(args.id, address=args.address)
    if not found:
        print(f"edgeray get: no {args.kind[:-1].replace('-', ' ')} with id {args.id}", file=sys.stderr)
        return 1
    rows = found if isinstance(found, list) else [found]
    print(to_yaml([r.asdict() for r in rows] if len(rows) > 1 else rows[0].asdict()), end="")
    return 0


def _timeline(args: argparse.Namespace) -> int:
    from .api._inspect import query_node
    from .api._timeline import trace_events

    path = args.output or f"edgeray-timeline-{time.strftime('%Y-%m-%d_%H-%M-%S')}.json"
    events = trace_events(query_node("list", {"kind": "tasks"}, args.address))
    with open(path, "w") as f:
        json.dump(events, f)
    print(f"Trace file written to {path} ({len(events)} events): open it in chrome://tracing or ui.perfetto.dev")
    return 0


# --------------------------------------------------------------------------- output


def table(rows: list[dict[str, Any]]) -> str:
    """Rows as aligned columns under upper-case headers (Ray's table format)."""
    if not rows:
        return ""
    cols = list(rows[0].keys())
    cells = [[c.upper() for c in cols]] + [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in cells)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"), default=str)
    return str(v)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Plain data (dicts, lists, scalars) as block-style YAML; strings quoted where YAML would
    read them as something else."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for k, v in value.items():
            key = _scalar(str(k))
            if isinstance(v, dict | list) and v:
                out.append(f"{pad}{key}:\n{to_yaml(v, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {_scalar(v)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for v in value:
            if isinstance(v, dict | list) and v:
                body = to_yaml(v, indent + 2)
                out.append(f"{pad}- {body[indent + 2:]}")
            else:
                out.append(f"{pad}- {_scalar(v)}\n")
        return "".join(out)
    return pad + _scalar(value) + "\n"


_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./ -]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "~", ""}


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict | list):
        return "{}" if isinstance(v, dict) else "[]"
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _RESERVED and not s.endswith(" "):
        return s
    return json.dumps(s)  # a JSON string is a YAML double-quoted scalar
