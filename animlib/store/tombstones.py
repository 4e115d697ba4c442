"""Local folders removed out of sight: renamed to a hidden tombstone in one step, then deleted."""

# ``shutil.rmtree`` of a run folder killed half-way left a folder that was neither the run nor
# gone: listed as broken, refused by ``rm`` and by an overwrite (no run.json), or a run
# missing chunks listed as whole. Renamed first (``.animlib-removing-<16 hex digits>``: hidden
# names are no runs, and a folder of the user's is never taken for one),
# a removal is all or nothing for every reader; what a kill leaves is a tombstone, removed
# the next time this folder's runs are removed.

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil

__all__ = ["TOMBSTONE", "set_aside"]

TOMBSTONE = ".animlib-removing-"
_NAME = re.compile(re.escape(TOMBSTONE) + "[0-9a-f]{16}")
_swept: set[str] = set()  # folders whose tombstones this process removed


def set_aside(path: str) -> str:
    """Rename the folder ``path`` to a tombstone beside it; where it went (``path`` itself if
    it is one already or cannot be renamed: gone, a mount point). The first time in a process,
    tombstones a killed removal left beside it are removed too."""
    if _NAME.fullmatch(os.path.basename(path)):
        return path
    parent = os.path.dirname(path)
    tomb = os.path.join(parent, f"{TOMBSTONE}{secrets.token_hex(8)}")
    try:
        os.rename(path, tomb)
    except OSError:
        return path
    if parent not in _swept:
        _swept.add(parent)
        _sweep(parent, keep=tomb)
    return tomb


def _sweep(folder: str, keep: str) -> None:
    """Remove the tombstones in ``folder`` (removals killed half-way) but ``keep``."""
    tombs: list[str] = []
    with contextlib.suppress(OSError), os.scandir(folder) as it:  # (unlistable: none swept)
        tombs = [e.path for e in it if _NAME.fullmatch(e.name) and e.path != keep]
    for tomb in tombs:
        if os.path.isdir(tomb) and not os.path.islink(tomb):
            shutil.rmtree(tomb, ignore_errors=True)
