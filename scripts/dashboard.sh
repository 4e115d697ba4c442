#!/usr/bin/env bash
# Set up the dashboard on a fresh Debian/Ubuntu machine and start it on the bundled demo runs
# (arguments after the script go to `streamlit run`, e.g. --server.port 8502).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
"$PY" -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
exec "$PY" -m streamlit run dashboard.py "$@" -- --runs runs
