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
from ._results import ResultWriter

if TYPE_CHECKING:
    from ..client import CoreClient


class Returns(NamedTuple):
    """The ``num_returns`` results of a generator task: those it yielded, stored already, and
    ``failed``, the error of each it never yielded (None if it yielded them all)."""

    stored: ResultWriter
    failed: BaseException | None


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
        """Store each value as it is yielded (so that no more than one is held here)."""
        n = spec["rets"]
        stored = ResultWriter(self._client, spec["tid"])
        failed: BaseException | None = None
        try:
            while True:
                try:
                    v = next(gen)
                except StopIteration:
                    if len(stored) < n:
                        failed = ValueError(f"Task {spec['name']} returned {len(stored)} objects, but num_returns={n}.")
                    break
                except Exception as e:  # the generator's own error: in each result not yielded
                    failed = e
                    break
                if len(stored) == n:
                    print(f"Task {spec['name']} returned more than num_returns={n} objects: its first {n} are "
                          "its results, the rest are dropped.", file=sys.stderr)
                    gen.close()
                    break
                stored.add(v)  # (a value that cannot be stored fails the whole task)
        except BaseException:
            stored.drop()
            raise
        return Returns(stored, failed)
