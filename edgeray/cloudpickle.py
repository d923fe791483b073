"""``edgeray.cloudpickle``: Ray's ``ray.cloudpickle``, here the ``cloudpickle`` package itself
(the one edgeray serializes with), so ``register_pickle_by_value`` and a pickler's
``dispatch_table`` apply to what edgeray ships."""

from cloudpickle import (  # noqa: F401
    CloudPickler,
    Pickler,
    __version__,
    dump,
    dumps,
    load,
    loads,
    register_pickle_by_value,
    unregister_pickle_by_value,
)

__all__ = [
    "CloudPickler", "Pickler", "__version__", "dump", "dumps", "load", "loads", "register_pickle_by_value",
    "unregister_pickle_by_value",
]
