"""``@remote`` functions: arity checked at ``.remote()``, options, submission."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from ..client import CoreClient, ObjectRef
from ..client._args import Dep
from ..client._generators import generator_mode, wrap_generator_result
from ..dag import FunctionNode
from ..protocol import return_ids
from ._init import auto_client
from ._options import (
    check_fits_placement_group,
    deprecated_pg_strategy,
    resource_request,
    validate_options,
)


class _Code:
    """A function's or class's cloudpickled body, registered once per client."""

    __slots__ = ("obj", "blob", "fn_id", "pins", "_client")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.blob: bytes | None = None
        self.fn_id = b""
        self.pins: list[ObjectRef] = []
        self._client: CoreClient | None = None

    def ensure(self, client: CoreClient) -> bytes:
        if self._client is not client:
            if self.blob is None or self._client is not None:
                so, contained = client.serialize(self.obj)
                self.blob = so.to_bytes()
                self.fn_id = hashlib.blake2b(self.blob, digest_size=16).digest()
                self.pins = [ObjectRef(i, client) for i in contained]
            client.register_function(self.fn_id, self.blob, getattr(self.obj, "__qualname__", "fn"), self.pins)
            self._client = client
        return self.fn_id


_PLAIN = inspect.Parameter.POSITIONAL_OR_KEYWORD
#: id(signature) -> (the signature, its parameter count when all are plain and required, else -1)
_ARITY: dict[int, tuple[inspect.Signature, int]] = {}


def check_arity(sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    """``TypeError`` at ``.remote()`` when the call could not bind to ``sig`` (Ray's check).
    Positional calls of plain signatures skip ``Signature.bind`` (the slow part of a call)."""
    if sig is None:
        return
    known = _ARITY.get(id(sig))
    if known is None or known[0] is not sig:
        params = sig.parameters.values()
        n = len(params) if all(p.kind is _PLAIN and p.default is p.empty for p in params) else -1
        known = _ARITY[id(sig)] = (sig, n)
    if not kwargs and len(args) == known[1]:
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{what}: {e}") from None


def build_args(
    client: CoreClient, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[bytes, list[bytes], list[bytes], list[ObjectRef]]:
    """Pickle (args, kwargs) with top-level refs as placeholders; large values are put first.

    Returns the pickled args, the top-level dependency ids, the nested ids, and the refs of the
    values put here, which the caller keeps alive until the task is submitted (the node pins
    them from then on)."""
    if not args and not kwargs:
        return client.empty_args(), [], [], []
    deps: list[bytes] = []

    def sub(a: Any) -> Any:
        if type(a) is ObjectRef:
            deps.append(a._id)
            client.ensure_published(a._id)
            return Dep(len(deps) - 1)
        return a

    new_args = [sub(a) for a in args]
    new_kwargs = {k: sub(v) for k, v in kwargs.items()} if kwargs else {}
    keep: list[ObjectRef] = []
    so, nested = client.serialize((new_args, new_kwargs))
    if so.nbytes > client.inline_threshold:
        # Ray puts large by-value arguments in the object store and passes them by reference.

        def big(a: Any) -> Any:
            if type(a) is Dep:
                return a
            s, _ = client.serialize(a)
            if s.nbytes > client.inline_threshold // 4:
                ref = client.put(a)
                keep.append(ref)
                return sub(ref)
            return a

        new_args = [big(a) for a in new_args]
        new_kwargs = {k: big(v) for k, v in new_kwargs.items()}
        so, nested = client.serialize((new_args, new_kwargs))
    return so.to_bytes(), deps, nested, keep


def make_spec(
    client: CoreClient, kind: int, fn_id: bytes | None, name: str, args: bytes, deps: list[bytes], nested: list[bytes],
    rets: int, res: dict[str, float], opts: dict[str, Any], actor: bytes | None = None, method: str | None = None,
    seq: int = 0,
) -> dict[str, Any]:
    return {
        "tid": client.new_id(), "kind": kind, "fn": fn_id, "name": name, "args": args, "deps": deps, "nested": nested,
        "rets": rets, "res": res, "job": client.current_job(), "owner": client.worker_id, "opts": opts, "actor": actor,
        "method": method, "seq": seq,
    }


def return_refs(client: CoreClient, spec: dict[str, Any]) -> list[ObjectRef]:
    return client.returned_refs(return_ids(spec))


def wire_options(opts: dict[str, Any], client: CoreClient) -> dict[str, Any]:
    """The options the node and worker need, in CBOR-friendly form."""
    out: dict[str, Any] = {}
    for k in ("max_retries", "max_restarts", "max_task_retries", "max_concurrency", "concurrency_groups", "name",
              "namespace", "lifetime", "get_if_exists", "concurrency_group", "max_pending_calls", "max_calls"):
        v = opts.get(k)
        if v is not None:
            out[k] = v
    re_ = opts.get("retry_exceptions")
    if isinstance(re_, bool):
        out["retry_exceptions"] = re_
    elif re_ is not None:
        out["retry_exceptions"] = client.serialize(list(re_))[0].to_bytes()
    strategy = opts.get("scheduling_strategy")
    old_style = deprecated_pg_strategy(opts) if strategy is None else None
    if old_style is not None:
        out["strategy"] = old_style
    elif strategy is not None:
        if isinstance(strategy, str):
            if not strategy or not strategy.replace("_", "").isalnum():
                raise ValueError(f"Invalid scheduling_strategy {strategy!r}: use 'DEFAULT', 'SPREAD', the name of a "
                                 "strategy plugin, or a strategy object.")
            out["strategy"] = strategy  # a plugin's name is checked by the node, which loads plugins
        else:
            out["strategy"] = _strategy_dict(strategy)
    else:  # a parent running with placement_group_capture_child_tasks takes its children along
        parent = getattr(client.tls, "pg_current", None)
        if parent and parent.get("capture_child_tasks"):
            out["strategy"] = {**parent, "bundle_index": -1}
    env = (opts.get("runtime_env") or {}).get("env_vars")
    if env:
        out["env_vars"] = dict(env)
    return out


def with_inherited_env(wired: dict[str, Any], client: CoreClient) -> dict[str, Any]:
    """The wired options with the ``env_vars`` the submitter's own runtime env passes down
    (its job's, or the running task's or actor's), the task's own taking precedence: Ray's
    runtime_env inheritance, where ``env_vars`` merge."""
    inherited = client.inherited_env
    if not inherited:
        return wired
    return {**wired, "env_vars": {**inherited, **wired.get("env_vars", {})}}


def _strategy_dict(strategy: Any) -> dict[str, Any]:
    to_dict = getattr(strategy, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"Unsupported scheduling_strategy {strategy!r}")
    return to_dict()


class RemoteFunction:
    """What ``@edgeray.remote`` makes of a function: call ``.remote()`` to run it as a task."""

    def __init__(self, fn: Any, options: dict[str, Any]) -> None:
        if inspect.iscoroutinefunction(fn):
            raise ValueError(
                f"'async def' should not be used for remote tasks ({getattr(fn, '__name__', fn)}). "
                "Wrap it in a sync task instead: @edgeray.remote def wrapper(): asyncio.run(f()). "
                "(Async methods of actors are supported.)"
            )
        self._fn = fn
        self._is_generator = inspect.isgeneratorfunction(fn)
        self._options = validate_options(dict(options), kind="task")
        self._code = _Code(fn)
        try:
            self._sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._sig = None
        self._name = getattr(fn, "__name__", "task")
        self.__doc__ = fn.__doc__
        self.__name__ = self._name
        self.__qualname__ = getattr(fn, "__qualname__", self._name)
        self._wire_cache: tuple[CoreClient, dict[str, Any], dict[str, float]] | None = None
        self._decorator = getattr(fn, "__ray_invocation_decorator__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"Remote functions cannot be called directly. Instead of running '{self._name}()', "
            f"try '{self._name}.remote()'."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # captured by another task's closure: travel as code + options, never client state
        return (RemoteFunction, (self._fn, self._options))

    def options(self, **options: Any) -> RemoteFunction:
        merged = {**self._options, **validate_options(options, kind="task")}
        new = RemoteFunction.__new__(RemoteFunction)
        new.__dict__.update(self.__dict__)
        new._options = merged
        new._wire_cache = None
        return new

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        if self._decorator is not None:  # Ray's __ray_invocation_decorator__: it wraps the invocation
            return self._decorator(self._invoke)(args, kwargs)
        return self._invoke(args, kwargs)

    def _invoke(self, args: Any, kwargs: Any) -> Any:
        if type(args) is not tuple:  # (a decorator's list)
            args = tuple(args)
        check_arity(self._sig, args, kwargs, self._name)
        client = auto_client()
        fn_id = self._code.ensure(client)
        cache = self._wire_cache
        if cache is None or cache[0] is not client:
            opts = self._options
            wired = wire_options(opts, client)
            res = resource_request(opts, default_cpus=1.0)
            check_fits_placement_group(opts, res, res, self._name)
            cache = self._wire_cache = (client, wired, res)
        _, wired, res = cache
        wired = with_inherited_env(wired, client)
        argb, deps, nested, keep = build_args(client, args, kwargs)
        nr = self._options.get("num_returns")
        mode = generator_mode(nr, self._is_generator)
        if mode is not None:
            wired = {**wired, "generator": mode}
        nr = 1 if mode is not None or nr is None else nr
        spec = make_spec(client, 0, fn_id, self._name, argb, deps, nested, nr, res, wired)
        refs = return_refs(client, spec)
        client.note_child(spec)
        client.submitter.task(spec, deps)
        del keep
        if mode is not None:
            return wrap_generator_result(mode, refs[0])
        if nr == 1:
            return refs[0]
        if nr == 0:
            return None
        return refs

    def bind(self, *args: Any, **kwargs: Any) -> FunctionNode:
        """A node of a Ray DAG (``edgeray.dag``): this task with these arguments, run by
        ``node.execute()``; arguments may be other nodes, also nested in lists and dicts."""
        return FunctionNode(self, args, kwargs, dict(self._options))
