"""The command line's ``tag``: add or remove tags of ended runs, or of every run of experiments."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .errors import AnimlibError, Code
from .text import plural, printable


def cmd_tag(args: argparse.Namespace) -> int:
    from .tagging import retag_changes, tag_list

    try:
        add, remove = tag_list(args.add), tag_list(args.remove)
    except AnimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not add and not remove:
        print("error: say what to change: --add TAGS and/or --remove TAGS", file=sys.stderr)
        return 2
    try:
        seen: dict[str, Any] = {}  # (the results folder's index, refreshed once)
        runs = [run for target in args.targets for run in runs_of(target, seen)]
    except AnimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed, unchanged, held, missing = 0, 0, set(), 0
    for run in dict.fromkeys(runs):
        try:
            before, tags = retag_changes(run, add=add, remove=remove)
        except AnimlibError as exc:
            failed += 1
            missing += exc.code == Code.NOT_FOUND  # (a URL to nothing: a usage error too)
            print(f"error: {exc}", file=sys.stderr)
            continue
        held.update(before)
        unchanged += tags == before
        shown = ", ".join(printable(t) for t in tags) or "(none)"
        print(f"{printable(run.rstrip('/').replace(os.sep, '/').rsplit('/', 1)[-1])}: tags {shown}")
    done = len(dict.fromkeys(runs)) - failed
    if len(runs) > 1 or failed or unchanged:
        already = f", {unchanged:,} already so" if unchanged else ""
        print(
            f"{plural(done - unchanged, 'run')} tagged{already}"
            + (f", {failed} not" if failed else "")
        )
    _note_absent(remove, held)
    return 2 if missing else 1 if failed else 0


def _note_absent(remove: list[str], held: set[str]) -> None:
    """On stderr, the tags ``--remove`` names that none of the runs had (tags are compared
    exactly: ``Best`` is not ``best``)."""
    for tag in remove:
        if tag not in held:
            alike = sorted(t for t in held if t.casefold() == tag.casefold())
            hint = f" (tags are case-sensitive: {printable(alike[0])!r} is one)" if alike else ""
            print(f"note: none of the runs had the tag {printable(tag)!r}{hint}", file=sys.stderr)


def runs_of(
    target: str, seen: dict[str, Any], *, by_name: bool = True, verb: str = "tagged"
) -> list[str]:
    """The run folders ``target`` names: a run (its folder, URL, or its id in the results
    folder, as ``render`` takes it), else every run of the experiment of that id (or, with
    ``by_name``, made from that name) there (``seen``: the results folder's index, once
    refreshed); ``verb``: what the command does to the run, for a note."""
    from .cli_args import local_root, run_path

    root = local_root()
    typed, target = _spelled(target, root)
    bare = "/" not in target and os.sep not in target and target not in (".", "..")
    try:
        found: str | None = run_path(target)
    except AnimlibError as exc:
        if exc.code != Code.NOT_FOUND or not bare:
            raise
        found, missing = None, exc
    there = found is not None and ("://" in found or os.path.lexists(found))
    try:
        ids = _experiment_runs(_index(root, seen), target, by_name) if bare else []
    except AnimlibError as exc:  # (no results folder; a name that made two experiments)
        named = exc.field in ("experiment", "experiments")  # (a name two were made from)
        if not there and (found is None or named):
            raise (exc if named else missing) from None
        ids = []  # (the run named is there, or a path retag will say is not)
    if not there and ids:
        return [_in(root, i) for i in ids]
    if not there and bare and root in seen and (near := _near_experiment(seen[root], target)):
        raise AnimlibError(
            f"no run or experiment of that id in {printable(root)} (did you mean the experiment "
            f"{printable(near)!r}?)",
            run=target,
            field="path",
            code=Code.NOT_FOUND,
        )
    if found is None:
        raise _in_root_missing(typed, target, root) if typed != target else missing
    if ids and not by_name:  # (rm: which of the two goes would flip once one of them is gone)
        raise AnimlibError(
            "names a run and an experiment: name the run by its folder "
            f"({printable(_in(root, target))}), or the experiment once the run is gone",
            run=target,
            field="path",
            code=Code.INVALID,
        )
    if ids and not os.path.lexists(target):
        print(
            f"note: {printable(target)} names a run and an experiment: the run is {verb}, not "
            "the experiment's runs (name those by their ids)",
            file=sys.stderr,
        )
    return [found]


def _spelled(target: str, root: str) -> tuple[str, str]:
    """``target`` as typed (normalised) and as looked up: ``runs/EXP`` that is no folder is
    the id ``EXP`` in the results folder ``root`` (an existing folder stays a path: as an id,
    one of that name in the working folder came first).

    Raises:
        AnimlibError: (NOT_FOUND) a local path to nothing, said at once as render and validate
            say it (not as a failed retag).
    """
    if "://" in target:
        return target, target
    if "/" in target or os.sep in target or target in (".", ".."):
        target = os.path.normpath(target)  # (runs/ID/, A/. and alias/. name what they lead to)
    parent, name = os.path.split(target)
    if os.path.lexists(target) or "/" not in target and os.sep not in target:
        return target, target
    if parent and os.path.abspath(parent) == os.path.abspath(root):
        return target, name
    raise _missing_path(target)


def _missing_path(path: str) -> AnimlibError:
    """The error for a run folder path that names nothing."""
    from .near_names import did_you_mean
    from .store import open_store

    return AnimlibError(
        "no such run folder" + did_you_mean(open_store(path)),
        run=os.path.basename(os.path.normpath(path)),
        field="path",
        code=Code.NOT_FOUND,
    )


def _in_root_missing(typed: str, run_id: str, root: str) -> AnimlibError:
    """The error for ``runs/TYPO`` (``typed``) found neither as a run nor as an experiment:
    it named the results folder, not "no such run folder here (/cwd/TYPO)"."""
    from .near_names import did_you_mean
    from .store import open_store

    return AnimlibError(
        f"no run or experiment of that id in {printable(root)}" + did_you_mean(open_store(typed)),
        run=run_id,
        field="path",
        code=Code.NOT_FOUND,
    )


def _index(root: str, seen: dict[str, Any]) -> Any:
    """The run index of the results folder ``root``, refreshed once per command."""
    if root not in seen:
        from .index import open_index

        index = open_index(root)
        index.refresh()
        seen[root] = index
    return seen[root]


def _experiment_runs(index: Any, experiment: str, by_name: bool = True) -> list[str]:
    """The runs of the experiment ``experiment`` (an id, or with ``by_name`` the name it was
    made from) in the results folder of ``index``.

    Raises:
        AnimlibError: (field ``experiment``) without ``by_name``, ``experiment`` is the name
            of another id (once ``pgd`` is removed, the name ``pgd`` is its rerun's ``pgd-2``).
    """
    from .index.query import experiment_runs
    from .summary_scope import named_experiments

    named, _ = named_experiments(index, [experiment])  # (as summary --experiment names them)
    if not by_name and named and named != [experiment]:
        raise AnimlibError(
            f"no run or experiment of that id; it is the name experiment {named[0]!r} was "
            f"made from: name that one by its id",
            run=experiment,
            field="experiment",
            code=Code.NOT_FOUND,
        )
    return [run for e in named for run in experiment_runs(index.table, e)]


def _near_experiment(index: Any, name: str) -> str | None:
    """The experiment id of ``index``'s folder closest to ``name`` (a typo of an id or of a
    name), if one is close."""
    from .summary_scope import known_experiments, near_experiment

    return near_experiment(name, known_experiments(index))


def _in(root: str, run_id: str) -> str:
    return f"{root.rstrip('/')}/{run_id}" if "://" in root else os.path.join(root, run_id)
