"""One writer per run: an exclusive lock file holding the writer's host and pid."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Iterable

from . import meta as M
from .errors import Code, RunInputError, StoreError
from .processes import pid_alive
from .store import Store
from .store.remote import CLAIM

LOCK_NAME = ".writer.lock"
# what a writer makes in a new run folder before its run.json: the lock (and a takeover's
# marker), an object store's claim, the temporary file of run.json's atomic write
_CREATION_FILE = re.compile(
    rf"{re.escape(LOCK_NAME)}(\.takeover-[0-9a-f]+)?|{re.escape(CLAIM)}|\.tmp-[^/]*"
)


def creation_files_only(files: Iterable[str]) -> bool:
    """True if ``files`` (a run folder's, with no run.json) are what a writer makes before its
    first run.json, its lock (or an object store's claim) among them: a writer killed while it
    created the run, or creating it now (its lock then says so)."""
    files = list(files)
    return any(f in (LOCK_NAME, CLAIM) for f in files) and all(
        _CREATION_FILE.fullmatch(f) for f in files
    )


def _lock_of(store: Store) -> tuple[dict, bool] | None:
    """The lock of the run folder ``store`` and whether its writer is gone (a process of this
    host that no longer runs: killed, out of memory); None without a readable lock."""
    try:
        return _parse(store.read(LOCK_NAME))
    except StoreError:
        return None


def _parse(data: bytes) -> tuple[dict, bool] | None:
    try:
        info = json.loads(data)
    except ValueError:
        return None
    if not isinstance(info, dict):
        return None
    try:
        pid = int(info.get("pid", -1))
    except (TypeError, ValueError):
        return None
    return info, info.get("host") == socket.gethostname() and not pid_alive(pid)


def holder(store: Store, name: str = LOCK_NAME) -> dict | None:
    """Who holds the lock of the run folder ``store`` (None if nobody or the holder is dead);
    ``name``: another lock file of the same kind (an experiment's claim in a results folder)."""
    try:
        return live_holder(store.read(name))
    except StoreError:
        return None


def live_holder(data: bytes) -> dict | None:
    """Who holds the lock file whose bytes are ``data`` (None if unreadable or its writer is
    dead)."""
    lock = _parse(data)
    return lock[0] if lock is not None and not lock[1] else None


def first_holder(root: Store, run_ids: Iterable[str]) -> tuple[str, dict] | None:
    """The first run of ``run_ids`` in the results folder ``root`` a live writer holds, and
    who holds it (one lock file read each, concurrently on object storage); None if none."""
    paths = {f"{r}/{LOCK_NAME}": r for r in run_ids}
    got = root.read_many(paths)
    for path, run in paths.items():
        if isinstance(data := got.get(path), bytes) and (info := live_holder(data)):
            return run, info
    return None


def writer_gone(store: Store) -> bool:
    """True when the run folder ``store`` is locked by a writer of this host that no longer
    runs (killed, out of memory): the run will not get another step. A writer of another host
    cannot be told from a live one (its run goes ``stale`` once silent for long enough)."""
    lock = _lock_of(store)
    return lock is not None and lock[1]


def writers_gone(root: Store, run_ids: Iterable[str]) -> frozenset[str]:
    """The runs of ``run_ids`` in the results folder ``root`` whose writer is gone
    (:func:`writer_gone`; one lock file read each, concurrently on object storage)."""
    paths = {f"{r}/{LOCK_NAME}": r for r in run_ids}
    got = root.read_many(paths)
    return frozenset(
        run
        for path, run in paths.items()
        if isinstance(data := got.get(path), bytes) and (lock := _parse(data)) and lock[1]
    )


def run_status(meta: dict, store: Store) -> str:
    """The status of a run to show: run.json's (:func:`animlib.meta.effective_status`: ``stale``
    once a running run is silent for ``ANIMLIB_STALE_SECONDS``), and ``stale`` at once for a
    running run whose writer is gone (:func:`writer_gone`).

    Args:
        meta: the run's run.json.
        store: its folder.

    Returns:
        running, stale, finished or failed (or what run.json says).
    """
    gone = meta.get("status") == "running" and writer_gone(store)  # (a lock read: running only)
    return M.effective_status(meta, writer_gone=gone)


def acquire(store: Store, run_id: str, name: str = LOCK_NAME) -> bytes:
    """Take the run's writer lock, or raise RunInputError (code BUSY) naming who holds it.
    ``name``: another lock file of the same kind (an experiment's claim in a results folder).

    (On object stores without conditional writes, such as some fsspec backends, best effort.)

    Returns:
        The lock as written (a token in it): :func:`holds` tells whether it is still this one.
    """
    payload = json.dumps(
        {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.time(),
            "token": secrets.token_hex(8),
        }
    ).encode()
    for _ in range(3):
        if store.create_exclusive(name, payload):
            return payload
        try:
            seen = store.read(name)
        except StoreError:  # removed meanwhile (its writer finished): try again
            continue
        lock = _parse(seen)
        if lock is not None and not lock[1]:
            raise _busy(run_id, lock[0])
        if _take_over(store, seen, payload, name):  # a dead writer's lock (or an unreadable one)
            return payload
    raise RunInputError("could not take the writer lock", run=run_id, field="lock", code=Code.BUSY)


def refuse_held(store: Store, run_id: str) -> None:
    """Raise RunInputError (code BUSY) naming the live writer that holds the run, if any,
    without taking the lock (a full disk cannot store one)."""
    info = holder(store)
    if info is not None:
        raise _busy(run_id, info)


def take_to_remove(store: Store, run_id: str) -> None:
    """Take the writer lock of a run about to be removed (``if_exists="overwrite"``), held
    while it goes: a writer starting on the run meanwhile is refused, not removed.

    Raises:
        RunInputError: (BUSY, field ``if_exists``) a live writer holds the run.
    """
    try:
        acquire(store, run_id)
    except RunInputError as exc:
        if exc.code != Code.BUSY:
            raise
        raise RunInputError(
            f"{exc.message}; it cannot be overwritten", run=run_id, field="if_exists", code=exc.code
        ) from None


def _take_over(store: Store, seen: bytes, payload: bytes, name: str = LOCK_NAME) -> bool:
    """Replace the dead writer's lock ``seen`` by ours; False if another process took it. The
    takeovers of one dead lock go one at a time (a marker named after it, created exclusively)
    and each checks that the lock is still that one before removing it: of two writers
    resuming a killed run at once, both took it (each removed the lock the other had taken)."""
    marker = f"{name}.takeover-{hashlib.sha1(seen).hexdigest()[:16]}"
    if not store.create_exclusive(marker, payload):
        with contextlib.suppress(StoreError):  # its taker died in between (or it is not one
            if (taken := _parse(store.read(marker))) is None or taken[1]:  # of ours, unreadable)
                store.remove(marker)
        return False
    try:
        try:
            if store.read(name) != seen:
                return False
        except StoreError:
            return False  # removed meanwhile: the next try creates it
        store.remove(name)
        return store.create_exclusive(name, payload)
    finally:
        release(store, marker)


def release(store: Store, name: str = LOCK_NAME, *, mine: bytes | None = None) -> None:
    """Drop the writer lock (ignored if it is already gone or cannot be removed); with
    ``mine``, only if it is still that one (a run folder replaced under its writer holds the
    new writer's lock: not this writer's to drop)."""
    with contextlib.suppress(StoreError):
        if mine is None or store.read(name) == mine:
            store.remove(name)


def holds(store: Store, payload: bytes) -> bool:
    """Whether the writer lock of the run folder ``store`` is still ``payload`` (what
    :func:`acquire` returned): False once the folder or its lock was removed or replaced.

    Raises:
        StoreError: the storage cannot be read (not a missing file).
    """
    try:
        return store.read(LOCK_NAME) == payload
    except StoreError as exc:
        if exc.code in (Code.MISSING, Code.NOT_FOUND):
            return False
        raise


def in_this_process(info: dict) -> bool:
    """Whether the lock ``info`` (as :func:`holder` returns it) is held by this very process."""
    return info.get("host") == socket.gethostname() and str(info.get("pid")) == str(os.getpid())


def who(info: dict) -> str:
    """The holder of the lock ``info`` as messages name it: ``"a writer in this process"`` (a
    writer left open earlier, a notebook cell run again), else ``"another writer (pid N on
    host)"``."""
    if in_this_process(info):
        return "a writer in this process"
    return f"another writer (pid {info.get('pid')} on {info.get('host')})"


CLOSE_IT = (
    "close it first: its .finish(), the end of its `with` block, or animlib.finish() (every "
    "writer this process left open, those out of reach too)"
)


def _busy(run_id: str, info: dict) -> RunInputError:
    close = f" ({CLOSE_IT})" if in_this_process(info) else ""
    return RunInputError(
        f"{who(info)} is writing this run{close}",
        run=run_id,
        field="lock",
        code=Code.BUSY,
    )
