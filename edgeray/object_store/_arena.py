"""The shared memory behind a node's object store: one segment, mapped by every process.

A node creates one ``Arena`` (``Arena.create``); workers and drivers on the same machine
``Arena.attach(spec)`` to it. Backends, tried in order:

1. ``posix_ipc.SharedMemory`` (when importable), in /dev/shm;
2. the standard library's ``_posixshmem.shm_open`` (present on bare interpreters);
3. a plain file in ``fallback_dir`` -- when /dev/shm is absent or has less free space than
   the capacity, when both shared-memory backends fail, or with ``force_file=True``.

The segment is sized with ``ftruncate``: it is sparse and costs nothing until touched. A page
gets its storage when first written, so on a file system with less room than the capacity a
write through a mapping can fault with SIGBUS: ``reserve`` (``posix_fallocate``) gives a
range its storage before anyone writes there, or raises ``OSError(ENOSPC)``.
Segment names are ``{prefix}_{pid}_{random hex}``, so ``cleanup_stale`` can remove the
leftovers of processes that died without cleaning up (kill -9).

Views are slices of one long-lived mapping of the whole arena per process (mapping tens
of GB of address space costs nothing). ``read_view`` is read-only and can report, through
``on_release``, the moment the last Python object using that memory is collected.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import re
import secrets
import tempfile
import weakref
from collections.abc import Callable, Iterable
from typing import Any

try:  # optional native backend
    import posix_ipc
except ImportError:  # pragma: no cover - depends on the environment
    posix_ipc = None

try:  # the standard library's shm_open (not on every platform)
    import _posixshmem
except ImportError:  # pragma: no cover - depends on the platform
    _posixshmem = None

try:  # read views with a release callback use ctypes arrays as weak-referenceable exporters
    import ctypes as _ctypes
except ImportError:  # pragma: no cover - interpreters built without libffi
    _ctypes = None  # type: ignore[assignment]

__all__ = ["Arena", "cleanup_stale", "makedirs_private", "PAGE_SIZE"]

logger = logging.getLogger("edgeray.object_store")

PAGE_SIZE = mmap.PAGESIZE
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
_DEFAULT_SHM_DIR = "/dev/shm"
_fallocate = getattr(os, "posix_fallocate", None)  # not on macOS
#: errors saying a file system cannot reserve space at all (not that it is full)
_NO_FALLOCATE = frozenset({errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENODEV})


# --- read views with a release callback ---------------------------------------------------

_array_types: dict[int, Any] = {}  # window length -> ctypes.c_ubyte * length
# id(weakref) -> (weakref, on_release): keeps the weakrefs alive until they fire.
_release_callbacks: dict[int, tuple[weakref.ref[Any], Callable[[], None]]] = {}


def _fire_release(ref: weakref.ref[Any]) -> None:
    entry = _release_callbacks.pop(id(ref), None)
    if entry is not None:
        entry[1]()


def _window(size: int) -> int:
    """Smallest of the sizes 2**k * (1, 1.25, 1.5, 1.75), at least a page, that holds ``size``.

    Read views are windows of these lengths, so only a few ctypes array types ever exist.
    """
    if size <= PAGE_SIZE:
        return PAGE_SIZE
    quarter = 1 << (size.bit_length() - 3)
    return -(-size // quarter) * quarter


def _shm_room(shm_dir: str) -> int | None:
    """Free bytes in ``shm_dir``, or None when it is not usable."""
    try:
        st = os.statvfs(shm_dir)
    except OSError:
        return None
    if not os.path.isdir(shm_dir):
        return None
    return st.f_bavail * st.f_frsize


def _shm_create(name: str, capacity: int) -> tuple[int, str]:
    """Create /dev/shm/<name> sized ``capacity``; returns (fd, backend). Raises OSError."""
    errors: list[str] = []
    if posix_ipc is not None:
        try:
            shm = posix_ipc.SharedMemory("/" + name, posix_ipc.O_CREX, mode=0o600, size=capacity)
        except Exception as e:  # posix_ipc.Error and friends
            errors.append(f"posix_ipc: {e}")
        else:
            try:
                fd = os.dup(shm.fd)
            finally:
                shm.close_fd()
            return fd, "posix_ipc"
    if _posixshmem is not None:
        fd = -1
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            os.ftruncate(fd, capacity)
        except OSError as e:
            if fd >= 0:
                os.close(fd)
                with contextlib.suppress(OSError):
                    _posixshmem.shm_unlink("/" + name)
            errors.append(f"_posixshmem: {e}")
        else:
            return fd, "_posixshmem"
    else:
        errors.append("_posixshmem: not available")
    raise OSError(errno.ENOSYS, "no shared-memory backend worked: " + "; ".join(errors))


def _shm_open(name: str) -> int:
    if posix_ipc is not None:
        try:
            shm = posix_ipc.SharedMemory("/" + name)
        except posix_ipc.ExistentialError as e:
            raise FileNotFoundError(errno.ENOENT, f"no shared-memory segment {name!r}") from e
        try:
            return os.dup(shm.fd)
        finally:
            shm.close_fd()
    if _posixshmem is not None:
        return _posixshmem.shm_open("/" + name, os.O_RDWR, 0)
    raise OSError(errno.ENOSYS, "no shared-memory backend available")  # pragma: no cover


def _shm_unlink(name: str) -> None:
    """Remove the segment; a segment already gone is not an error."""
    if _posixshmem is not None:
        with contextlib.suppress(FileNotFoundError):
            _posixshmem.shm_unlink("/" + name)
        return
    if posix_ipc is not None:  # pragma: no cover - only without _posixshmem
        with contextlib.suppress(posix_ipc.ExistentialError):
            posix_ipc.unlink_shared_memory("/" + name)


class Arena:
    """A mapped shared-memory segment (or file) of ``capacity`` bytes.

    Build one with ``Arena.create`` (the owner: unlinks on ``__exit__``) or
    ``Arena.attach(spec)`` (another process on the same machine).
    """

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        path: str,
        capacity: int,
        fd: int,
        owner: bool,
        backend: str,
    ) -> None:
        self.kind = kind
        self.name = name
        self.path = path
        self.capacity = capacity
        self.owner = owner
        self.backend = backend
        self._fd = fd
        self._mm: mmap.mmap | None = mmap.mmap(
            fd, capacity, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE
        )
        self._wmv: memoryview | None = memoryview(self._mm)
        self._unlinked = False
        self._can_reserve = _fallocate is not None

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        prefix: str,
        capacity: int,
        *,
        shm_dir: str = _DEFAULT_SHM_DIR,
        fallback_dir: str | None = None,
        force_file: bool = False,
    ) -> Arena:
        """Create a new segment named ``{prefix}_{pid}_{random hex}`` of ``capacity`` bytes.

        ``fallback_dir`` (default: the temporary directory) holds the file when shared memory
        cannot be used; a warning is logged when that happens.
        """
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, not {capacity}")
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(8)}"
        reason = "force_file=True"
        if not force_file:
            room = _shm_room(shm_dir)
            if room is None:
                reason = f"{shm_dir} is not available"
            elif room < capacity:
                reason = f"{shm_dir} has {room} bytes free, less than the {capacity} asked for"
            else:
                try:
                    fd, backend = _shm_create(name, capacity)
                except OSError as e:
                    reason = str(e)
                else:
                    try:
                        return cls(
                            kind="shm",
                            name=name,
                            path=os.path.join(shm_dir, name),
                            capacity=capacity,
                            fd=fd,
                            owner=True,
                            backend=backend,
                        )
                    except BaseException:
                        os.close(fd)
                        _shm_unlink(name)
                        raise
        directory = fallback_dir if fallback_dir is not None else tempfile.gettempdir()
        makedirs_private(directory)
        path = os.path.join(directory, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            os.ftruncate(fd, capacity)
            arena = cls(
                kind="file",
                name=name,
                path=path,
                capacity=capacity,
                fd=fd,
                owner=True,
                backend="file",
            )
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        room = _shm_room(directory)
        if room is not None and room < capacity:
            logger.warning(
                "object store file %s has a capacity of %d bytes but its file system has only %d "
                "free: objects that do not fit there will be refused (ObjectStoreFullError)",
                path,
                capacity,
                room,
            )
        if force_file:
            logger.warning("object store uses the file %s (force_file=True)", path)
        else:
            logger.warning(
                "object store falls back to the file %s instead of shared memory: %s",
                path,
                reason,
            )
        return arena

    @property
    def spec(self) -> dict[str, Any]:
        """What another process needs to ``attach`` (plain str/int values: CBOR-able)."""
        return {"kind": self.kind, "name": self.name, "path": self.path, "capacity": self.capacity}

    @classmethod
    def attach(cls, spec: dict[str, Any]) -> Arena:
        """Map an arena created by another process on this machine (not the owner)."""
        kind, name, path, capacity = spec["kind"], spec["name"], spec["path"], spec["capacity"]
        if kind == "shm":
            fd = _shm_open(name)
            backend = "posix_ipc" if posix_ipc is not None else "_posixshmem"
        elif kind == "file":
            fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            backend = "file"
        else:
            raise ValueError(f"unknown arena kind {kind!r}")
        try:
            size = os.fstat(fd).st_size
            if size < capacity:
                raise ValueError(f"arena {name!r} holds {size} bytes, the spec says {capacity}")
            return cls(
                kind=kind,
                name=name,
                path=path,
                capacity=capacity,
                fd=fd,
                owner=False,
                backend=backend,
            )
        except BaseException:
            os.close(fd)
            raise

    # --- views -----------------------------------------------------------------------------

    def _check(self, offset: int, size: int) -> None:
        if self._fd < 0:
            raise ValueError("arena is closed")
        if offset < 0 or size < 0 or offset + size > self.capacity:
            raise ValueError(
                f"range [{offset}, {offset + size}) is outside the arena of {self.capacity} bytes"
            )

    def write_view(self, offset: int, size: int) -> memoryview:
        """A writable view of ``[offset, offset + size)`` (a slice of one long-lived mapping)."""
        self._check(offset, size)
        assert self._wmv is not None
        return self._wmv[offset : offset + size]

    def read_view(
        self,
        offset: int,
        size: int,
        on_release: Callable[[], None] | None = None,
        *,
        populate: bool = False,
    ) -> memoryview:
        """A read-only view of ``[offset, offset + size)``.

        ``on_release()`` is called exactly once, when the last object keeping that memory
        alive (the view, its slices, any numpy array built over it) is collected -- in the
        thread that drops it, so it must be quick, thread-safe and not raise. It is not
        called at interpreter exit for views still alive then. Views stay valid after
        ``close()`` and ``unlink()``.

        How: the view's exporter is a small object that supports weak references -- a
        ``ctypes`` array over a window of the arena's long-lived mapping (no system call;
        windows come in a bounded set of sizes so ctypes' type cache stays small), or,
        without ctypes or with ``populate=True``, a read-only ``mmap`` of the object's own
        pages (``MAP_POPULATE`` pre-faults them; measured here, faulting on access is
        faster, hence off by default).
        """
        self._check(offset, size)
        if populate or _ctypes is None:
            return self._mapped_view(offset, size, on_release, populate)
        if on_release is None:
            assert self._wmv is not None
            return self._wmv[offset : offset + size].toreadonly()
        capacity = self.capacity
        length = _window(size)
        if length > capacity:
            length = capacity
        start = offset if offset + length <= capacity else capacity - length
        ctype = _array_types.get(length)
        if ctype is None:
            ctype = _array_types.setdefault(length, _ctypes.c_ubyte * length)
        exporter = ctype.from_buffer(self._mm, start)
        ref = weakref.ref(exporter, _fire_release)
        _release_callbacks[id(ref)] = (ref, on_release)
        delta = offset - start
        with memoryview(exporter) as whole:
            return whole[delta : delta + size].toreadonly()

    def _mapped_view(
        self, offset: int, size: int, on_release: Callable[[], None] | None, populate: bool
    ) -> memoryview:
        delta = offset % PAGE_SIZE
        start = offset - delta
        length = max(delta + size, 1)
        flags = mmap.MAP_SHARED | (_MAP_POPULATE if populate else 0)
        mm = mmap.mmap(self._fd, length, flags=flags, prot=mmap.PROT_READ, offset=start)
        if on_release is not None:
            weakref.finalize(mm, on_release).atexit = False
        with memoryview(mm) as whole:
            return whole[delta : delta + size].toreadonly()

    # --- storage -------------------------------------------------------------------------

    def reserve(self, offset: int, size: int) -> None:
        """Give ``[offset, offset + size)`` its storage now, so that writing there through any
        process's mapping can never fault for lack of space (SIGBUS).

        ``posix_fallocate`` on the segment: on tmpfs it allocates the pages (the writer's
        page faults then find them), on a disk file system it allocates blocks. Raises
        ``OSError`` (ENOSPC, ENOMEM, EDQUOT, EFBIG) when the file system cannot; nothing is
        kept of a failed reservation on tmpfs. Where the file system cannot reserve space at
        all (EOPNOTSUPP) this logs one warning and does nothing from then on.
        """
        self._check(offset, size)
        if size == 0 or not self._can_reserve:
            return
        assert _fallocate is not None
        try:
            _fallocate(self._fd, offset, size)
        except OSError as e:
            if e.errno not in _NO_FALLOCATE:
                raise
            self._can_reserve = False
            logger.warning(
                "the file system holding the object store (%s) cannot reserve space (%s): "
                "when it fills, processes writing objects there may be killed by SIGBUS",
                os.path.dirname(self.path),
                e,
            )

    def free_space(self) -> int | None:
        """Bytes free on the file system holding the segment (None if it cannot be told)."""
        if self._fd < 0:
            return None
        try:
            st = os.fstatvfs(self._fd)
        except OSError:
            return None
        return st.f_bavail * st.f_frsize

    # --- lifetime --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        """Unmap the write mapping and close the descriptor (idempotent).

        Read views stay valid (they have mappings of their own). If write views are still
        alive, the write mapping is left for the garbage collector to unmap.
        """
        if self._fd < 0:
            return
        wmv, mm = self._wmv, self._mm
        self._wmv = self._mm = None
        if wmv is not None:
            try:
                wmv.release()
            except BufferError:
                pass
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                logger.debug("arena %s closed while write views are alive", self.name)
        fd, self._fd = self._fd, -1
        os.close(fd)

    def unlink(self) -> None:
        """Remove the segment (or file); mappings stay valid until closed. Idempotent."""
        if self._unlinked:
            return
        self._unlinked = True
        if self.kind == "shm":
            _shm_unlink(self.name)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def __enter__(self) -> Arena:
        return self

    def __exit__(self, *exc: object) -> None:
        """Close; the owner (the creator) also unlinks."""
        try:
            self.close()
        finally:
            if self.owner:
                self.unlink()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else "open"
        return f"<Arena {self.kind} {self.name} capacity={self.capacity} {state}>"


# --- directories -------------------------------------------------------------------------


def makedirs_private(path: str) -> None:
    """Create ``path`` and its missing parents 0700 (the user's only; ``os.makedirs`` gives the
    parents the default mode). An existing directory is left as it is."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(os.path.abspath(path))
    if parent != path:
        makedirs_private(parent)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)


# --- crash leftovers -------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return True
    # A killed process its parent has not reaped yet is a zombie: dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"
    except OSError:
        return True


def cleanup_stale(
    prefix: str = "edgeray",
    shm_dir: str = _DEFAULT_SHM_DIR,
    fallback_dirs: Iterable[str] = (),
) -> list[str]:
    """Remove segments and files named ``{prefix}_{pid}_{hex}`` whose process is dead.

    Looks in ``shm_dir`` and each of ``fallback_dirs``; returns the names removed.
    A segment of a live process (or of another user's process) is left alone.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)_[0-9a-f]+$")
    removed: list[str] = []
    alive: dict[int, bool] = {}
    for directory in (shm_dir, *fallback_dirs):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            m = pattern.match(name)
            if m is None:
                continue
            pid = int(m.group(1))
            if pid not in alive:
                alive[pid] = _pid_alive(pid)
            if alive[pid]:
                continue
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                continue
            except OSError as e:
                logger.warning("could not remove stale object store segment %s: %s", name, e)
                continue
            logger.info("removed stale object store segment %s (pid %d is gone)", name, pid)
            removed.append(name)
    return removed
