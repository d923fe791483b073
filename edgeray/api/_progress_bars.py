"""The driver's progress bars: the ``tqdm_ray`` bars of every worker, drawn as one set of lines.

A worker's ``edgeray.experimental.tqdm_ray.tqdm`` prints its state as a JSON line carrying Ray's
magic token (``__ray_tqdm_magic_token__``); the driver's log printer hands those lines here
instead of printing them (as Ray's ``_BarManager`` does). On a terminal the bars stay at the
bottom and are redrawn in place (worker output is printed above them: the bars are cleared,
the lines written, the bars drawn again); a bar that is closed goes away (Ray's
``leave=False``). When stdout is not a terminal each update is one plain line,
``(name pid=N) desc: x/total unit``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

__all__ = ["BarDisplay"]

#: the width of a bar's filled part on a terminal
WIDTH = 30


class BarDisplay:
    """The bars of all workers, keyed by ``(pid, uuid)``; the caller holds the printer's lock."""

    def __init__(self) -> None:
        self.bars: dict[tuple[int, str], dict[str, Any]] = {}
        self._drawn = 0  # bar lines on the terminal now, just above the cursor

    def update(self, name: str, line: str) -> None:
        """Apply one state line (from ``name``'s worker)."""
        start = line.find("{")
        try:
            state = json.loads(line[start:]) if start >= 0 else None
        except ValueError:
            state = None
        if not isinstance(state, dict):
            return
        state["name"] = name
        key = (int(state.get("pid") or 0), str(state.get("uuid") or ""))
        out = sys.stdout
        if not _isatty(out):
            _write(out, render(state, tty=False) + "\n")
            self.bars.pop(key, None)
            return
        self.hide()
        if state.get("closed"):
            self.bars.pop(key, None)
        else:
            self.bars[key] = state
        self.draw()

    def hide(self) -> None:
        """Clear the bars off the terminal (before other lines are written)."""
        if self._drawn:
            _write(sys.stdout, "\x1b[1A\x1b[2K" * self._drawn)
            self._drawn = 0

    def draw(self) -> None:
        """Draw the bars below what is printed (after other lines were written)."""
        if not self.bars or not _isatty(sys.stdout):
            return
        ordered = sorted(self.bars.items(), key=lambda kv: (kv[0][0], int(kv[1].get("pos") or 0)))
        _write(sys.stdout, "".join("\x1b[2K" + render(s, tty=True) + "\n" for _, s in ordered))
        self._drawn = len(ordered)

    def close(self) -> None:
        self.hide()
        self.bars.clear()


def render(state: dict[str, Any], tty: bool) -> str:
    """``(name pid=N) desc: x/total unit``; on a terminal with a bar and percentage too."""
    x, total = int(state.get("x") or 0), state.get("total")
    desc = str(state.get("desc") or "")
    unit = str(state.get("unit") or "it")
    prefix = f"({state.get('name')} pid={state.get('pid')}) "
    head = f"{prefix}{desc + ': ' if desc else ''}"
    if not isinstance(total, int) or total <= 0:
        return f"{head}{x} {unit}"
    if not tty:
        return f"{head}{x}/{total} {unit}"
    frac = min(max(x / total, 0.0), 1.0)
    filled = int(frac * WIDTH)
    return f"{head}{frac * 100:3.0f}%|{'█' * filled}{' ' * (WIDTH - filled)}| {x}/{total} {unit}"


def _write(out: TextIO, text: str) -> None:
    try:
        out.write(text)
        out.flush()
    except (ValueError, OSError):
        pass


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (ValueError, OSError, AttributeError):
        return False
