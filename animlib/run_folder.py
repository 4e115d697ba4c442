"""Run folder chores of writers: reserve an id, write the group and ``original``, tidy leftovers."""

from __future__ import annotations

import json

import numpy as np

from .array_appender import array_meta, encode_plain, plain_codecs
from .errors import Code, RunInputError, StoreError
from .store import Store
from .store.paths import run_id_for

GROUP_META = b'{"zarr_format": 3, "node_type": "group", "attributes": {}}\n'
LEFTOVER_PREFIXES = (".tmp-",)  # temporary files of an atomic write a SIGKILL interrupted
LEFTOVER_SUFFIXES = (".partial",)  # files of a download or render a SIGKILL interrupted


def reserve(root: Store, name: str) -> tuple[Store, str]:
    """Create a new run folder in ``root`` for ``name``: its id is ``name`` made safe for paths,
    with ``-2``, ``-3``, ... when taken.

    Returns:
        The run folder's store and its id.

    Raises:
        RunInputError: (LIMIT) no free id.
        StoreError: the storage refused.
    """
    base = run_id_for(name)
    for i in range(1, 10_000):
        candidate = base if i == 1 else f"{base}-{i}"
        store = root.child(candidate)
        if store.make_exclusive():
            return store, candidate
    raise RunInputError("no free folder name for this run", run=name, field="name", code=Code.LIMIT)


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
