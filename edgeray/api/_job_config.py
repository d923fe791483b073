"""``JobConfig``: Ray's per-job settings for ``init(job_config=...)``."""

from __future__ import annotations

from typing import Any

from ._options import check_runtime_env


class JobConfig:
    """What ``init(job_config=JobConfig(...))`` takes. Honoured: ``runtime_env`` (its
    ``env_vars`` pass down to all of the job's work) and ``ray_namespace``; ``init``'s own
    ``runtime_env=`` and ``namespace=`` win over them, as in Ray. ``metadata`` is kept here, for
    the driver (edgeray keeps no job table to show it in). Java options and a detached default
    actor lifetime are refused rather than ignored."""

    def __init__(
        self, jvm_options: list[str] | None = None, code_search_path: list[str] | None = None,
        runtime_env: dict[str, Any] | None = None, _client_job: bool = False, metadata: dict[str, str] | None = None,
        ray_namespace: str | None = None, default_actor_lifetime: str = "non_detached",
        _py_driver_sys_path: list[str] | None = None,
    ) -> None:
        if jvm_options or code_search_path:
            raise ValueError("edgeray runs Python only: JobConfig(jvm_options=..., code_search_path=...) "
                             "cannot be honoured.")
        self.jvm_options: list[str] = []
        self.code_search_path: list[str] = []
        self.runtime_env: dict[str, Any] = {}
        self.metadata: dict[str, str] = {}
        self.ray_namespace: str | None = None
        self.default_actor_lifetime = "non_detached"
        self._client_job = _client_job
        self._py_driver_sys_path = list(_py_driver_sys_path or [])
        self.set_runtime_env(runtime_env)
        self.set_metadata_dict(metadata or {})
        self.set_ray_namespace(ray_namespace)
        self.set_default_actor_lifetime(default_actor_lifetime)

    def set_metadata(self, key: str, value: str) -> None:
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"JobConfig metadata must map str to str, got {key!r}: {value!r}.")
        self.metadata[key] = value

    def set_metadata_dict(self, metadata: dict[str, str]) -> None:
        if not isinstance(metadata, dict):
            raise TypeError(f"JobConfig metadata must be a dict, not {type(metadata).__name__}.")
        for k, v in metadata.items():
            self.set_metadata(k, v)

    def set_runtime_env(self, runtime_env: dict[str, Any] | None, validate: bool = False) -> None:
        check_runtime_env(runtime_env)
        self.runtime_env = runtime_env if runtime_env is not None else {}

    def set_ray_namespace(self, ray_namespace: str | None) -> None:
        if ray_namespace is not None and not isinstance(ray_namespace, str):
            raise TypeError(f"ray_namespace must be a string, not {type(ray_namespace).__name__}.")
        self.ray_namespace = ray_namespace

    def set_default_actor_lifetime(self, default_actor_lifetime: str) -> None:
        if default_actor_lifetime not in ("detached", "non_detached"):
            raise ValueError("Default actor lifetime must be one of `detached`, `non_detached`")
        if default_actor_lifetime == "detached":
            raise ValueError("edgeray does not support default_actor_lifetime='detached' for a job: give "
                             "lifetime='detached' to the actors that should outlive it.")
        self.default_actor_lifetime = default_actor_lifetime

    @classmethod
    def from_json(cls, job_config_json: dict[str, Any]) -> JobConfig:
        return cls(
            jvm_options=job_config_json.get("jvm_options"), code_search_path=job_config_json.get("code_search_path"),
            runtime_env=job_config_json.get("runtime_env"), metadata=job_config_json.get("metadata"),
            ray_namespace=job_config_json.get("ray_namespace"),
            default_actor_lifetime=job_config_json.get("default_actor_lifetime", "non_detached"),
        )

    def __repr__(self) -> str:
        return (f"JobConfig(runtime_env={self.runtime_env!r}, metadata={self.metadata!r}, "
                f"ray_namespace={self.ray_namespace!r})")
