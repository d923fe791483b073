import edgeray as ray
# ruff: noqa
# Seed 003, "Placement groups": the shell snippets `ray list placement-groups`
# (one CREATED group, then a second one PENDING) and `ray status`, run as
# `python -m edgeray list placement-groups` / `python -m edgeray status`
# against the node this driver started.
# Added preamble: ray.init(num_cpus=2, num_gpus=2), the {"CPU": 1, "GPU": 1}
# group and the pending [{"CPU": 1}, {"GPU": 2}] group from the document.
# The CLI output format is edgeray's own, so the script prints only counts:
# rows mentioning CREATED / PENDING, and whether `status` mentions CPU and GPU.
# `ray.shutdown()` at the end.
import subprocess
import sys

from edgeray.util.placement_group import placement_group


def cli(*args):
    out = subprocess.run(
        [sys.executable, "-m", "edgeray", *args],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, (args, out.returncode, out.stdout, out.stderr)
    return out.stdout


ray.init(num_cpus=2, num_gpus=2)
pg = placement_group([{"CPU": 1, "GPU": 1}])
ray.get(pg.ready(), timeout=10)

listing = cli("list", "placement-groups")
print("after pg:", sum("CREATED" in l for l in listing.splitlines()), "CREATED,",
      sum("PENDING" in l for l in listing.splitlines()), "PENDING")

pending_pg = placement_group([{"CPU": 1}, {"GPU": 2}])
listing = cli("list", "placement-groups")
print("after pending_pg:", sum("CREATED" in l for l in listing.splitlines()), "CREATED,",
      sum("PENDING" in l for l in listing.splitlines()), "PENDING")

status = cli("status")
print("status mentions CPU and GPU:", "CPU" in status and "GPU" in status)

ray.shutdown()
