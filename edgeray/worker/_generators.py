"""Generator tasks in the worker: what a task or actor method that yields leaves its caller.

Ray's rules. Each value is stored as it is yielded. An error raised midway keeps the values
yielded before it and goes into what remains: one more, last ref (``num_returns="streaming"``
and ``"dynamic"``), or each result not yielded yet (an int ``num_returns``; a generator that
stops short leaves a ``ValueError`` there). A generator that yields more values than its int
``num_returns`` returns the first ones and logs an error.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from ..client._generators import DynamicObjectRefGenerator

if TYPE_CHECKING:
    from ..client import CoreClient


class Failed(NamedTuple):
    """One result of a generator with an int ``num_returns`` that it never yielded."""

    error: BaseException


class Returns(NamedTuple):
    """The ``num_returns`` results of a generator task: values, or ``Failed`` for the rest."""

    values: list[Any]


class GeneratorResults:
    """``as_error(spec, e)``: the error a caller gets for ``e`` raised by the task of ``spec``
    (a ``RayTaskError`` naming it)."""

    def __init__(self, client: CoreClient, as_error: Callable[[dict[str, Any], BaseException], BaseException]) -> None:
        self._client = client
        self._as_error = as_error

    def collect(self, spec: dict[str, Any], result: Any) -> Any:
        """The result of a task: its values in a ``DynamicObjectRefGenerator`` for a generator
        task (``spec["opts"]["generator"]``), ``Returns`` for a generator with an int
        ``num_returns``, else ``result`` itself."""
        mode = spec["opts"].get("generator")
        if mode is None:
            return self._static(spec, result) if inspect.isgenerator(result) and spec["rets"] >= 1 else result
        try:
            values = iter(result)
        except TypeError:
            raise TypeError(f"{spec['name']} has num_returns={mode!r} but returned {type(result).__name__}, "
                            "not a generator") from None
        put = self._client.put
        refs = []
        try:
            for v in values:
                refs.append(put(v))
        except Exception as e:
            refs.append(self._client.put_error(self._as_error(spec, e)))
        return DynamicObjectRefGenerator(refs)

    async def collect_async(self, spec: dict[str, Any], agen: Any) -> DynamicObjectRefGenerator:
        """``collect`` for an async generator method of an async actor."""
        put = self._client.put
        refs = []
        try:
            async for v in agen:
                refs.append(put(v))
        except Exception as e:
            refs.append(self._client.put_error(self._as_error(spec, e)))
        return DynamicObjectRefGenerator(refs)

    def _static(self, spec: dict[str, Any], gen: Any) -> Returns:
        n = spec["rets"]
        values: list[Any] = []
        try:
            for v in gen:
                if len(values) == n:
                    print(f"Task {spec['name']} yielded more than num_returns={n} values: its first {n} are "
                          "its results, the rest are dropped.", file=sys.stderr)
                    gen.close()
                    break
                values.append(v)
        except Exception as e:
            failed = Failed(e)
        else:
            failed = Failed(ValueError(f"Task {spec['name']} returned {len(values)} objects, but num_returns={n}."))
        return Returns(values + [failed] * (n - len(values)))
