"""What the node's ``Execute`` env does to a worker process: Ray's accelerator variables.

``RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES`` (set in the worker's environment, or in the
work's runtime_env ``env_vars``) keeps the worker's own ``CUDA_VISIBLE_DEVICES``: the node's
assignment still reaches ``get_gpu_ids()``, but the variable is not overwritten (Ray's meaning).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

NOSET_CUDA_VISIBLE_DEVICES = "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"


def _truthy(value: str | None) -> bool:
    """Ray's ``env_bool``: "1" or "true" (any case) is set; anything else is not."""
    return value is not None and value.strip().lower() in ("1", "true")


def env_to_apply(env: Mapping[str, str], env_vars: object) -> dict[str, str]:
    """The variables of the node's ``env`` for one piece of work to set in this process;
    ``env_vars`` is the work's runtime_env ``env_vars`` (or None)."""
    out = dict(env)
    noset = os.environ.get(NOSET_CUDA_VISIBLE_DEVICES)
    if isinstance(env_vars, Mapping) and isinstance(env_vars.get(NOSET_CUDA_VISIBLE_DEVICES), str):
        noset = env_vars[NOSET_CUDA_VISIBLE_DEVICES]
    if _truthy(noset):
        out.pop("CUDA_VISIBLE_DEVICES", None)
    return out
