"""``edgeray.runtime_env``: Ray's ``RuntimeEnv``, a ``dict`` accepted wherever ``runtime_env=``
is (``init``, ``@remote``, ``.options()``) and checked as a plain dict is there: edgeray honours
``env_vars``; the fields that install things (``pip``, ``conda``, ``working_dir``, ...) are refused."""

from __future__ import annotations

import json
from typing import Any

from .api._options import check_runtime_env

__all__ = ["RuntimeEnv"]


class RuntimeEnv(dict[str, Any]):
    """``RuntimeEnv(env_vars={"A": "1"})``: the fields given (not None), as a dict."""

    def __init__(
        self, *, py_modules: Any = None, py_executable: Any = None, working_dir: Any = None, pip: Any = None,
        conda: Any = None, container: Any = None, env_vars: dict[str, str] | None = None,
        worker_process_setup_hook: Any = None, nsight: Any = None, config: Any = None, _validate: bool = True,
        mpi: Any = None, image_uri: Any = None, uv: Any = None, **kwargs: Any,
    ) -> None:
        fields = {
            "py_modules": py_modules, "py_executable": py_executable, "working_dir": working_dir, "pip": pip,
            "conda": conda, "container": container, "env_vars": env_vars,
            "worker_process_setup_hook": worker_process_setup_hook, "nsight": nsight, "config": config,
            "mpi": mpi, "image_uri": image_uri, "uv": uv, **kwargs,
        }
        super().__init__({k: v for k, v in fields.items() if v is not None})
        if _validate:
            check_runtime_env(dict(self))

    def to_dict(self) -> dict[str, Any]:
        return dict(self)

    def serialize(self) -> str:
        return json.dumps(self, sort_keys=True)

    @classmethod
    def deserialize(cls, serialized: str) -> RuntimeEnv:
        return cls(**json.loads(serialized))

    def env_vars(self) -> dict[str, str]:
        return dict(self.get("env_vars") or {})

    def __repr__(self) -> str:
        return f"RuntimeEnv({dict.__repr__(self)})"
