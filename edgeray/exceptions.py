"""Every exception edgeray raises, in one module (httpx's ``_exceptions.py`` style).

The names and the hierarchy are Ray's (``ray.exceptions``), so ``except ray.exceptions.X``
keeps working after ``import edgeray as ray``::

    RayError
    ├── RayTaskError                 a task or actor method raised; also an instance of the cause's type
    ├── RayActorError                the actor died or could not be created
    │   └── ActorDiedError
    ├── ActorUnavailableError        the actor is (temporarily) unreachable
    ├── GetTimeoutError              ``get(..., timeout=)`` ran out (also a ``TimeoutError``)
    ├── WorkerCrashedError           the worker running the task died
    ├── NodeDiedError                the node running the task died
    ├── TaskCancelledError           ``cancel()`` stopped the task
    ├── TaskUnschedulableError       no node can ever run the task under its strategy
    ├── ActorUnschedulableError      no node can ever host the actor under its strategy
    ├── TaskPlacementGroupRemoved    the task's placement group was removed
    ├── ActorPlacementGroupRemoved   (defined, as in Ray; the calls of an actor whose group was
    │                                removed raise ``ActorDiedError`` naming the group, as Ray's do)
    ├── ObjectLostError              the value of an object is gone
    │   ├── OwnerDiedError           ... because the process that owned it died
    │   ├── ObjectReconstructionFailedError
    │   └── ObjectFetchTimedOutError
    ├── ObjectStoreFullError         the shared-memory store cannot hold the value
    ├── OutOfMemoryError             the node ran out of memory running the task
    ├── PendingCallsLimitExceeded    ``max_pending_calls`` reached
    ├── RaySystemError               an internal failure (a bug, or a broken connection)
    ├── AuthenticationError          the cluster token was refused
    └── ProtocolError                a malformed or unexpected frame (closes that connection)

Ray also names failures edgeray never produces; they are defined (below the tree's classes,
each under the base Ray gives it) so that ``except ray.exceptions.X`` clauses naming them keep
working instead of failing with an ``AttributeError`` when something else is raised:
``LocalRayletDiedError``, ``OutOfDiskError``, ``ObjectFreedError``,
``ReferenceCountingAssertionError``, ``ObjectReconstructionFailedMaxAttemptsExceededError``,
``ObjectReconstructionFailedLineageEvictedError``, ``PlasmaObjectNotAvailable``,
``AsyncioActorExit``, ``RuntimeEnvSetupError``, ``ObjectRefStreamEndOfStreamError``.

This module imports nothing from edgeray, so every layer may use it.
"""

from __future__ import annotations

import traceback
from typing import Any

__all__ = [
    "RayError",
    "RayTaskError",
    "RayActorError",
    "ActorDiedError",
    "ActorUnavailableError",
    "GetTimeoutError",
    "WorkerCrashedError",
    "NodeDiedError",
    "TaskCancelledError",
    "TaskUnschedulableError",
    "ActorUnschedulableError",
    "TaskPlacementGroupRemoved",
    "ActorPlacementGroupRemoved",
    "ObjectLostError",
    "OwnerDiedError",
    "ObjectReconstructionFailedError",
    "ObjectFetchTimedOutError",
    "ObjectStoreFullError",
    "OutOfMemoryError",
    "PendingCallsLimitExceeded",
    "RaySystemError",
    "AuthenticationError",
    "ProtocolError",
    "VersionMismatchError",
    "CrossLanguageError",
    "LocalRayletDiedError",
    "OutOfDiskError",
    "ObjectFreedError",
    "ReferenceCountingAssertionError",
    "ObjectReconstructionFailedMaxAttemptsExceededError",
    "ObjectReconstructionFailedLineageEvictedError",
    "PlasmaObjectNotAvailable",
    "AsyncioActorExit",
    "RuntimeEnvSetupError",
    "ObjectRefStreamEndOfStreamError",
]


class RayError(Exception):
    """Base of every error edgeray raises for a remote failure."""


class RaySystemError(RayError):
    """An internal failure of edgeray itself (a lost connection, a bug)."""


class AuthenticationError(RaySystemError):
    """The peer did not prove it holds the cluster token."""


class ProtocolError(RaySystemError):
    """A frame was malformed, too large, or not valid at this point of the conversation."""


class VersionMismatchError(RaySystemError, RuntimeError):
    """A driver, node or CLI of another edgeray release connected to a node: refused at its hello
    (a ``RuntimeError``, as Ray raises its "Version mismatch" at connect)."""


class CrossLanguageError(RayError):
    """Kept for name compatibility with Ray; edgeray is Python only."""


class RayTaskError(RayError):
    """A task or actor method raised.

    ``get`` raises an instance of a class derived from both ``RayTaskError`` and the type of the
    user's exception (see :meth:`as_instanceof_cause`), so ``except ValueError`` catches a remote
    ``ValueError`` and ``except RayTaskError`` catches every remote failure.
    """

    def __init__(
        self,
        function_name: str,
        traceback_str: str,
        cause: BaseException | None,
        pid: int | None = None,
        ip: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.pid = pid
        self.ip = ip
        super().__init__(self._message())

    def _message(self) -> str:
        where = f" (pid={self.pid}, ip={self.ip})" if self.pid is not None else ""
        return f"{type(self.cause).__name__ if self.cause else 'Error'} in {self.function_name}(){where}\n{self.traceback_str}".rstrip()

    def __str__(self) -> str:
        return self._message()

    def __reduce__(self) -> tuple[Any, ...]:
        return (RayTaskError, (self.function_name, self.traceback_str, self.cause, self.pid, self.ip))

    @classmethod
    def from_exception(
        cls, exc: BaseException, function_name: str, pid: int | None = None, ip: str | None = None
    ) -> RayTaskError:
        """Wrap ``exc`` (being handled now) with its formatted remote traceback."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if isinstance(exc, RayTaskError):  # a dependency failed: keep the original cause
            return exc
        return cls(function_name, tb, exc, pid, ip)

    def as_instanceof_cause(self) -> RayTaskError:
        """An exception that is both a ``RayTaskError`` and an instance of the cause's type."""
        cause = self.cause
        if cause is None or isinstance(cause, RayTaskError):
            return self
        cause_cls = type(cause)
        if issubclass(RayTaskError, cause_cls):  # e.g. the cause is a plain Exception
            return self
        try:
            derived = _derived_class(cause_cls)
            err: Any = Exception.__new__(derived)
            # the user's __init__ is not run again (it may need arguments, or reset attributes):
            # copy the cause's state, then ours on top
            err.__dict__.update(getattr(cause, "__dict__", {}))
            err.function_name = self.function_name
            err.traceback_str = self.traceback_str
            err.cause = cause
            err.pid = self.pid
            err.ip = self.ip
            err.args = (self._message(),)
            return err
        except TypeError:  # the cause's type cannot be subclassed (final or C layout conflicts)
            return self


_DERIVED: dict[type, type] = {}


def _derived_class(cause_cls: type) -> type:
    derived = _DERIVED.get(cause_cls)
    if derived is None:

        def __reduce__(self: RayTaskError) -> tuple[Any, ...]:
            return (_rebuild_derived, (self.function_name, self.traceback_str, self.cause, self.pid, self.ip))

        def __str__(self: RayTaskError) -> str:
            return RayTaskError._message(self)

        derived = type(
            f"RayTaskError({cause_cls.__name__})",
            (RayTaskError, cause_cls),
            {"__reduce__": __reduce__, "__str__": __str__, "__module__": __name__},
        )
        _DERIVED[cause_cls] = derived
    return derived


def _rebuild_derived(function_name: str, tb: str, cause: BaseException | None, pid: Any, ip: Any) -> RayTaskError:
    return RayTaskError(function_name, tb, cause, pid, ip).as_instanceof_cause()


class RayActorError(RayError):
    """The actor died, was killed, or its constructor raised; calls on it fail with this."""

    def __init__(self, message: str = "The actor died unexpectedly.", actor_id: str | None = None) -> None:
        self.actor_id = actor_id
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.actor_id))


class ActorDiedError(RayActorError):
    """The actor is dead for good (killed, or its restart budget spent). ``for_actor`` words
    the message as Ray does: its base line, the actor's details, then why it died."""

    BASE_ERROR_MSG = "The actor died unexpectedly before finishing this task."
    #: Ray's causes, word for word (tests match them)
    KILLED = "The actor is dead because it was killed by `ray.kill`."
    EXITED = ("The actor is dead because its worker process has died. Worker exit type: INTENDED_USER_EXIT "
              "Worker exit detail: Worker exits by an user request. exit_actor() is called.")
    OUT_OF_SCOPE = "The actor is dead because all references to the actor were removed."

    @classmethod
    def for_actor(cls, class_name: str, actor_id: str, cause: str, name: str = "", namespace: str = "") -> ActorDiedError:
        lines = [cls.BASE_ERROR_MSG, f"\tclass_name: {class_name}", f"\tactor_id: {actor_id}"]
        if name:
            lines.append(f"\tname: {name}")
        if namespace:
            lines.append(f"\tnamespace: {namespace}")
        lines.append(cause)
        return cls("\n".join(lines), actor_id)


class ActorUnavailableError(RayError):
    """The actor cannot be reached right now (it may be restarting)."""


class GetTimeoutError(RayError, TimeoutError):
    """``get`` or ``wait`` ran past its ``timeout``."""


class WorkerCrashedError(RayError):
    """The worker process running the task died (and retries, if any, are spent)."""


class NodeDiedError(RayError):
    """The node running the task died (and retries, if any, are spent)."""


class TaskCancelledError(RayError):
    """The task was cancelled with ``cancel()`` before it produced its value."""


class TaskUnschedulableError(RayError):
    """No node can ever run the task under its scheduling strategy."""


class ActorUnschedulableError(RayError):
    """No node can ever host the actor under its scheduling strategy."""


class TaskPlacementGroupRemoved(RayError):
    """The placement group the task was to run in (or ran in) was removed."""


class ActorPlacementGroupRemoved(RayError):
    """The placement group the actor was to live in (or lived in) was removed. Kept for
    ``except`` clauses that name it; like Ray, edgeray raises ``ActorDiedError`` for the calls
    of such an actor (its message names the group)."""


class ObjectLostError(RayError):
    """The object's value is gone and cannot be recovered."""

    def __init__(self, object_ref_hex: str = "", reason: str = "") -> None:
        self.object_ref_hex = object_ref_hex
        self.reason = reason
        super().__init__(f"Object {object_ref_hex} is lost: {reason}" if reason else f"Object {object_ref_hex} is lost.")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.object_ref_hex, self.reason))


class OwnerDiedError(ObjectLostError):
    """The object is lost because the process that owned it died."""


class ObjectReconstructionFailedError(ObjectLostError):
    """The object was lost and re-running the task that made it is not possible."""


class ObjectFetchTimedOutError(ObjectLostError):
    """Fetching the object from another node timed out."""


class ObjectStoreFullError(RayError):
    """The node's shared-memory store cannot hold the object, even after spilling."""


class OutOfMemoryError(RayError):
    """The node ran out of memory while running the task."""


class PendingCallsLimitExceeded(RayError):
    """The actor handle has ``max_pending_calls`` calls in flight already."""


# -- Ray's names for failures edgeray never produces (for ``except`` clauses; see the top) -------


class LocalRayletDiedError(RayError):
    """Ray: the raylet of this node died (edgeray: the node's connection breaks, ``RaySystemError``)."""


class OutOfDiskError(RayError):
    """Ray: the local disk is full (edgeray reports a full store as ``ObjectStoreFullError``)."""


class ObjectFreedError(ObjectLostError):
    """Ray: the object was freed explicitly (edgeray has no explicit free)."""


class ReferenceCountingAssertionError(ObjectLostError, AssertionError):
    """Ray: a reference-counting bug lost the object."""


class ObjectReconstructionFailedMaxAttemptsExceededError(ObjectLostError):
    """Ray: the object's task was re-run ``max_retries`` times already."""


class ObjectReconstructionFailedLineageEvictedError(ObjectLostError):
    """Ray: the object's lineage was evicted (edgeray: ``ObjectReconstructionFailedError``)."""


class PlasmaObjectNotAvailable(RayError):
    """Ray: an internal plasma store miss."""


class AsyncioActorExit(RayError):
    """Ray: the exception ``exit_actor()`` raises inside an async actor."""


class RuntimeEnvSetupError(RayError):
    """Ray: setting up a runtime env failed (edgeray refuses what it cannot set up, with
    ``ValueError``, when the option is given)."""


class ObjectRefStreamEndOfStreamError(RayError):
    """Ray: a streaming generator has no more items (edgeray: ``StopIteration``)."""
