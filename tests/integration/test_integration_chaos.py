"""The chaos tool itself, briefly: a checked workload on a 3-node cluster while workers, worker
nodes and the head are killed (the 10-minute run is `python tools/chaos.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]


def test_chaos_tool_reports_every_result_right(tmp_path: Path) -> None:
    report_path = tmp_path / "chaos.json"
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "chaos.py"), "--duration", "15", "--kill-every", "1.5",
         "--seed", "3", "--json", str(report_path)],
        capture_output=True, text=True, timeout=200,
    )
    report = json.loads(report_path.read_text())
    assert r.returncode == 0, f"{report}\n{r.stderr[-3000:]}"
    assert report["rounds"] > 0 and report["tasks"] > 0 and report["actor_calls"] > 0
    assert report["workers_killed"] + report["nodes_killed"] + report["head_restarts"] > 0
    assert report["wrong_results"] == [] and report["error"] is None
    assert report["leftover_processes"] == [] and report["leaked_shm"] == []
