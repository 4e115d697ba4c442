"""The command line's ``rm``: remove runs, or every run of experiments, from a results folder."""

from __future__ import annotations

import argparse
import os
import re
import sys

from .errors import AnimlibError
from .text import plural, printable


def cmd_rm(args: argparse.Namespace) -> int:
    from .cli_tag import runs_of
    from .run_folder import remove_run
    from .store import open_store

    try:
        seen: dict = {}  # (the results folder's index, refreshed once)
        named = [r for t in args.targets for r in runs_of(t, seen, by_name=False, verb="removed")]
        runs = _runs_only(named)
    except AnimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sizes = {run: _size(run) for run in runs}
    for run in runs:
        size = "" if sizes[run] is None else f"  {_mb(sizes[run])}"
        print(f"{printable(_label(run))}{size}")
    known = [s for s in sizes.values() if s is not None]
    what = plural(len(runs), "run") + (f" ({_mb(sum(known))})" if known else "")
    if args.dry_run:
        print(f"would remove {what}")
        return 0
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():  # (None: stdin closed)
            print(f"error: pass --yes to remove {what} (--dry-run lists them)", file=sys.stderr)
            return 2
        try:
            answer = input(f"remove {what}? [y/N] ")
        except EOFError:  # (Ctrl-D)
            answer = ""
            print()
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    failed, freed = 0, 0
    for run in runs:
        try:
            remove_run(open_store(run))
        except AnimlibError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        freed += sizes[run] or 0
    done = len(runs) - failed
    tail = f" ({_mb(freed)} freed)" if known and done else ""
    print(f"removed {plural(done, 'run')}{tail}" + (f", {failed} not" if failed else ""))
    return 1 if failed else 0


def _runs_only(named: list[str]) -> list[str]:
    """``named`` once each (two spellings of one folder: once), refused unless every one is a
    run folder: a results folder, a link (``rm`` would remove the link and lock the run it
    leads to) or any other folder is named in an error, and nothing is removed.

    Raises:
        AnimlibError: (field ``path``) naming the first that is no run folder.
    """
    from .errors import Code

    runs: dict[str, str] = {}
    for run in named:
        local = "://" not in run
        if local and os.path.islink(os.path.normpath(run)):
            why = "a link to a folder: remove the link itself (rm removes run folders)"
        elif not _holds_run(run):
            why = "not a run folder (no run.json file): rm removes run folders only"
        else:
            scheme, _, rest = run.partition("://")
            key = os.path.realpath(run) if local else f"{scheme}://{re.sub('/+', '/', rest)}"
            runs.setdefault(key.rstrip("/"), run)
            continue
        raise AnimlibError(f"{printable(run)} is {why}; nothing removed", field="path",
                           code=Code.INVALID)  # fmt: skip
    return list(runs.values())


def _holds_run(run: str) -> bool:
    """Whether the folder ``run`` holds a run.json file, or what a writer killed creating it
    left (as :func:`remove_run` checks).

    Raises:
        AnimlibError: naming ``run``, when it cannot be read (a link leading outside).
    """
    from .errors import StoreError
    from .run_folder import aborted_creation, holds_run_json
    from .store import open_store

    try:
        store = open_store(run)
        return holds_run_json(store) or aborted_creation(store)
    except StoreError as exc:
        raise AnimlibError(f"{printable(run)}: {exc}; nothing removed", field="path") from None


def _label(run: str) -> str:
    """How the list names a run: its id when it is in the results folder, else its folder
    (an id is looked up in the working folder first: the list says which folder goes)."""
    from .cli_args import local_root

    if "://" in run:
        return run
    parent, name = os.path.split(os.path.normpath(run))
    here = os.path.abspath(parent) == os.path.abspath(local_root())
    return name if here else os.path.abspath(run)


def _size(run: str) -> int | None:
    """The bytes of a local run folder's files (None for a URL: not listed for this)."""
    if "://" in run:
        return None
    total = 0
    for folder, _, files in os.walk(run):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _mb(size: int) -> str:
    """A size as people read it: kB below a megabyte."""
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size / 2**10:,.0f} kB"
