"""The keys of a node's ``other_args_to_resolve`` that Ray names (``ray.dag.constants``)."""

#: a method node's actor: the ``ClassNode`` it was bound on, or an actor handle
PARENT_CLASS_NODE_KEY = "parent_class_node"
#: the method node bound on the same ``ClassNode`` just before this one (runs first)
PREV_CLASS_METHOD_CALL_KEY = "prev_class_method_call"
BIND_INDEX_KEY = "bind_index"
IS_CLASS_METHOD_OUTPUT_KEY = "is_class_method_output"
#: set on an ``InputNode`` by its ``with`` block
IN_CONTEXT_MANAGER = "__in_context_manager__"
