"""Where the dashboard looks for runs: ``--runs PATH`` after ``--``, ``$ANIMLIB_RUNS``, or runs/."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

DEFAULT_RUNS = "runs"


def runs_root(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> str:
    """The results folder (path or fsspec URL) the dashboard shows."""
    argv = sys.argv[1:] if argv is None else list(argv)
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs", default=None)
    known, _ = parser.parse_known_args(argv)
    return known.runs or env.get("ANIMLIB_RUNS") or DEFAULT_RUNS
