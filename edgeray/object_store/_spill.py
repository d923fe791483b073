"""Spilled objects: one file per object in a directory owned by one node session.

The directory is ``{root}/{prefix}_{pid}_{random hex}`` (mode 0700), so, like shared-memory
segments, ``cleanup_stale_spill`` can remove what a node killed with ``kill -9`` left behind.
Files are written straight from the arena's memory (no intermediate copy) and read straight
back into it; a spilled object that cannot be restored (the store is full of objects in use)
can still be read as bytes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil

from ._arena import _pid_alive, makedirs_private

__all__ = ["SpillDir", "cleanup_stale_spill"]

logger = logging.getLogger("edgeray.object_store")

_CHUNK = 64 << 20  # bytes per write/readinto call (bounds the GIL-free stretch)


class SpillDir:
    """The spill directory of one node session."""

    def __init__(self, root: str, prefix: str = "edgeray") -> None:
        makedirs_private(root)
        self.path = os.path.join(root, f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}")
        os.mkdir(self.path, 0o700)
        self.bytes_written = 0
        self.bytes_read = 0

    def _file(self, object_id: bytes) -> str:
        return os.path.join(self.path, object_id.hex())

    def write(self, object_id: bytes, data: memoryview) -> str:
        """Write ``data`` to the object's file; returns its path. On error nothing is left."""
        path = self._file(object_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = data.cast("B") if data.format != "B" else data
            done = 0
            while done < len(view):
                done += os.write(fd, view[done : done + _CHUNK])
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        os.close(fd)
        self.bytes_written += len(data)
        return path

    def read_into(self, path: str, target: memoryview) -> None:
        """Fill ``target`` from the file (which must be exactly that long)."""
        with open(path, "rb", buffering=0) as f:
            done = 0
            while done < len(target):
                n = f.readinto(target[done : done + _CHUNK])
                if not n:
                    raise OSError(f"spill file {path} is shorter than expected ({done} < {len(target)} bytes)")
                done += n
        self.bytes_read += len(target)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            data = f.read()
        self.bytes_read += len(data)
        return data

    @staticmethod
    def remove(path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def close(self) -> None:
        """Remove the directory and every file still in it."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<SpillDir {self.path}>"


def cleanup_stale_spill(root: str, prefix: str = "edgeray") -> list[str]:
    """Remove the spill directories under ``root`` whose creating process is dead."""
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)_[0-9a-f]+$")
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            removed.append(name)
    if removed:
        logger.info("removed %d spill directories left by dead nodes", len(removed))
    return removed
