#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
"$PY" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# torchattacks declares torchvision (and an old requests) as dependencies; it imports without them,
# and torchvision would replace the CPU torch with a CUDA build: install it on its own.
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps torchattacks==3.5.1
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps -e .
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
exec "$PY" -m pytest "$@"
