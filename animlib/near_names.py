"""Did-you-mean hints for a run folder or results folder that does not exist (a typo)."""

from __future__ import annotations

import difflib
import os

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
    return f" (did you mean {close[0]}?)" if close else ""
