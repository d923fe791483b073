"""The worker process: runs tasks and actor methods (sync, threaded, asyncio).

Rule: imports ``edgeray.client``, ``edgeray.transport`` (its blocking side: the direct-call
server, ``_direct_server``), ``edgeray.object_store``, ``edgeray.protocol``,
``edgeray.exceptions`` and the standard library; never trio, ``node`` or ``api`` (user code
reaches the API through the process's current client). Started by the node's supervisor as
``python -c "...; from edgeray.worker._main import main; main()"``.
"""

from ._executor import Executor
from ._exit import ActorExit

__all__ = ["ActorExit", "Executor"]
