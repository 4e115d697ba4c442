"""A cache folder that cannot be written: found out by a probe, said once, worked around."""

# The cache is an optimisation: when its local folder cannot be created or written (a read-only
# ``ANIMLIB_CACHE``, a path under a file, a full disk), renders go straight to their output (or
# to a private temporary folder for the dashboard's downloads) and the player keeps its strips
# in memory, as the run index keeps itself in memory. A failure is blamed on the folder only if
# a probe (a file created and removed in it) fails too, or if it says the disk is full (where
# an empty file can still be made): any other error is raised as before.

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from ..errors import Code, RenderError, StoreError
from ..exit_hooks import at_exit_here
from ..movie_writers.disk_full import disk_full, free_text
from ..settings import settings
from ..store import LocalStore, open_store
from .folder import CacheFolder

log = logging.getLogger("animlib.cache")

KEEP_UNCACHED = 4  # renders kept in the private temporary folder (the newest)
_said: set[str] = set()
_lock = threading.Lock()
_temp: list[Path] = []  # the private temporary folder, once made


def cache_unwritable(exc: BaseException | None = None) -> str | None:
    """Why the local cache folder cannot be written, as a note naming the variable that sets it
    and the folder (logged once per folder and process); None if it can be written, or if
    ``exc`` (the failure met) is no storage failure (an OSError, a StoreError of code
    STORAGE, or the encoder's RenderError naming a file in that folder: ffmpeg opens its
    output itself): that failure has another cause.

    Args:
        exc: the error a use of the cache raised, if any.

    Returns:
        The note, or None.
    """
    storage = isinstance(exc, OSError) or (isinstance(exc, StoreError) and exc.code == Code.STORAGE)
    if exc is not None and not storage and not isinstance(exc, RenderError):
        return None  # (e.g. a cache inside the results folder: refused, nothing made there)
    # its disk full: an empty file can still be made there, so no probe finds it out
    full = exc is not None and disk_full(exc)
    found = _full() if full else _probe()
    if found is None:
        return None
    env, where, why = found
    if isinstance(exc, RenderError) and not full and where not in str(exc):
        return None  # (the encoder failed on a file elsewhere: its own error)
    if full:
        remedy = f"free some space there or point {env} at another disk"
    else:
        remedy = f"point {env} at a writable folder"
    note = (
        f"the cache folder {where} ({env}) cannot be used: {why}; working without it ({remedy} "
        "to keep renders and the player's frames)"
    )
    with _lock:
        first = where not in _said
        _said.add(where)
    if first:
        log.warning("%s", note)
    return note


def _variable() -> str | None:
    """The variable that sets the local cache folder (None: an unknown scheme)."""
    try:
        shared = not isinstance(open_store(settings().cache_location()), LocalStore)
    except StoreError:
        return None  # (an unknown scheme: not a question of writing)
    return "ANIMLIB_CACHE_LOCAL" if shared else "ANIMLIB_CACHE"


def _full() -> tuple[str, str, str] | None:
    """(variable, folder, why) for the local cache folder, whose disk a use of the cache found
    full (it writes nowhere else)."""
    env = _variable()
    if env is None:
        return None
    try:
        folder = CacheFolder.current().local
    except StoreError:
        return None
    free = free_text(folder)
    return env, str(folder), f"its disk is full{f' ({free})' if free else ''}"


def _probe() -> tuple[str, str, str] | None:
    """(variable, folder, why) if the local cache folder cannot be created or written."""
    env = _variable()
    if env is None:
        return None
    try:
        folder = CacheFolder.current().local
    except StoreError as exc:
        if exc.code != Code.STORAGE:
            return None
        return env, str(exc.field), exc.message
    probe = folder / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        return env, str(folder), f"cannot write in it ({exc.strerror or type(exc).__name__})"
    with contextlib.suppress(OSError):
        probe.unlink()
    return None


def temp_path(name: str) -> Path:
    """A path for the render ``name`` in this process's private temporary folder (removed at
    exit), where only the :data:`KEEP_UNCACHED` newest renders are kept."""
    with _lock:
        if not _temp:
            _temp.append(Path(tempfile.mkdtemp(prefix="animlib-uncached-")))
            at_exit_here(shutil.rmtree, _temp[0], ignore_errors=True)  # (not a child's)
        folder = _temp[0]
    with contextlib.suppress(OSError):
        old = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
        for path in old[: max(len(old) - KEEP_UNCACHED + 1, 0)]:
            path.unlink()
    return folder / f"{secrets.token_hex(4)}-{name}"
