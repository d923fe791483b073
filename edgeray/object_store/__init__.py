"""The shared-memory object store: arena, allocator, serialization, node-side store.

Rule: this package imports only the standard library, cloudpickle, optionally posix_ipc,
and edgeray.exceptions; never trio (it is used from the node's Trio thread, from worker
threads and from drivers alike). tests/object_store/test_layer_rule.py enforces it.

- ``serialize``/``deserialize``: pickle protocol 5 (cloudpickle) with out-of-band buffers
  laid out 64-byte aligned after the pickle stream; zero-copy on the way back.
- ``Arena``: one shared-memory segment (posix_ipc, stdlib ``_posixshmem``, or a file when
  /dev/shm is too small or absent); ``cleanup_stale`` removes the segments of dead processes;
  ``reserve`` gives a range its storage before it is written (no SIGBUS on a full file system).
- ``Allocator``: best-fit offsets with coalescing, reusing already-touched memory first.
- ``ObjectStore``: create/seal/location/delete of objects in an arena (sync, one thread),
  spilling least recently used unpinned objects to a ``SpillDir`` when full; every block it
  hands out has its storage reserved (``ObjectStoreFullError`` when the file system is full).
"""

from ._allocator import Allocator
from ._arena import PAGE_SIZE, Arena, cleanup_stale
from ._serialization import BUFFER_ALIGNMENT, SerializedObject, deserialize, serialize
from ._spill import SpillDir, cleanup_stale_spill
from ._store import ObjectStore

__all__ = [
    "Allocator",
    "Arena",
    "BUFFER_ALIGNMENT",
    "ObjectStore",
    "PAGE_SIZE",
    "SerializedObject",
    "SpillDir",
    "cleanup_stale",
    "cleanup_stale_spill",
    "deserialize",
    "serialize",
]
