"""The node daemon: GCS, raylet, object store and listeners in one Trio process.

Rule: imports every lower layer (protocol, transport, object_store, plugins, gcs, raylet, config,
exceptions) and trio; never ``client``, ``worker`` or ``api``.
"""

from ._hosted import hosted_on_this_thread
from ._service import NodeInfo, open_node, serve_node

__all__ = ["NodeInfo", "hosted_on_this_thread", "open_node", "serve_node"]
