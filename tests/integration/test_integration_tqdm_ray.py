"""``edgeray.experimental.tqdm_ray.tqdm`` in workers, drawn by the driver as Ray's are: the
workers send JSON state lines, the driver's printer takes them (none reaches its stdout as is)
and draws one set of bars in place on a terminal, or plain lines when stdout is not one."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

PY = sys.executable

BARS = """
    import edgeray as ray
    from edgeray.experimental.tqdm_ray import tqdm

    ray.init(num_cpus=2)

    @ray.remote
    def work(name, n):
        bar = tqdm(desc=name, total=n, flush_interval_s=0)
        for _ in range(n):
            bar.update(1)
        print("between the bars")
        bar.close()
        return n

    assert ray.get([work.remote("alpha", 3), work.remote("beta", 4)]) == [3, 4]
    ray.shutdown()
    print("DONE")
"""


def test_bars_from_workers_are_plain_lines_when_stdout_is_not_a_terminal(tmp_path: Path, edgeray_home: str) -> None:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(BARS))
    r = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0 and "DONE" in r.stdout, f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert "__ray_tqdm_magic_token__" not in r.stdout, r.stdout
    assert re.search(r"^\(work pid=\d+\) alpha: 3/3 it$", r.stdout, re.M), r.stdout
    assert re.search(r"^\(work pid=\d+\) beta: 4/4 it$", r.stdout, re.M), r.stdout
    assert re.search(r"^\(work pid=\d+\) between the bars$", r.stdout, re.M), r.stdout
    assert "\x1b[" not in r.stdout


def test_bars_from_workers_update_in_place_on_a_terminal(tmp_path: Path, edgeray_home: str) -> None:
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(BARS))
    master, slave = pty.openpty()
    proc = subprocess.Popen([PY, str(script)], stdout=slave, stderr=subprocess.PIPE, env=dict(os.environ))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # (EIO: the driver exited and closed the terminal)
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(60) == 0, proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    out = b"".join(chunks).decode(errors="replace")
    assert "DONE" in out and "__ray_tqdm_magic_token__" not in out, out
    assert re.search(r"\(work pid=\d+\) alpha: 100%\|█+\| 3/3 it", out), out
    assert re.search(r"\(work pid=\d+\) beta:\s+\d+%\|", out), out
    assert "\x1b[1A\x1b[2K" in out  # (bars cleared and redrawn in place, not printed line after line)
    assert re.search(r"\(work pid=\d+\) between the bars", out)
