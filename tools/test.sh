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
# the dashboard's browser test needs Debian's chromium and chromium-driver: installed here as root
# where missing; if apt cannot, that test skips and says why (the rest of the run goes on)
if ! command -v chromium > /dev/null || ! command -v chromedriver > /dev/null; then
  APT=""
  if [ "$(id -u)" = 0 ]; then APT="apt-get"; elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then APT="sudo -n apt-get"; fi
  if [ -n "$APT" ] && command -v apt-get > /dev/null; then
    { DEBIAN_FRONTEND=noninteractive $APT install -y -q chromium chromium-driver > /dev/null 2>&1 \
        || { DEBIAN_FRONTEND=noninteractive $APT update -q > /dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive $APT install -y -q chromium chromium-driver > /dev/null 2>&1; }; } \
      || echo "note: could not install chromium/chromium-driver with apt; the dashboard's browser test will skip" >&2
  else
    echo "note: chromium/chromium-driver missing and apt-get not usable as root; the dashboard's browser test will skip" >&2
  fi
fi
# compiled once here: this machine may set PYTHONDONTWRITEBYTECODE, and every process
# edgeray starts (node, workers) would compile its modules from source again
.venv/bin/python -m compileall -q edgeray plugins > /dev/null
.venv/bin/ruff check edgeray plugins tools tests zipapp
.venv/bin/mypy edgeray plugins/edgeray_builtins
export EDGERAY_HOME="${EDGERAY_HOME:-$(mktemp -d)}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
