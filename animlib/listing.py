"""List the runs in a results folder from their run.json files alone (no array is read)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import meta as M
from .errors import AnimlibError, Code, RunFormatError, StoreError
from .lock import creation_files_only
from .settings import held
from .store import Store, open_store
from .store.paths import RESULTS_FOLDER, RUN_ID_RULE, is_run_id, unsafe_link
from .summary_fill import fill_summaries
from .text import printable, short_repr


class Verdict:
    """What a row of a listing and a validation report share: a run ``id`` that is ``ok``
    unless it has an ``error``, and its line for a terminal."""

    id: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line for a terminal: ``OK      id`` and :meth:`details`, or
        ``BROKEN  id: reason`` (control characters escaped)."""
        if self.ok:
            return f"OK      {printable(self.id)}{self.details()}"
        return f"BROKEN  {printable(self.id)}: {printable(self.error)}"

    def details(self) -> str:
        """What the line of a good run says after its id (here: nothing)."""
        return ""


@dataclass(repr=False)
class RunInfo(Verdict):
    """One row of a results folder: a run's metadata, or the reason it is broken (``error``,
    with the ``field`` and ``code`` of the problem)."""

    id: str
    url: str
    meta: dict[str, Any] | None = None
    error: str | None = None
    field: str | None = None
    code: Code | None = None

    def __repr__(self) -> str:
        """One short line: ``RunInfo(id=..., status=..., steps=..., attack=...)``, with the
        name when it is not the id and a broken run's ``error`` (not the whole run.json)."""
        name = self.get("name")
        return short_repr(
            "RunInfo",
            id=self.id,
            name=None if name == self.id else name,
            status=self.get("status"),
            steps=self.get("steps"),
            attack=self.get("attack"),
            error=self.error,
        )

    @property
    def name(self) -> str:
        return (self.meta or {}).get("name") or self.id

    def get(self, key: str, default: Any = None) -> Any:
        return (self.meta or {}).get(key, default)

    @classmethod
    def broken(cls, run_id: str, url: str, exc: AnimlibError) -> RunInfo:
        """The row of a run whose run.json is broken in the way ``exc`` says."""
        reason = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return cls(run_id, url, error=reason, field=exc.field, code=exc.code)


ARRAY_NAMES = ("images", "confidences", "original", "scalars", "zarr.json")


def missing_meta_reason(store: Store) -> str:
    """Why the run folder ``store`` has no run.json: a stray folder, a half-copied run, a dead
    writer."""
    try:
        held = [entry.name for entry in store.list()]
    except StoreError:
        held = []
    arrays = [name for name in held if name in ARRAY_NAMES]
    if arrays:
        return (
            "run.json is missing but the folder holds run arrays "
            f"({', '.join(arrays)}): a half-copied run or a deleted run.json"
        )
    if held and creation_files_only(held):  # (its lock, a temporary run.json)
        return (
            "run.json is missing: a writer created this folder and stopped before writing it "
            "(once that writer is gone, animlib rm or if_exists='overwrite' removes it)"
        )
    visible = [printable(name) for name in held if not name.startswith(".")]
    if _is_render_cache(visible):
        return (
            "not a run: a render cache of animlib (older versions let ANIMLIB_CACHE point "
            "inside the results folder): move it out of the results folder, or delete it"
        )
    if visible:
        more = f" and {len(visible) - 5} more" if len(visible) > 5 else ""
        return f"not a run: run.json is missing (the folder holds {', '.join(visible[:5])}{more})"
    return "not a run: run.json is missing (the folder is empty)"


def _is_render_cache(names: list[str]) -> bool:
    """True if ``names`` (a folder's visible entries) are a render cache's: renders or player
    strips, and its run index (``index``)."""
    from .cache.keys import is_entry

    entries = [name for name in names if name != "index"]
    return bool(entries) and all(is_entry(name) for name in entries)


def missing_meta_error(store: Store, run_id: str) -> RunFormatError:
    """The error of the run folder ``store`` (run ``run_id``) read without a run.json: a file in
    its place (field ``path``, code NOT_FOUND), else why run.json is missing (code MISSING)."""
    try:
        store.list()
    except StoreError as exc:
        if exc.code == Code.INVALID:  # (listing a file: "is not a folder")
            return RunFormatError(
                "is a file, not a run folder", run=run_id, field="path", code=Code.NOT_FOUND
            )
    return RunFormatError(
        missing_meta_reason(store), run=run_id, field=M.RUN_JSON, code=Code.MISSING
    )


def _read_error(root: Store, run_id: str, exc: StoreError) -> AnimlibError:
    if exc.code == Code.UNSAFE:  # the entry is relative to root: "<id>" or "<id>/run.json"
        entry = (exc.field or "").removeprefix(run_id).lstrip("/")
        return unsafe_link(entry, RESULTS_FOLDER, run_id)
    if exc.code == Code.MISSING:
        return missing_meta_error(root.child(run_id), run_id)
    # (STORAGE: the storage failed, e.g. too many open files; no verdict on the run, which
    # the run index reads again next time)
    code = Code.STORAGE if exc.code == Code.STORAGE else Code.INVALID
    return RunFormatError(
        f"cannot be read ({exc.message})", run=run_id, field=M.RUN_JSON, code=code
    )


def _info_from_bytes(root: Store, run_id: str, raw: bytes | StoreError) -> RunInfo:
    url = root.url_of(run_id)
    if isinstance(raw, StoreError):
        return RunInfo.broken(run_id, url, _read_error(root, run_id, raw))
    try:
        meta = M.read_meta(raw, run_id)
    except AnimlibError as exc:
        return RunInfo.broken(run_id, url, exc)
    except Exception as exc:  # never let one odd run.json break the listing of the others
        msg = f"cannot be checked ({type(exc).__name__})"
        return RunInfo.broken(run_id, url, RunFormatError(msg, field=M.RUN_JSON))
    if meta["steps"] == 0 and meta["status"] != "running":
        empty = RunFormatError("the run has zero steps", field="steps", code=Code.EMPTY)
        return RunInfo(run_id, url, meta, error=empty.reason(), field="steps", code=Code.EMPTY)
    return RunInfo(run_id, url, meta)


def folder_error(store: Store, exc: StoreError) -> RunFormatError:
    """The error for a results folder that cannot be listed.

    Args:
        store: the results folder.
        exc: what listing it raised.

    Returns:
        A RunFormatError naming the folder, with the code of ``exc`` (NOT_FOUND: missing,
        INVALID: a file, others: unreadable).
    """
    if exc.code == Code.NOT_FOUND:
        from .near_names import did_you_mean

        msg = "results folder does not exist" + did_you_mean(store)
    else:
        msg = "is not a folder" if exc.code == Code.INVALID else exc.message
    return RunFormatError(msg, field=store.url, code=exc.code)


def folder_problem(exc: BaseException, where: str) -> str:
    """Why the results folder ``where`` cannot be listed, to show after "Cannot list runs in
    WHERE:" (an error that names the folder itself gives its message alone: the URL once)."""
    own = (where.rstrip("/"), os.path.abspath(where))
    if isinstance(exc, AnimlibError) and (exc.field or "").rstrip("/") in own:
        return printable(exc.message)
    return printable(exc)


def check_results_folder(store: Store) -> None:
    """Raise RunFormatError if ``store`` is a run folder (it holds run.json), not a results
    folder: listed as one, its arrays would read as half-copied runs.

    Args:
        store: the folder given as a results folder.

    Raises:
        RunFormatError: code INVALID, naming the folder.
    """
    try:
        store.read(M.RUN_JSON, limit=1)  # (one request on object stores: a GET)
    except StoreError:  # none (or unreadable, linked, a folder: listing says what is wrong)
        return
    raise RunFormatError(
        "is a run folder (it holds run.json), not a results folder: give the folder that "
        "holds it (validate and render take a run folder too)",
        field=store.url,
        code=Code.INVALID,
    )


def unsafe_name(name: str) -> RunFormatError:
    """The error of a run folder whose name is no run id (listed as broken, not shown)."""
    msg = (
        f"folder name {printable(repr(name))} is not a safe run id ({RUN_ID_RULE}): "
        "rename the folder to show the run"
    )
    return RunFormatError(msg, field="id", code=Code.UNSAFE)


def read_infos(store: Store, names: Iterable[str]) -> list[RunInfo]:
    """The rows of some run folders, from their run.json alone.

    One batched read (concurrent on object stores and for large local batches); folder names
    that are not plain run ids are listed as broken without reading anything, and nothing is
    read through a symlink leading outside ``store``.

    Args:
        store: the results folder.
        names: names of run folders in it.

    Returns:
        One RunInfo per name (broken ones with ``error``, ``field`` and ``code``).
    """
    infos: list[RunInfo] = []
    readable = []
    for name in names:
        if is_run_id(name):
            readable.append(name)
        else:
            infos.append(RunInfo.broken(name, store.url_of(name), unsafe_name(name)))
    raws = store.read_many(f"{name}/{M.RUN_JSON}" for name in readable)
    with held():  # the limits are read from the environment once for the whole batch
        for name in readable:
            infos.append(_info_from_bytes(store, name, raws[f"{name}/{M.RUN_JSON}"]))
    fill_summaries(store, infos)  # (what another tool's run.json lacks)
    return infos


def list_runs(
    root: str | os.PathLike[str] | Store, *, storage_options: dict[str, Any] | None = None
) -> list[RunInfo]:
    """Every run folder in ``root``, newest first; broken ones carry ``error`` instead of raising.

    Served by the run index (:mod:`animlib.index`): a listing of the folder with each
    run.json's size/mtime (local) or ETag (object stores), then only the run.json files that
    are new or changed since the last call are read (the index is kept in the cache folder,
    never in ``root``). Hidden entries (leading dot) and plain files are skipped; folder names
    that are not plain run ids are listed as broken, and nothing is read through a symlink
    leading outside ``root``. The ``meta`` dicts may be shared between calls: treat them as
    read-only.

    Args:
        root: the results folder (a path, an fsspec URL or a Store).
        storage_options: fsspec options for a URL (credentials, endpoint).

    Returns:
        One RunInfo per run folder.

    Raises:
        RunFormatError: ``root`` does not exist, is not a folder or cannot be listed.
    """
    from .index import open_index

    index = open_index(root, storage_options)
    index.refresh()
    return index.infos()


def folder_signature(
    root: str | os.PathLike[str] | Store, *, storage_options: dict[str, Any] | None = None
) -> str:
    """A cheap value that changes when runs are added, removed or updated (for listing caches)."""
    try:
        return open_store(root, storage_options).signature(M.RUN_JSON)
    except StoreError:
        return "missing"
