#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the main job: starts a node with the CLI, runs
# an example Ray program against it (unchanged but for `import edgeray as ray`), stops the node.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
# compiled once here: this machine may set PYTHONDONTWRITEBYTECODE, and every process
# edgeray starts (node, workers) would compile its modules from source again
.venv/bin/python -m compileall -q edgeray plugins > /dev/null
export EDGERAY_HOME="${EDGERAY_HOME:-$(mktemp -d)}"
.venv/bin/edgeray start --config configs/node.toml
trap '.venv/bin/edgeray stop' EXIT
.venv/bin/python examples/parameter_server.py
