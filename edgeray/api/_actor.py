"""Actors: ``@remote`` classes, their handles and methods, ``method()`` and ``exit_actor()``."""

from __future__ import annotations

import functools
import inspect
import os
import threading
from typing import Any, Generic, TypeVar

from .. import exceptions as exc
from ..client import CoreClient, ObjectRef, try_current_client
from ..client._generators import generator_mode, wrap_generator_result
from ..dag import (
    BIND_INDEX_KEY,
    PARENT_CLASS_NODE_KEY,
    PREV_CLASS_METHOD_CALL_KEY,
    ClassMethodNode,
    ClassNode,
)
from ._init import auto_client
from ._options import check_fits_placement_group, resource_request, validate_options
from ._remote import (
    _Code,
    build_args,
    check_arity,
    make_spec,
    return_refs,
    wire_options,
    with_inherited_env,
)


def method(*args: Any, **options: Any) -> Any:
    """``@edgeray.method(num_returns=..., concurrency_group=...)`` on an actor method."""
    if args and callable(args[0]) and len(args) == 1 and not options:
        return args[0]
    validate_options(options, kind="method")

    def deco(fn: Any) -> Any:
        fn.__edgeray_method_options__ = options
        if "concurrency_group" in options:
            fn.__edgeray_concurrency_group__ = options["concurrency_group"]
        return fn

    return deco


def exit_actor() -> None:
    """Leave the current actor (Ray's ``ray.actor.exit_actor``): the calling method ends with
    an exception (``SystemExit``; ``AsyncioActorExit`` in an async actor), its caller gets
    ``ActorDiedError``, queued calls fail, and the atexit handlers run. Catching the exception
    does not stop the exit."""
    client = try_current_client()
    request = client.on_exit_actor if client is not None and client.actor_id is not None else None
    if request is None:
        raise TypeError(
            "exit_actor API is called on a non-actor worker. Call this API inside an actor method "
            "if you'd like to exit the actor gracefully."
        )
    from ..worker import ActorExit

    if request():
        raise exc.AsyncioActorExit()
    raise ActorExit()


def _method_meta(cls: type) -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for name, fn in inspect.getmembers(cls, lambda m: inspect.isfunction(m) or inspect.ismethod(m)):
        if name.startswith("__") and name not in ("__call__",):
            continue
        opts = dict(getattr(fn, "__edgeray_method_options__", {}))
        mode = generator_mode(opts.get("num_returns"), inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn))
        entry: dict[str, Any] = {"num_returns": 1 if mode else opts.get("num_returns", 1)}
        if mode:
            entry["generator"] = mode
        if "concurrency_group" in opts:
            entry["concurrency_group"] = opts["concurrency_group"]
        try:
            sig = inspect.signature(fn)
            params = list(sig.parameters.values())
            if params and params[0].name in ("self", "cls") and not isinstance(inspect.getattr_static(cls, name), staticmethod):
                params = params[1:]
            entry["sig"] = sig.replace(parameters=params)
        except (TypeError, ValueError):
            entry["sig"] = None
        decorator = getattr(fn, "__ray_invocation_decorator__", None)
        if decorator is not None:  # (kept in this process, as "sig" is: see ActorClass.remote)
            entry["decorator"] = decorator
        methods[name] = entry
    return methods


#: what a method's entry holds for this process only (never sent to the node)
LOCAL_META = ("sig", "decorator")


class ActorClass:
    """What ``@edgeray.remote`` makes of a class: ``.remote(...)`` creates an actor. The class's
    own attributes (constants, static and class methods) are reachable through it, as in Ray."""

    def __new__(cls, *args: Any, **kwargs: Any) -> ActorClass:
        if len(args) == 3 and isinstance(args[1], tuple) and isinstance(args[2], dict):
            # ``class B(SomeActor)``: Python asks the base's type to make the class
            base = next((b for b in args[1] if isinstance(b, ActorClass)), None)
            raise TypeError(
                f"Attempted to define subclass '{args[0]}' of actor class "
                f"'{getattr(base, '__name__', '?')}'. Inheriting from actor classes is not currently "
                "supported. You can instead inherit from a non-actor base class and make the derived "
                "class an actor class (with @edgeray.remote)."
            )
        return super().__new__(cls)

    def __getattr__(self, name: str) -> Any:
        # only for names not found on the ActorClass itself
        user_cls = self.__dict__.get("_cls")
        if user_cls is None or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        try:
            raw = inspect.getattr_static(user_cls, name)
        except AttributeError:
            raise AttributeError(f"The actor class '{user_cls.__name__}' has no attribute '{name}'") from None
        if inspect.isfunction(raw):  # a method: it runs in the actor
            raise AttributeError(
                f"'{name}' is a method of the actor class '{user_cls.__name__}': call it on an actor, "
                f"'{user_cls.__name__}.remote().{name}.remote()'."
            )
        if isinstance(raw, staticmethod):
            # not the function itself: cloudpickle would then find the class's own functions at
            # ``module.Class.name`` and pickle them by reference, which workers cannot import
            return functools.partial(raw.__func__)
        return getattr(user_cls, name)

    def __init__(self, cls: type, options: dict[str, Any]) -> None:
        self._cls = cls
        self._options = validate_options(dict(options), kind="actor")
        self._code = _Code(cls)
        self._methods = _method_meta(cls)
        self._is_async = any(
            inspect.iscoroutinefunction(m) or inspect.isasyncgenfunction(m) for m in (getattr(cls, n, None) for n in self._methods)
        )
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__doc__ = cls.__doc__
        try:
            init_sig = inspect.signature(cls.__init__)  # type: ignore[misc]
            self._init_sig: inspect.Signature | None = init_sig.replace(parameters=list(init_sig.parameters.values())[1:])
        except (TypeError, ValueError):
            self._init_sig = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"Actors cannot be instantiated directly. Instead of '{self.__name__}()', use '{self.__name__}.remote()'."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (ActorClass, (self._cls, self._options))

    def options(self, **options: Any) -> ActorClass:
        new = ActorClass.__new__(ActorClass)
        new.__dict__.update(self.__dict__)
        new._options = {**self._options, **validate_options(options, kind="actor")}
        return new

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle:
        check_arity(self._init_sig, args, kwargs, f"{self.__name__}.__init__")
        client = auto_client()
        opts = self._options
        fn_id = self._code.ensure(client)
        explicit_cpu = opts.get("num_cpus") is not None
        res = resource_request(opts, default_cpus=0.0)
        wired = with_inherited_env(wire_options(opts, client), client)
        placement = res if explicit_cpu else {**res, "CPU": 1.0}
        check_fits_placement_group(opts, res, placement, f"actor {self.__name__}")
        if not explicit_cpu:
            wired["placement_cpu"] = 1  # Ray: 1 CPU to schedule an actor, 0 while it runs
        if opts.get("max_concurrency") is None and not self._is_async:
            wired.pop("max_concurrency", None)
        argb, deps, nested, keep = build_args(client, args, kwargs)
        actor_id = client.new_id()
        spec = make_spec(client, 1, fn_id, self.__name__, argb, deps, nested, 1, res, wired, actor=actor_id)
        # calls run concurrently, in no promised order (Ray: async and threaded actors)
        unordered = self._is_async or int(opts.get("max_concurrency") or 1) > 1 or bool(opts.get("concurrency_groups"))
        meta = {
            "class_name": self.__name__,
            "unordered": unordered,
            "methods": {n: {k: v for k, v in m.items() if k not in LOCAL_META} for n, m in self._methods.items()},
            "max_task_retries": int(opts.get("max_task_retries") or 0),
            "max_pending_calls": int(opts.get("max_pending_calls") or -1),
        }
        creation = return_refs(client, spec)[0]
        result = client.call("create_actor", {"spec": spec, "meta": meta})
        del keep
        if result.get("existing"):
            return ActorHandle(result["actor_id"], result["meta"], None, client)
        handle: ActorHandle[Any] = ActorHandle(actor_id, meta, self._methods, client)
        handle._creation = creation
        return handle

    def bind(self, *args: Any, **kwargs: Any) -> ClassNode:
        """A node of a Ray DAG (``edgeray.dag``): this actor's creation, run by
        ``node.execute()`` (which returns its handle); ``node.method.bind(...)`` binds calls."""
        return ClassNode(self, args, kwargs, dict(self._options), user_class=self._cls)


#: what every actor answers, as in Ray: ``__ray_ready__`` (True once it is constructed) and
#: ``__ray_terminate__`` (exit once the calls before it are done, like ``exit_actor()``)
BUILTIN_METHODS = ("__ray_ready__", "__ray_terminate__")


class ActorMethod:
    def __init__(self, handle: ActorHandle, name: str, meta: dict[str, Any], sig: Any, options: dict[str, Any] | None = None) -> None:
        self._handle = handle
        self._name = name
        self._meta = meta
        self._sig = sig
        self._opts = options or {}

    def options(self, **options: Any) -> ActorMethod:
        validate_options(options, kind="method")
        return ActorMethod(self._handle, self._name, self._meta, self._sig, {**self._opts, **options})

    def bind(self, *args: Any, **kwargs: Any) -> ClassMethodNode:
        """A node of a Ray DAG (``edgeray.dag``): this call on this actor, run (each time) by
        ``node.execute()``."""
        other = {PARENT_CLASS_NODE_KEY: self._handle, PREV_CLASS_METHOD_CALL_KEY: None, BIND_INDEX_KEY: None}
        return ClassMethodNode(self._name, args, kwargs, dict(self._opts), other)

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        decorator = self._handle._decorators.get(self._name)
        if decorator is not None:  # Ray's __ray_invocation_decorator__: it wraps the invocation
            return decorator(self._invoke)(args, kwargs)
        return self._handle._call(self._name, self._meta, self._sig, self._opts, args, kwargs)

    def _invoke(self, args: Any, kwargs: Any) -> Any:
        return self._handle._call(self._name, self._meta, self._sig, self._opts, tuple(args), kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"Actor methods cannot be called directly. Use '{self._name}.remote()'.")


T = TypeVar("T")


class ActorHandle(Generic[T]):
    """A reference to an actor (``ActorHandle[MyClass]`` in annotations, as in Ray); pickles
    into tasks and other actors and works there too."""

    def __init__(self, actor_id: bytes, meta: dict[str, Any], sigs: dict[str, Any] | None, client: CoreClient | None) -> None:
        self._actor_id = actor_id
        self._meta = meta
        self._sigs = {n: m.get("sig") for n, m in (sigs or {}).items()}
        self._decorators = {n: m["decorator"] for n, m in (sigs or {}).items() if m.get("decorator") is not None}
        self._client = client
        self._seq = 0
        self._lock = threading.Lock()
        self._caller = os.urandom(8)
        #: a ref to the actor's creation result, which keeps a non-detached actor alive (None in
        #: a handle from ``get_actor``, which does not, as in Ray)
        self._creation: ObjectRef | None = None
        self._pending = 0  # calls through this handle not finished yet (for max_pending_calls)

    def _call_finished(self) -> None:
        with self._lock:
            self._pending -= 1

    def __getattr__(self, name: str) -> ActorMethod:
        if name in BUILTIN_METHODS:
            return ActorMethod(self, name, {"num_returns": 1}, None)
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        methods = self.__dict__.get("_meta", {}).get("methods", {})
        if name not in methods:
            raise AttributeError(f"'{self._meta.get('class_name', 'Actor')}' actor has no method '{name}'")
        return ActorMethod(self, name, methods[name], self._sigs.get(name))

    def _call(self, name: str, meta: dict[str, Any], sig: Any, opts: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        check_arity(sig, args, kwargs, f"{self._meta.get('class_name')}.{name}")
        client = auto_client()
        argb, deps, nested, keep = build_args(client, args, kwargs)
        mode = generator_mode(opts["num_returns"], False) if "num_returns" in opts else meta.get("generator")
        nr = 1 if mode else opts.get("num_returns", meta.get("num_returns", 1))
        wired: dict[str, Any] = {"generator": mode} if mode else {}
        if opts.get("name"):  # the call's task name (get_runtime_context().get_task_name())
            wired["name"] = opts["name"]
        group = opts.get("concurrency_group") or meta.get("concurrency_group")
        if group:
            wired["concurrency_group"] = group
        limit = int(self._meta.get("max_pending_calls", -1))
        with self._lock:
            if limit > 0 and nr > 0:
                if self._pending >= limit:
                    raise exc.PendingCallsLimitExceeded(
                        f"The actor {self._meta.get('class_name')} ({self._actor_id.hex()}) has {self._pending} calls "
                        f"from this handle not finished yet, its max_pending_calls={limit}; wait for some first."
                    )
                self._pending += 1
            self._seq += 1
            seq = self._seq
        spec = make_spec(client, 2, None, f"{self._meta.get('class_name')}.{name}", argb, deps, nested, nr, {}, wired,
                         actor=self._actor_id, method=name, seq=seq)
        refs = return_refs(client, spec)
        client.submitter.actor_call(
            self._actor_id, str(self._meta.get("class_name")), spec, deps, nested, keep, creation=self._creation,
            retried=self._meta.get("max_task_retries", 0) != 0, unordered=bool(self._meta.get("unordered")),
        )
        if limit > 0 and nr > 0:
            client.on_ready(refs[0]._id, self._call_finished)
        del keep
        if mode:
            return wrap_generator_result(mode, refs[0])
        if nr == 1:
            return refs[0]
        if nr == 0:
            return None
        return refs

    def __reduce__(self) -> tuple[Any, ...]:
        # the ref to the actor's creation result travels with the handle (counted as any ref
        # nested in a value or an argument): the actor lives while one exists anywhere; its
        # invocation decorators travel with it too, as in Ray
        return (_rebuild_handle, (self._actor_id, self._meta, self._creation, self._decorators or None))

    def __repr__(self) -> str:
        return f"Actor({self._meta.get('class_name')}, {self._actor_id.hex()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __hash__(self) -> int:
        return hash(self._actor_id)

    @property
    def _actor_id_hex(self) -> str:
        return self._actor_id.hex()


def _rebuild_handle(actor_id: bytes, meta: dict[str, Any], creation: ObjectRef | None = None,
                    decorators: dict[str, Any] | None = None) -> ActorHandle:
    handle: ActorHandle[Any] = ActorHandle(actor_id, meta, None, try_current_client())
    handle._creation = creation
    handle._decorators = dict(decorators or {})
    return handle


def actor_exists_error(name: str, namespace: str) -> Exception:
    return exc.RayError(f"actor {name} in {namespace}")
