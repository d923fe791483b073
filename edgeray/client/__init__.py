"""The core client: what every driver and worker process runs to talk to its node.

Rule: imports ``edgeray.protocol``, ``edgeray.transport`` (its blocking side only),
``edgeray.object_store``, ``edgeray.exceptions`` and the standard library; never trio (it must
work in plain threads, inside asyncio loops and inside Trio programs alike), never ``node``,
``worker`` or ``api``.

One reader thread per process receives frames; any thread may send. ``ObjectRef`` counts its
references here and tells the node when this process takes or drops its last reference: the
rules are ``_ownership.Ownership``'s, a pure table whose transitions return the messages to send.
``_submitter.Submitter`` chooses the path of each call: calls that need nothing from the node
skip it: ``_direct`` sends actor calls straight to the actor's worker, ``_leases`` plain tasks
to pool workers the node lends this process (each with one more reader thread per
connection); both see the client only as ``_host.CallerHost``. The worker's side of those
connections is ``edgeray.worker``'s.
"""

from ._client import CoreClient
from ._context import current_client, set_current_client, try_current_client
from ._generators import DynamicObjectRefGenerator, ObjectRefGenerator
from ._refs import ObjectRef

__all__ = [
    "CoreClient", "DynamicObjectRefGenerator", "ObjectRef", "ObjectRefGenerator", "current_client",
    "set_current_client", "try_current_client",
]
