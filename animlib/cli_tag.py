"""The command line's ``tag``: add or remove tags of ended runs, or of every run of experiments."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import AnimlibError
from .text import plural, printable


def cmd_tag(args: argparse.Namespace) -> int:
    from .tagging import retag, tag_list

    try:
        add, remove = tag_list(args.add), tag_list(args.remove)
    except AnimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not add and not remove:
        print("error: say what to change: --add TAGS and/or --remove TAGS", file=sys.stderr)
        return 2
    try:
        runs = [run for target in args.targets for run in _runs_of(target)]
    except AnimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for run in dict.fromkeys(runs):
        try:
            tags = retag(run, add=add, remove=remove)
        except AnimlibError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        shown = ", ".join(printable(t) for t in tags) or "(none)"
        print(f"{printable(run.rstrip('/').replace(os.sep, '/').rsplit('/', 1)[-1])}: tags {shown}")
    done = len(dict.fromkeys(runs)) - failed
    if len(runs) > 1 or failed:
        print(f"{plural(done, 'run')} tagged" + (f", {failed} not" if failed else ""))
    return 1 if failed else 0


def _runs_of(target: str) -> list[str]:
    """The run folders ``target`` names: a run (its folder, URL, or its id in the results
    folder, as ``render`` takes it), else every run of the experiment of that id there."""
    from .cli_args import local_root, run_path
    from .errors import Code
    from .index import open_index
    from .index.query import experiment_runs

    try:
        return [run_path(target)]
    except AnimlibError as exc:
        if exc.code != Code.NOT_FOUND:
            raise
        root = local_root()
        index = open_index(root)
        index.refresh()
        ids = experiment_runs(index.table, target)
        if not ids:
            raise
        if "://" in root:
            return [f"{root.rstrip('/')}/{i}" for i in ids]
        return [os.path.join(root, i) for i in ids]
