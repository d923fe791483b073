"""How a worker process prepares for work: the node's ``Execute`` env, the job's setup hook.

``RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES`` (set in the worker's environment, or in the
work's runtime_env ``env_vars``) keeps the worker's own ``CUDA_VISIBLE_DEVICES``: the node's
assignment still reaches ``get_gpu_ids()``, but the variable is not overwritten (Ray's meaning).
``SetupHooks`` runs a job's ``worker_process_setup_hook`` once per process, before its work.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from .. import exceptions as exc
from ..client._setup_hook import FN_PREFIX, SETUP_HOOK, SETUP_HOOK_ENV

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


class SetupHooks:
    """The job setup hooks (Ray's ``worker_process_setup_hook``) this worker process has run:
    each once, before the first work that carries it (its key in the work's ``env_vars``).
    A hook that raised fails every later work that carries it too, with the same error."""

    def __init__(self, load_function: Callable[[bytes], Any]) -> None:
        self._load = load_function
        self._done: dict[str, str | None] = {}  # key -> None (ran) or the error message

    def before(self, env_vars: object) -> None:
        """Run the hook ``env_vars`` names, if this process has not yet; raises
        ``RuntimeEnvSetupError`` if it fails (or failed before)."""
        if not isinstance(env_vars, Mapping):
            return
        key = env_vars.get(SETUP_HOOK_ENV)
        if not isinstance(key, str) or not key:
            return
        if key not in self._done:
            self._done[key] = self._run(key)
        error = self._done[key]
        if error is not None:
            raise exc.RuntimeEnvSetupError(error)

    def _run(self, key: str) -> str | None:
        if key.startswith(FN_PREFIX):
            try:
                hook = self._load(bytes.fromhex(key[len(FN_PREFIX):]))
            except Exception:
                return f"Failed to import the setup hook.\n{traceback.format_exc()}"
            where = f"Function name: {getattr(hook, '__qualname__', hook)!s}"
        else:
            where = (f"{key} from ``init(runtime_env={{'{SETUP_HOOK}': {key!r}}})``. Make sure the module "
                     "exists and is importable by the workers")
            try:
                module, _, name = key.rpartition(".")
                hook = getattr(importlib.import_module(module), name)
            except Exception:
                return f"Failed to execute the setup hook method, {where}.\n{traceback.format_exc()}"
        try:
            hook()
        except Exception:
            return f"Failed to execute the setup hook method. {where}.\n{traceback.format_exc()}"
        return None
