#!/usr/bin/env bash
# Sets everything up on a fresh machine (a venv with edgeray and its test dependencies) and runs
# the whole test suite. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,dev]'
# compiled once here: this machine may set PYTHONDONTWRITEBYTECODE, and every process
# edgeray starts (node, workers) would compile its modules from source again
.venv/bin/python -m compileall -q edgeray plugins > /dev/null
.venv/bin/ruff check edgeray plugins tools tests zipapp
.venv/bin/mypy edgeray plugins/edgeray_builtins
export EDGERAY_HOME="${EDGERAY_HOME:-$(mktemp -d)}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
