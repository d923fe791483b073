"""``Submitter``: the one place that chooses the path of each task and actor call.

Paths: a worker the node lends this process (``TaskLeases``, plain tasks), the actor's worker
directly (``ActorLanes``, actor calls), or via the node (everything else). Rules:

* A task goes to a leased worker when leases are on, its shape allows one (``TaskLeases.shape``:
  no nested refs, no GPU, no strategy, no ``max_calls``) and every top-level ObjectRef argument
  is a small value this process has (sent along: Ray's caller-side resolution).
* An actor call goes to the actor's lane when lanes are on and the actor is not retried
  (``max_task_retries`` 0); there it goes directly when it has no nested refs and its arguments
  are all small values here, else via the node in the lane's order. Any other call goes via
  the node.
* A call in flight keeps its actor: the creation ref is held with a direct call, and pinned
  by the node (``nested``) with any.

The submitter owns no state of its own; it is given its collaborators when it is built.
"""

from __future__ import annotations

from typing import Any, Protocol

from ._host import SubmitHost


class Leases(Protocol):
    """``TaskLeases``, as the submitter uses it."""

    enabled: bool

    def shape(self, spec: dict[str, Any]) -> Any: ...

    def submit(self, spec: dict[str, Any], key: Any, args: list[Any]) -> None: ...


class Lanes(Protocol):
    """``ActorLanes``, as the submitter uses it."""

    enabled: bool

    def submit(self, actor_id: bytes, name: str, spec: dict[str, Any], direct: bool, keep: list[Any], *,
               unordered: bool = False) -> None: ...


class Submitter:
    def __init__(self, host: SubmitHost, leases: Leases, lanes: Lanes) -> None:
        self._host = host
        self._leases = leases
        self._lanes = lanes

    def task(self, spec: dict[str, Any], deps: list[bytes]) -> None:
        """Submit a plain task (its returns are counted here already)."""
        leases = self._leases
        key = leases.shape(spec) if leases.enabled else None
        if key is not None and deps:
            inline = self._host.inline_payloads(deps)
            if inline is None:
                key = None
            else:
                spec["_deps"] = inline  # (taken out before the spec is encoded)
        if key is None:
            self._host.submit(spec)
        else:  # to a worker the node lends this caller, when it lends one
            leases.submit(spec, key, self._host.hold(deps))

    def actor_call(
        self, actor_id: bytes, class_name: str, spec: dict[str, Any], deps: list[bytes], nested: list[bytes],
        keep: list[Any], *, creation: Any = None, retried: bool = False, unordered: bool = False,
    ) -> None:
        """Submit a call to an actor. ``keep``: refs to its arguments nested in values, held
        while it waits here; ``creation``: the ref to the actor's creation result, if known."""
        if not retried and self._lanes.enabled:
            inline = self._host.inline_payloads(deps) if deps and not nested else []
            direct = not nested and inline is not None
            if inline:
                spec["_deps"] = inline  # (taken out before the spec is encoded)
            held = keep + self._host.hold(deps + nested)
            if creation is not None:
                held.append(creation)
                spec["nested"] = [*spec["nested"], creation._id]  # (via the node: pinned there)
            self._lanes.submit(actor_id, class_name, spec, direct, held, unordered=unordered)
            return
        if creation is not None:  # pinned by the node while the call lives
            spec["nested"] = [*spec["nested"], creation._id]
        self._host.submit(spec)
