"""What the in-process node tests share: a small node's config and the cluster token.

The tests under ``tests/node`` run a node in the test's own Trio run (``open_node``) with no
worker processes (``node.prestart_workers = 0``) and drive it with hand-built peers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeray.config import Config, load_config


def node_config(**extra: Any) -> Config:
    """One CPU, no GPU, a 64 MiB store, no pre-started workers; ``extra`` overrides more keys."""
    return load_config(
        overrides={
            "resources.num_cpus": 1,
            "resources.num_gpus": 0,
            "object_store.memory": 64 << 20,
            "node.prestart_workers": 0,
            **extra,
        }
    )


def token() -> str:
    """The cluster token the node under test created in this test's ``EDGERAY_HOME``."""
    return (Path(os.environ["EDGERAY_HOME"]) / "token").read_text().strip()
