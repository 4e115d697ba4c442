"""Tags added to or removed from a run after it ended: its run.json rewritten under its lock."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from . import lock
from . import meta as M
from .errors import Code, RunInputError
from .limits import check_run_json_size
from .store import Store, open_store
from .text import comma_list


def tag_list(tags: str | Sequence[str] | None, run: str = "") -> list[str]:
    """The tags asked for: a list, or one comma-separated string (as the CLI takes them),
    each stripped; empty ones dropped, the order kept, repeats once.

    Raises:
        RunInputError: (INVALID, field ``tags``) not a string or a list of strings.
    """
    if (names := comma_list(tags)) is None:
        raise RunInputError(
            f"must be a list of strings or 'a,b'; got {tags!r}", run=run, field="tags"
        )
    return names


def retag(
    run: str | os.PathLike[str] | Store,
    *,
    add: str | Sequence[str] | None = None,
    remove: str | Sequence[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """Add ``add`` to a finished (or failed) run's tags and take ``remove`` out, as W&B edits
    a run's tags after it ended: run.json is rewritten atomically while the run's writer lock
    is held (no writer can resume the run meanwhile), every other byte of it as it was.

    Args:
        run: The run folder (a path, an fsspec URL or a Store).
        add: Tags to add (those it has already stay where they are).
        remove: Tags to take out (those it lacks are ignored).
        storage_options: fsspec options for a URL.

    Returns:
        The run's tags now.

    Raises:
        RunInputError: (BUSY) the run is still running, or a live writer holds it; (INVALID)
            bad tags; (LIMIT) run.json would grow over its limit (nothing is changed).
        RunFormatError: the run's run.json cannot be read.
    """
    return retag_changes(run, add=add, remove=remove, storage_options=storage_options)[1]


def retag_changes(
    run: str | os.PathLike[str] | Store,
    *,
    add: str | Sequence[str] | None = None,
    remove: str | Sequence[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> tuple[list[str], list[str]]:
    """:func:`retag`, returning the run's tags before and after (read under the lock)."""
    from .reader import open_run

    store = open_store(run, storage_options)
    add, gone = tag_list(add, store.name), set(tag_list(remove, store.name))
    # (a list names tags as a writer stored them too: " a,b ", "")
    exact = set(remove) if remove is not None and not isinstance(remove, str) else set()
    _refuse_running(open_run(store).meta, store.name)  # (a killed writer's lock stays)
    mine = lock.acquire(store, store.name)
    try:
        meta = M.loads(store.read(M.RUN_JSON), store.name)  # (read again under the lock)
        M.check_meta(dict(meta), store.name)
        _refuse_running(meta, store.name)
        old = list(meta.get("tags") or [])
        tags = [t for t in old if t not in exact and t.strip() not in gone]
        tags += [t for t in add if t not in tags]
        if tags != old:
            meta["tags"] = tags
            data = M.dumps(meta)
            check_run_json_size(len(data), run=store.name, field="tags", error=RunInputError)
            store.write_atomic(M.RUN_JSON, data)
    finally:
        lock.release(store, mine=mine)
    return old, tags


def _refuse_running(meta: dict[str, Any], run: str) -> None:
    if meta.get("status") == "running":
        raise RunInputError(
            "is still running (or its writer was killed: resume or remove it first); tag it "
            "once it has finished",
            run=run,
            field="status",
            code=Code.BUSY,
        )
