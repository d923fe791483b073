"""The state ``CoreClient`` shares with the parts mixed into it (``Values``,
``DirectResults``), declared once for the type checker; ``CoreClient.__init__`` creates it.
What it knows of each object is ``Ownership``'s (a pure table); the rest is I/O."""

from __future__ import annotations

import threading
from typing import Any

from ..protocol import Message
from ._ownership import Ownership


class ClientState:
    _lock: threading.RLock  # guards everything below
    _own: Ownership  # refs counted, known to the node, local, subscribed, payloads (its rules)
    _waiters: dict[bytes, list[Any]]  # object -> who waits for its payload
    _pending_ref_ops: list[Message]  # reference operations queued, sent in order
