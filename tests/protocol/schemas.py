"""Hypothesis strategies and minimal samples derived from the wire schemas (``protocol._schema``).

``strategy_for(check)`` draws values the check accepts; ``sample_for(check)`` is one small such
value; ``message_strategy(cls)`` and ``sample_message(cls)`` do the same for a message class from
its annotated field types and its declared checks. The fuzz tests build their inputs here, so a
schema change changes what they send.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from edgeray.protocol import Message, encode_spec
from edgeray.protocol import _schema as S
from edgeray.protocol import _spec as SP

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.binary(max_size=40)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
BY_TYPE: dict[type, st.SearchStrategy] = {
    bytes: st.binary(max_size=64),
    str: st.text(max_size=40),
    int: st.integers(min_value=-(2**63), max_value=2**64 - 1),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
    list: st.lists(VALUES, max_size=5),
    dict: st.dictionaries(st.text(max_size=10), VALUES, max_size=5),
    object: VALUES,
    type(None): st.none(),
}


def strategy_for(c: Any) -> st.SearchStrategy:  # noqa: C901 (one case per schema class)
    if isinstance(c, S.AnyValue):
        return VALUES
    if isinstance(c, S.Boolean):
        return st.booleans()
    if isinstance(c, S.Ident):
        return st.binary(min_size=c.length, max_size=c.length)
    if isinstance(c, S.Nullable):
        return st.none() | strategy_for(c.inner)
    if isinstance(c, SP.StrategyName):
        return st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_]{0,12}", fullmatch=True)
    if isinstance(c, S.Text):
        return st.text(max_size=min(c.max_len, 30))
    if isinstance(c, S.Blob):
        return st.binary(max_size=min(c.max_len or 64, 64))
    if isinstance(c, S.Integer):
        return st.integers(min_value=c.lo, max_value=c.hi)
    if isinstance(c, S.Number):
        return st.integers(min_value=int(c.lo), max_value=int(c.hi)) | st.floats(
            min_value=c.lo, max_value=c.hi, allow_nan=False, allow_infinity=False)
    if isinstance(c, S.OneOf):
        return st.sampled_from(sorted(c.choices, key=repr))
    if isinstance(c, S.Either):
        return st.one_of(*[strategy_for(o) for o in c.options])
    if isinstance(c, S.Ids):
        return st.lists(st.binary(min_size=c.length, max_size=c.length), max_size=min(c.max_len, 4))
    if isinstance(c, S.ListOf):
        return st.lists(strategy_for(c.item), max_size=min(c.max_len, 4))
    if isinstance(c, S.MapOf):
        return st.dictionaries(strategy_for(c.key), strategy_for(c.value), max_size=min(c.max_len, 3))
    if isinstance(c, S.Payload):
        fields = dict(c.fields)
        fields["loc"] = S.Nullable(S.ListOf(S.Integer(0, 1 << 40), max_len=2))
        return _record(fields, c.required).filter(lambda p: p.get("loc") is None or len(p["loc"]) == 2)
    if isinstance(c, S.Record):
        return _record(c.fields, c.required)
    if isinstance(c, SP.Tagged):
        return st.one_of(*[
            _record({**v.fields, c.key: S.OneOf(tag)}, (*v.required, c.key)) for tag, v in sorted(c.variants.items())
        ])
    raise TypeError(f"no strategy for {c!r}")


def _record(fields: dict[str, Any], required: tuple[str, ...]) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {k: strategy_for(v) for k, v in fields.items() if k in required},
        optional={k: strategy_for(v) for k, v in fields.items() if k not in required},
    )


def sample_for(c: Any) -> Any:
    """One small value ``c`` accepts."""
    if isinstance(c, S.AnyValue):
        return 3
    if isinstance(c, S.Boolean):
        return True
    if isinstance(c, S.Ident):
        return b"\x01" * c.length
    if isinstance(c, S.Nullable):
        return sample_for(c.inner)
    if isinstance(c, S.Text):
        return "s"
    if isinstance(c, S.Blob):
        return b"\x01\x02"
    if isinstance(c, S.Integer | S.Number):
        return max(c.lo, min(c.hi, 7))
    if isinstance(c, S.OneOf):
        return sorted(c.choices, key=repr)[0]
    if isinstance(c, S.Either):
        return sample_for(c.options[0])
    if isinstance(c, S.Ids):
        return [b"\x02" * c.length]
    if isinstance(c, S.ListOf):
        return [sample_for(c.item)]
    if isinstance(c, S.MapOf):
        return {sample_for(c.key): sample_for(c.value)}
    if isinstance(c, S.Record):
        return {k: sample_for(v) for k, v in c.fields.items() if k in c.required}
    if isinstance(c, SP.Tagged):
        tag, v = sorted(c.variants.items())[0]
        return {**sample_for(v), c.key: tag}
    raise TypeError(f"no sample for {c!r}")


def _check_of(cls: type[Message], name: str) -> Any:
    """The field's declared check (None for a field only its annotated types describe)."""
    return next((c for n, _, c in cls.CHECKS if n == name and not isinstance(c, S.AnyValue)), None)


def _field_strategy(cls: type[Message], name: str, types: tuple[type, ...]) -> st.SearchStrategy:
    check = _check_of(cls, name)
    if check is not None:
        return strategy_for(check)
    if name == "spec":  # SubmitTask, Execute, ForwardTask: an encoded task spec
        return spec_strategy().map(encode_spec)
    return st.one_of(*[BY_TYPE[t] for t in types])


def message_strategy(cls: type[Message]) -> st.SearchStrategy:
    return st.builds(cls, **{name: _field_strategy(cls, name, types) for name, types in cls.FIELDS})


def sample_message(cls: type[Message]) -> Message:
    simple: dict[type, Any] = {bytes: b"\x01\x02", str: "s", int: 7, float: 1.5, bool: True, list: [1],
                               dict: {"k": 1}, object: 3}
    kwargs = {}
    for name, types in cls.FIELDS:
        check = _check_of(cls, name)
        if check is not None:
            kwargs[name] = sample_for(check)
        elif name == "spec":
            kwargs[name] = encode_spec(sample_spec())
        else:
            t = next((t for t in types if t is not type(None)), type(None))
            kwargs[name] = simple.get(t)
    return cls(**kwargs)


def spec_strategy() -> st.SearchStrategy:
    """Task specs ``validate_spec`` accepts."""
    return strategy_for(SP.SPEC).filter(lambda s: s["kind"] == SP.TASK or s["actor"] is not None)


def sample_spec() -> dict[str, Any]:
    spec = sample_for(SP.SPEC)
    spec["kind"] = SP.TASK
    return spec


def required_fields(cls: type[Message]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
