"""The reference state ``CoreClient`` shares with the parts mixed into it (``Values``,
``DirectResults``), declared once for the type checker; ``CoreClient.__init__`` creates it."""

from __future__ import annotations

import threading
from typing import Any

from ..protocol import Message


class ClientState:
    _lock: threading.RLock  # guards everything below
    _counts: dict[bytes, int]  # object -> ObjectRefs to it alive in this process
    _known: set[bytes]  # objects the node counts this process as holding
    _local: dict[bytes, bytes]  # small puts and direct results not yet published to the node
    _payloads: dict[bytes, dict[str, Any]]  # values this process has (inline) or knows where
    _waiters: dict[bytes, list[Any]]  # object -> who waits for its payload
    _subscribed: set[bytes]  # objects the node will push to this process when ready
    _pending_ref_ops: list[Message]  # reference operations queued, sent in order
    _direct_pending: set[bytes]  # results of direct calls not back yet
    _promised: set[bytes]  # ... of which the node was told to expect the value
