"""Run folder chores of writers: reserve an id, write the group and ``original``, tidy leftovers."""

from __future__ import annotations

import json
import re
import time

import numpy as np

from . import lock
from . import meta as M
from .array_appender import array_meta, encode_plain, plain_codecs
from .errors import Code, RunInputError, StoreError
from .movie_writers.disk_full import disk_full
from .store import Store
from .store.paths import run_id_for
from .store.remote import CLAIM

GROUP_META = b'{"zarr_format": 3, "node_type": "group", "attributes": {}}\n'
LEFTOVER_PREFIXES = (".tmp-",)  # temporary files of an atomic write a SIGKILL interrupted
LEFTOVER_SUFFIXES = (".partial",)  # files of a download or render a SIGKILL interrupted


IF_EXISTS = ("new", "overwrite", "error")  # what a writer does when its run (or experiment) exists
# what a run's writer makes in its folder: run.json, the Zarr group, the lock (and the marker of
# its takeover), an object store's claim of a new folder, temporary files a kill left (in any of
# its folders), and each array's zarr.json and chunks (c.0.0.0.0, or c/0/0/0/0); anything else
# is the user's (notes, their own renders): an overwrite or a demo rebuild never removes it
WRITER_FILE = re.compile(
    rf"(run\.json|zarr\.json|{re.escape(lock.LOCK_NAME)}(\.takeover-[0-9a-f]+)?"
    rf"|{re.escape(CLAIM)}|([^/]+/)*({re.escape(LEFTOVER_PREFIXES[0])}[^/]*"
    rf"|[^/]*{re.escape(LEFTOVER_SUFFIXES[0])})"
    r"|(images|confidences|original|scalars(/[^/]+)?)/(zarr\.json|c([./]\d+)*))"
)


def reserve(root: Store, name: str, *, exact: bool = False) -> tuple[Store, str]:
    """Create a new run folder in ``root`` for ``name``: its id is ``name`` made safe for paths,
    with ``-2``, ``-3``, ... when taken (``exact``: that id or an error).

    Returns:
        The run folder's store and its id.

    Raises:
        RunInputError: (LIMIT) no free id; with ``exact``, the id is taken.
        StoreError: the storage refused.
    """
    base = run_id_for(name)
    if exact:
        store = root.child(base)
        if not store.make_exclusive():
            raise RunInputError(
                f"a run {base!r} exists in {root.url} (if_exists='new' writes a fresh id such "
                f"as {base + '-2'!r}; 'overwrite' replaces it)",
                run=name,
                field="if_exists",
            )
        return store, base
    for i in range(1, 10_000):
        candidate = base if i == 1 else f"{base}-{i}"
        store = root.child(candidate)
        if store.make_exclusive():
            return store, candidate
    raise RunInputError("no free folder name for this run", run=name, field="name", code=Code.LIMIT)


def check_root(root: Store, name: str, kind: str = "run") -> None:
    """Raise RunInputError (field ``root``) naming ``name`` if ``root`` is a run folder, not a
    results folder: runs written into it would hide inside that run. Once per writer (its
    constructor), not per run it reserves.

    Args:
        root: the results folder.
        name: the run's (or experiment's) name.
        kind: ``"run"`` or ``"experiment"``, for the messages.

    Raises:
        StoreError: the storage cannot be reached or refused the read (naming the results
            folder and ``name``).
    """
    try:
        root.check_access()
        holds = holds_run_json(root)
    except StoreError as exc:
        if exc.code == Code.UNSAFE:
            raise
        why = exc.message if exc.field in (root.url, "url", None) else exc.reason()
        raise StoreError(
            f"cannot start {kind} {name!r} in {root.url}: {why}", field="root", code=exc.code
        ) from None
    if holds:
        raise RunInputError(
            f"{root.url} is a run folder, not a results folder: write runs next to it, in its "
            "results folder",
            run=name,
            field="root",
        )


def clear_for(root: Store, name: str) -> None:
    """Remove the run that ``name``'s id names in ``root`` (``if_exists="overwrite"``), after
    checking it is a run no live writer holds.

    Raises:
        RunInputError: ``name``'s id is not a run (no run.json file, or a link leading outside
            ``root``; it is left alone), it holds files its writer did not make
            (:func:`refuse_added_files`), or (BUSY) a live writer holds it.
        StoreError: the storage refused.
    """
    run_id = run_id_for(name)
    old = root.child(run_id)
    try:
        if not old.contains():
            return
        is_run = holds_run_json(old)
    except StoreError as exc:
        if exc.code != Code.UNSAFE:
            raise
        is_run, why = False, "a symlink that leads outside the results folder"
    else:
        why = "without a run.json file"
    if not is_run and not aborted_creation(old):
        raise RunInputError(
            f"{run_id!r} in {root.url} is not a run ({why}): it is left alone (remove it or "
            "pick another name)",
            run=name,
            field="if_exists",
        )
    refuse_added_files(old, name)
    lock.take_to_remove(old, run_id)
    try:
        old.remove(recursive=True)
    except BaseException:
        lock.release(old)
        raise


def remove_run(folder: Store) -> None:
    """Remove the run folder ``folder`` (``animlib rm``) after the checks an overwrite makes:
    it holds a run.json, no file its writer did not make, and no live writer holds it (a
    killed writer's run may go: its lock is taken over).

    Raises:
        RunInputError: (field ``path``) not a run, or files its writer did not make are in it;
            (BUSY) a live writer holds it.
        StoreError: the storage refused.
    """
    if not holds_run_json(folder) and not aborted_creation(folder):
        raise RunInputError(
            f"{folder.url} is not a run (no run.json file): it is left alone",
            run=folder.name,
            field="path",
        )
    if added := added_files(folder):
        shown = ", ".join(added[:3]) + (f" and {len(added) - 3} more" if len(added) > 3 else "")
        raise RunInputError(
            f"the run folder {folder.url} holds files its writer did not make ({shown}): "
            "nothing was removed (move them out of the run folder first)",
            run=folder.name,
            field="path",
        )
    locked = True
    try:
        lock.acquire(folder, folder.name)  # (BUSY: a live writer; a killed one's taken over)
    except StoreError as exc:
        if not disk_full(exc):
            raise
        # a full disk (what removing runs is for) stores no lock: nor can a writer start
        lock.refuse_held(folder, folder.name)
        locked = False
    try:
        folder.remove(recursive=True)
    except BaseException:
        if locked:
            lock.release(folder)
        raise


def added_files(folder: Store) -> list[str]:
    """The files in the run folder ``folder`` that its writer did not make (a user's notes,
    their own renders), sorted; an overwrite or a demo rebuild never removes such a folder.

    Raises:
        StoreError: the folder cannot be listed.
    """
    return sorted(f for f in folder.find("") if not WRITER_FILE.fullmatch(f))


def refuse_added_files(folder: Store, run: str) -> None:
    """Raise RunInputError (field ``if_exists``) naming ``run`` and a few of the files in its
    run folder ``folder`` that its writer did not make: an overwrite would delete them.

    Raises:
        StoreError: the folder cannot be listed.
    """
    if not (added := added_files(folder)):
        return
    shown = ", ".join(added[:3]) + (f" and {len(added) - 3} more" if len(added) > 3 else "")
    raise RunInputError(
        f"the run folder {folder.url} holds files its writer did not make ({shown}): "
        "'overwrite' would delete them, so nothing was removed (move them out of the run "
        "folder, or pass if_exists='new' to write beside it)",
        run=run,
        field="if_exists",
    )


EMPTY_AFTER_S = 10.0  # an empty run folder this old is no writer's that is creating it now


def aborted_creation(folder: Store, *, empty_after: float = EMPTY_AFTER_S) -> bool:
    """True if the folder ``folder`` holds only what a writer makes before its run.json
    (:func:`animlib.lock.creation_files_only`: a run.json among its files is not), or nothing
    at all for ``empty_after`` seconds (0: the caller knows no writer is making it): a writer
    killed while it created the run. An overwrite and ``rm`` remove it (unless its writer
    lives: its lock refuses them)."""
    try:
        if files := folder.find(""):
            return lock.creation_files_only(files)
        made = folder.write_time("").split(":")[0]  # (local folders: "mtime_ns:size")
        age = time.time() - int(made) / 1e9 if made.isdigit() else 0.0
        return (age > empty_after or not empty_after) and not folder.list("")
    except StoreError:
        return False


def holds_run_json(folder: Store) -> bool:
    """True if ``folder`` holds a readable run.json file (not a folder of that name)."""
    try:
        folder.read(M.RUN_JSON, limit=1)
        return True
    except StoreError as exc:
        if exc.code == Code.MISSING:
            return False
        raise


def write_original(store: Store, original: np.ndarray) -> None:
    """Store the clean image as the array ``original`` (one chunk, bytes + zstd)."""
    h, w, c = original.shape
    sep = store.chunk_separator
    fill = 0 if original.dtype == np.uint8 else 0.0
    meta = array_meta((w, c), h, original.dtype.name, fill, plain_codecs(original.dtype.name), sep)
    meta["shape"] = [h, w, c]
    key = f"original/c{sep}0{sep}0{sep}0"
    parts = key.split("/")
    for depth in range(1, len(parts)):  # "original", and with nested keys c, c/0, c/0/0
        store.make_folder("/".join(parts[:depth]))
    store.write_atomic(key, encode_plain(original, meta["codecs"]))
    store.write_atomic("original/zarr.json", json.dumps(meta).encode())


def remove_leftovers(store: Store) -> list[str]:
    """Remove what a killed writer left in the run folder (``.tmp-*``, ``*.partial``).

    Returns:
        The paths removed.

    Raises:
        StoreError: one could not be removed.
    """
    removed = []
    for path in store.find(""):
        base = path.rsplit("/", 1)[-1]
        if base.startswith(LEFTOVER_PREFIXES) or base.endswith(LEFTOVER_SUFFIXES):
            try:
                store.remove(path)
            except StoreError as exc:
                raise exc.with_run(store.name) from None
            removed.append(path)
    return removed
