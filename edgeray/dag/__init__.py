"""``edgeray.dag``: Ray's DAG API (``ray.dag``, the classic one): ``.bind()`` builds a graph of
nodes, ``execute()`` submits it as tasks and actor calls.

Rule: imports only ``cloudpickle`` (to find nodes nested in arguments); never trio, and no other
edgeray package: a node runs by calling ``.options(...).remote(...)`` on what was bound (a
remote function, an actor class, an actor handle), so ``edgeray.api`` calls into this package
for ``.bind`` and never the other way round.
"""

from .class_node import ClassMethodNode, ClassNode
from .constants import (
    BIND_INDEX_KEY,
    IS_CLASS_METHOD_OUTPUT_KEY,
    PARENT_CLASS_NODE_KEY,
    PREV_CLASS_METHOD_CALL_KEY,
)
from .dag_node import DAGNode
from .function_node import FunctionNode
from .input_node import DAGInputData, InputAttributeNode, InputNode
from .output_node import MultiOutputNode

__all__ = [
    "BIND_INDEX_KEY", "IS_CLASS_METHOD_OUTPUT_KEY", "PARENT_CLASS_NODE_KEY", "PREV_CLASS_METHOD_CALL_KEY",
    "ClassMethodNode", "ClassNode", "DAGInputData", "DAGNode", "FunctionNode", "InputAttributeNode", "InputNode",
    "MultiOutputNode",
]
