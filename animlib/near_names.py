"""Did-you-mean hints for a run folder or results folder that does not exist (a typo)."""

from __future__ import annotations

import difflib
import os

from .settings import DEFAULT_RUNS, settings
from .store import LocalStore, Store

__all__ = ["did_you_mean"]


def did_you_mean(store: Store) -> str:
    """`` (did you mean NAME?)`` when the folder ``store`` names does not exist but its
    parent holds a name close to its own, else ``""`` (and always for object stores: no
    listing is made for a hint)."""
    if not isinstance(store, LocalStore):
        return ""
    parent, name = os.path.split(os.path.normpath(store.path))
    try:
        names = [e.name for e in os.scandir(parent or ".") if e.is_dir() and e.name != name]
    except OSError:
        return ""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    held = _in_results_folder(parent, name)  # (a run of that very id: before a near name)
    return held or (f" (did you mean {close[0]}?)" if close else "")


def _in_results_folder(parent: str, name: str) -> str:
    """A hint for a run id given where a path is taken (``open_run("pgd-img3")`` from a folder
    that does not hold it): where the results folder (``$ANIMLIB_RUNS``, else ``runs``) holds
    a run of that id, its path."""
    root = settings().runs or DEFAULT_RUNS
    if "://" in root or os.path.normpath(parent) != os.getcwd():
        return ""
    path = os.path.join(os.path.expanduser(root), name)
    if not os.path.isfile(os.path.join(path, "run.json")):
        return ""
    return f" (a run folder's path is taken; the results folder holds this run: {path!r})"
