"""The process's run indexes: one :class:`RunIndex` per results folder, saved at exit."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import OrderedDict
from typing import Any

from ..listing import check_results_folder
from ..store import Store, open_store
from . import files
from .runindex import RunIndex

log = logging.getLogger("animlib.index")

_OPEN: OrderedDict[tuple[str, str, str], RunIndex] = OrderedDict()
_OPEN_LOCK = threading.Lock()
EXIT_WAIT_S = 5.0  # at exit, how long a refresh in progress may delay saving its index
MAX_OPEN = 16  # indexes kept in memory per process (least recently used go first)


def open_index(
    root: str | os.PathLike[str] | Store, storage_options: dict[str, Any] | None = None
) -> RunIndex:
    """The process-wide :class:`RunIndex` of ``root`` (the same object on every call, so
    repeated listings only look at what changed).

    Returns:
        The index (not refreshed: call :meth:`RunIndex.refresh`).

    Raises:
        StoreError: ``root`` is not a path or URL animlib can open.
        RunFormatError: ``root`` is a run folder, not a results folder.
    """
    store = open_store(root, storage_options)
    key = (store.url, repr(sorted(store.storage_options.items())), files.index_path(store.url))
    with _OPEN_LOCK:
        index = _OPEN.get(key)
        if index is not None:
            _OPEN.move_to_end(key)
            return index
    # storage and index files are touched without the lock: one slow folder (a bucket) must
    # not hold up every session's pages of the other folders
    check_results_folder(store)  # (once per folder and process)
    made = RunIndex(store, path=key[2])
    with _OPEN_LOCK:
        index = _OPEN.setdefault(key, made)  # (a thread that made one first wins)
        _OPEN.move_to_end(key)
        evicted = [_OPEN.popitem(last=False)[1] for _ in range(len(_OPEN) - MAX_OPEN)]
    for old in evicted:
        _save_quietly(old)
    return index


def _save_quietly(index: RunIndex) -> None:
    """Write an index's pending changes; never raises (an index is only a cache)."""
    try:
        index.flush(timeout=EXIT_WAIT_S)
    except Exception as exc:  # noqa: BLE001 -- at exit or on eviction nothing may fail
        log.warning("run index %s not saved: %s", index.path, exc)


def _forget_in_child() -> None:
    """A forked child starts without its parent's indexes (its exit would save them, maybe
    waiting on a lock a parent thread held at the fork)."""
    global _OPEN_LOCK
    _OPEN_LOCK = threading.Lock()
    _OPEN.clear()


os.register_at_fork(after_in_child=_forget_in_child)


@atexit.register
def _save_open_indexes() -> None:
    """At exit, the open indexes' changes since their last save go to their files: the next
    process reads only what changed after this one."""
    with _OPEN_LOCK:
        indexes = list(_OPEN.values())
    for index in indexes:
        _save_quietly(index)
