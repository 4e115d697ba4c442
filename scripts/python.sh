# Sourced by the setup scripts: sets PY, the Python to install into and run with.
#   $PYTHON if set; else ./.venv if it exists; else `python` (or `python3`) when pip may install
#   into it; else a new ./.venv: Debian 12 and Ubuntu 23.04+ refuse pip installs into the system
#   Python (PEP 668, "externally-managed-environment"), and have no `python` command.
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
else
  PY="$(command -v python || command -v python3 || true)"
  if [ -z "$PY" ]; then
    echo "error: no python or python3 on PATH: install Python >= 3.11" \
      "(Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  if ! "$PY" - <<'PYCODE'
import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(1 if managed and sys.prefix == sys.base_prefix else 0)
PYCODE
  then
    echo "$PY is the system's Python (pip may not install into it): creating ./.venv" >&2
    if ! "$PY" -m venv .venv 2>/dev/null; then  # Debian ships venv apart: python3-venv
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null
      rm -rf .venv && "$PY" -m venv .venv
    fi
    PY=.venv/bin/python
  fi
fi
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "error: no such Python: $PY" >&2
  exit 1
fi
VERSION="$("$PY" -c 'import platform; print(platform.python_version())' 2>&1)" || {
  echo "error: $PY does not run: $VERSION" >&2
  exit 1
}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: $PY is Python $VERSION: animlib needs Python >= 3.11 (Zarr 3 does);" \
    "run again with PYTHON=/path/to/python3.11 (or newer)" >&2
  exit 1
fi
