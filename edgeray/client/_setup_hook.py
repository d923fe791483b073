"""Ray's ``worker_process_setup_hook``: how a job's hook travels to the workers that run its work.

The driver turns the hook into a key (``export_setup_hook``): a ``"module.func"`` name as it
is, a callable as ``"fn:<id>"`` after registering its cloudpickled body with the node like a
remote function's. The key rides in the job's inherited ``env_vars`` (``SETUP_HOOK_ENV``, as Ray
passes it in a worker's environment), so every task and actor of the job, and what they submit,
carry it; a worker runs each hook it meets once (``edgeray.worker``) before that work.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .. import exceptions as exc

if TYPE_CHECKING:
    from ._client import CoreClient

SETUP_HOOK = "worker_process_setup_hook"
SETUP_HOOK_ENV = "EDGERAY_WORKER_PROCESS_SETUP_HOOK"
FN_PREFIX = "fn:"


def export_setup_hook(client: CoreClient, hook: Any) -> str:
    """The key of ``hook`` (a callable or ``"module.func"``) for the workers."""
    if isinstance(hook, str):
        return hook.strip()
    try:
        so, contained = client.serialize(hook)
        blob = so.to_bytes()
    except Exception as e:
        raise exc.RuntimeEnvSetupError(f"Failed to export the setup function. {type(e).__name__}: {e}") from e
    if contained:
        raise exc.RuntimeEnvSetupError(
            "Failed to export the setup function: it captures ObjectRefs, which a setup hook may not hold."
        )
    fn_id = hashlib.blake2b(blob, digest_size=16).digest()
    client.register_function(fn_id, blob, getattr(hook, "__qualname__", "setup_hook"), [])
    return FN_PREFIX + fn_id.hex()
