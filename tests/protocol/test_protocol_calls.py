"""The control calls' argument schemas (``protocol._calls``): one per method the node serves."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schemas import VALUES, strategy_for

from edgeray.exceptions import ProtocolError
from edgeray.protocol._calls import CALL_ARGS, check_call


def test_every_method_the_node_serves_has_a_schema() -> None:
    from edgeray.node._calls import CallHandlers

    handlers = CallHandlers.__new__(CallHandlers)
    handlers.server = handlers.core = None  # type: ignore[assignment]
    CallHandlers.__init__(handlers, None, None)  # type: ignore[arg-type]
    served = set(handlers.table) | {"list_named_actors"}  # (answered before the table)
    assert served == set(CALL_ARGS)


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ProtocolError, match="unknown method"):
        check_call("no_such_method", {})


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(sorted(CALL_ARGS)), data=st.data())
def test_schema_values_pass_and_arbitrary_ones_pass_or_raise_protocol_error(method: str, data: st.DataObject) -> None:
    check_call(method, data.draw(strategy_for(CALL_ARGS[method])))
    try:
        check_call(method, data.draw(st.dictionaries(st.text(max_size=8), VALUES, max_size=4)))
    except ProtocolError:
        pass
