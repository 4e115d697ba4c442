"""Open a stored run lazily: metadata at once, images one step at a time, confidences on demand."""

# :class:`Run` is the public read interface of a stored run: other modules use its properties and
# accessors (``has_array``, ``array_info``, ``array_json``, ``image_nbytes``, ``read_steps``,
# ``missing_chunks``, ``scalar_names``, ``chunk_signature``, ``reads``: what a run in object
# storage read, kept while it is open), never its private members.
#
# Every array's zarr.json is checked before Zarr reads anything (:mod:`animlib.arraymeta`), and
# every chunk read goes through :class:`animlib.chunkstore.CheckedStore`: a chunk file that is not
# stored is a RunFormatError (code MISSING) for every reader -- ``images[i]``, slices,
# ``confidences``, ``scalars``, ``original`` and so every render, snapshot and download -- never the
# fill value (zeros).

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from . import meta as M
from .arraymeta import MissingChunk
from .arrays import stored_probability_problem
from .errors import Code, RunFormatError, StoreError, found
from .image_steps import ImageSteps
from .read_errors import describe_read_error
from .run_reads import RunReads, run_json_or_none, scalar_names_in
from .store import LocalStore, Store, open_store
from .store.paths import RESULTS_FOLDER, RUN_FOLDER, check_run_id, unsafe_link

ARRAYS = ("images", "confidences", "original")  # the arrays a run may list in run.json
MAX_CHUNK_GRID = 1_000_000  # chunk grids larger than this are not listed for missing chunks


@dataclass(frozen=True)
class ArrayInfo:
    """What the metadata of a stored array says (nothing of its data is read)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _from_meta(key: str, empty: Callable[[], Any] | None = None, *, doc: str) -> Any:
    """A read-only property of a :class:`Run`: ``key`` of its run.json, None when absent (with
    ``empty``, a fresh ``empty()`` when absent or empty)."""

    def get(run: Run) -> Any:
        value = run.meta.get(key)
        return empty() if empty is not None and not value else value

    return property(get, doc=doc)


class Run:
    """A stored run. Cheap to open; arrays are read only when asked for.

    A snapshot as of :func:`open_run`: a run still being written shows the steps it had then
    (``len(run)``, renders, metrics); open it again for the steps logged since.

    ``where`` names the folder the run is confined to in messages: the results folder for a
    run opened by id, the run folder for a run opened by path.
    """

    def __init__(
        self, store: Store, meta: dict[str, Any], raw_meta: bytes, *, where: str = RUN_FOLDER
    ) -> None:
        self.store = store
        self.id = store.name
        self.meta = meta
        self.where = where
        self._raw_meta = raw_meta
        self._zarr_store = None
        self._arrays: dict[str, Any] = {}
        self._array_docs: dict[str, bytes | StoreError] = {}  # zarr.json read (or missing)
        self._scalar_names: list[str] | None = None
        self._checked = False  # check_arrays has passed (it runs before the first array read)
        self._checking = False  # the thread holding _check_lock is inside check_arrays
        self._check_lock = threading.RLock()
        remote = not isinstance(store, LocalStore)  # (chunks, listings: kept)
        self.reads = RunReads(remote, store=store, uid=meta.get("run_uid"))
        self.images = ImageSteps(self)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_check_lock"]  # (a lock does not pickle; a copy gets its own)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._check_lock = threading.RLock()

    # -- metadata ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.store.url

    @property
    def name(self) -> str:
        return self.meta["name"]

    attack = _from_meta("attack", doc="The attack's name (str), or None.")
    model = _from_meta("model", doc="The model's name (str), or None.")
    params = _from_meta("params", dict, doc="The attack's parameters (a dict, {} if none).")
    tags = _from_meta("tags", list, doc="The run's tags (a list of str, [] if none).")
    true_label = _from_meta("true_label", doc="The true class (an int), or None.")
    target_label = _from_meta("target_label", doc="The target class (an int), or None.")
    summary = _from_meta("summary", dict, doc="The attack summary (a dict, {} if none).")

    @property
    def status(self) -> str:
        return self.meta["status"]

    @property
    def class_names(self) -> list[str] | None:
        return self.meta.get("class_names") if self.has_confidences else None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array_info("images").shape[1:])

    @property
    def image_nbytes(self) -> int:
        """Bytes of image data the run's complete steps hold (from array metadata)."""
        info = self.array_info("images")
        return len(self) * math.prod(info.shape[1:]) * info.dtype.itemsize

    @property
    def fingerprint(self) -> str:
        """Changes whenever the run's content changes (used as a cache key): run.json but its
        tags (labels, drawn nowhere: ``animlib tag`` must not make every video render again),
        when the images were written (a run overwritten within a second has the same run.json)
        and each array's metadata."""
        shown = {key: value for key, value in self.meta.items() if key != "tags"}
        h = hashlib.sha256(json.dumps(shown, sort_keys=True, separators=(",", ":")).encode())
        for name in ARRAYS:
            try:
                h.update(self.array_json(name))
            except StoreError as exc:
                if exc.code == Code.UNSAFE:  # (before any other read: the run is named)
                    raise self._error(exc, name, "") from None
                h.update(b"-")
        written = self.store.write_time("images/zarr.json") or self.store.write_time(M.RUN_JSON)
        h.update(written.encode())
        return h.hexdigest()[:32]

    def __len__(self) -> int:
        return int(self.meta["steps"])

    def reopen(self) -> Run:
        """The run as stored now (a new :class:`Run`): what a deferred read (a download made
        when clicked) takes, as this snapshot reads later chunks of a run overwritten since."""
        return _open(self.store, self.where)

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, name={self.name!r}, steps={len(self)}, status={self.status!r})"

    # -- arrays: the public accessors -----------------------------------------------------------
    def has_array(self, name: str) -> bool:
        """True if the array ``name`` is stored; False if it is absent. A damaged one raises."""
        return found(lambda: self._array(name), RunFormatError)

    def array_json(self, name: str) -> bytes:
        """The bytes of ``name/zarr.json``, read once per Run object (its arrays, its
        :attr:`fingerprint` and the chunk reader share them: over object storage each read is
        a round trip). StoreError as :meth:`Store.read` raises it; only MISSING is kept."""
        if (got := self._array_docs.get(name)) is None:
            try:
                got = self.store.read(f"{name}/zarr.json")
            except StoreError as exc:
                if exc.code != Code.MISSING:  # (a storage failure: read again next time)
                    raise
                got = exc
            self._array_docs[name] = got
        if isinstance(got, StoreError):
            raise got.with_traceback(None)
        return got

    def array_info(self, name: str) -> ArrayInfo:
        """Shape, dtype and chunk shape of the stored array ``name`` (RunFormatError MISSING if
        absent)."""
        arr = self._array(name)
        return ArrayInfo(
            name, tuple(int(s) for s in arr.shape), np.dtype(arr.dtype), tuple(arr.chunks)
        )

    def read_steps(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the array ``name`` (steps of ``images``/``confidences``); a
        chunk that cannot be decoded raises RunFormatError naming the steps."""
        arr = self._array(name)
        try:
            return np.asarray(arr[start:stop])
        except Exception as exc:  # named by the whole chunks read, as a deep check names them
            rows = int(arr.chunks[0]) or 1
            first, last = start // rows * rows, min(-(-stop // rows) * rows, int(arr.shape[0])) - 1
            what = f"step {first}" if first == last else f"steps {first}..{last}"
            raise self._error(exc, name, f"{what} cannot be read") from None

    def missing_chunks(self, limit: int | None = None) -> list[MissingChunk]:
        """Chunk files of complete steps (and of ``original``) that are not stored, found by
        one listing per array (a missing chunk would read back as zeros). Up to ``limit``."""
        found: list[MissingChunk] = []
        names = [n for n in ARRAYS if n == "images" or self.has_array(n)]
        for name in names + [f"scalars/{key}" for key in self.scalar_names()]:
            for gap in self._missing_in(name):
                found.append(gap)
                if limit is not None and len(found) >= limit:
                    return found
        return found

    def _missing_in(self, name: str):
        arr = self._array(name)
        try:
            encode = arr.metadata.chunk_key_encoding.encode_chunk_key
            grid = list(arr.cdata_shape)
        except AttributeError:  # not a Zarr v3 array: nothing to compare against
            return
        rows = int(arr.chunks[0]) if arr.ndim else 1
        if name != "original":
            grid[0] = math.ceil(len(self) / max(rows, 1))
        if math.prod(grid) > MAX_CHUNK_GRID:
            return
        try:
            present = set(self.reads.listing(self.store, name))
        except StoreError as exc:
            raise self._error(exc, name, "cannot be listed") from None
        for coords in itertools.product(*(range(g) for g in grid)):
            key = encode(coords)
            if key not in present:
                steps = None
                if name != "original":
                    first = coords[0] * rows
                    steps = (first, min(len(self), first + rows) - 1)
                yield MissingChunk(name, key, steps)

    @cached_property
    def has_confidences(self) -> bool:
        return self.has_array("confidences")

    @cached_property
    def confidences(self) -> np.ndarray | None:
        """(steps, K) float32 probabilities, or None for runs without a classifier."""
        if not self.has_confidences:
            return None
        data = np.asarray(self.read_steps("confidences", 0, len(self)), dtype=np.float32)
        problem = stored_probability_problem(data)  # (animlib's writers store none such)
        if problem is not None:  # (render drew another tool's logits: "pred: 7 (828.4%)")
            raise RunFormatError(problem, run=self.id, field="confidences", code=Code.INVALID)
        return data

    @cached_property
    def original(self) -> np.ndarray | None:
        """The clean image (H, W, C), or None when the run stored none."""
        if not self.has_array("original"):
            return None
        try:
            return np.asarray(self._array("original")[...])
        except Exception as exc:
            raise self._error(exc, "original", "cannot be read") from None

    @cached_property
    def scalars(self) -> dict[str, np.ndarray]:
        """Named per-step scalar series (loss, norms, ...)."""
        out = {}
        for key in self.scalar_names():
            series = np.asarray(self.read_steps(f"scalars/{key}", 0, len(self)), np.float64)
            if len(series) < len(self):  # (a writer pads a series it stopped logging with NaN)
                raise RunFormatError(
                    f"holds {len(series)} steps but run.json says {len(self)}",
                    run=self.id,
                    field=f"scalars/{key}",
                    code=Code.MISMATCH,
                )
            out[key] = series
        return out

    def scalar_names(self) -> list[str]:
        """Names of the stored scalar series (a run without scalars has none); looked up
        once per Run object."""
        if self._scalar_names is None:
            self._scalar_names = self._find_scalar_names()
        return list(self._scalar_names)

    def _find_scalar_names(self) -> list[str]:
        try:
            if self.reads.enabled:  # (object storage: from the one listing of scalars/)
                return scalar_names_in(self.reads.listing(self.store, "scalars"))
            entries = self.store.list("scalars")  # (its group's zarr.json may be missing)
        except StoreError as exc:
            if exc.code in (Code.NOT_FOUND, Code.INVALID):  # no scalars folder (or a file)
                return []
            raise self._error(exc, "scalars", "cannot be read") from None
        names = [e.name for e in entries if e.is_dir and e.name.isidentifier()]
        return [n for n in names if self._contains(f"scalars/{n}/zarr.json", "scalars")]

    def chunk_signature(self) -> str:
        """Changes when a chunk file is added, removed or written, or put back by a copy
        keeping its mtime (``cp -a``): one listing per array with each file's version tag
        (local: inode, mtime, size, ctime; object stores: ETag and size), no data read. With
        :attr:`fingerprint`, the key of a cached check of this run."""
        h = hashlib.sha256()
        for name in ("images", "confidences", "original", "scalars"):
            try:
                found = self.reads.tagged_listing(self.store, name)
            except StoreError as exc:
                raise self._error(exc, name, "cannot be listed") from None
            h.update(f"{name}:{len(found)}:".encode())
            h.update("\n".join(f"{file} {tag}" for file, tag in found).encode())
        return h.hexdigest()[:32]

    def check_arrays(self) -> None:
        """Cheap structural check from array metadata only (no image data is read). A run is
        checked before any of its arrays is read (:func:`open_run` checks it at once)."""
        if self._checked:
            return
        from .validation import check_structure

        # one thread checks; another one reading meanwhile (a renderer's reader thread, a
        # second dashboard session) waits for the outcome instead of reading unchecked arrays
        with self._check_lock:
            if self._checked or self._checking:  # (the check reads metadata through _array)
                return
            self._checking = True
            try:
                check_structure(self)
                self._checked = True
            finally:
                self._checking = False

    # -- internals --------------------------------------------------------------------------
    def _error(self, exc: BaseException, field: str, what: str) -> RunFormatError:
        """The RunFormatError for ``exc`` met while reading ``field``: a link leading outside
        (UNSAFE, naming the entry), a storage failure (its code), or undecodable bytes
        (CORRUPT)."""
        if isinstance(exc, StoreError) and exc.code == Code.UNSAFE:
            return unsafe_link(exc.field or "", self.where, self.id)
        try:  # a run written again since its opening is said to be that, not damaged
            self.reads.same_run(now=True)
        except RunFormatError as replaced:
            return replaced
        if isinstance(exc, RunFormatError):
            return exc.with_traceback(None)  # (not the frames of Zarr it came through)
        if isinstance(exc, StoreError):
            text = f"{what} ({exc.message})" if what else exc.message
            return RunFormatError(text, run=self.id, field=field, code=exc.code)
        self.reads.forget()  # (bytes that did not decode: not served again)
        text = f"{what} ({describe_read_error(exc)})" if what else describe_read_error(exc)
        return RunFormatError(text, run=self.id, field=field, code=Code.CORRUPT)

    def _contains(self, path: str, field: str) -> bool:
        try:
            return self.store.contains(path)
        except StoreError as exc:
            raise self._error(exc, field, "cannot be read") from None

    def _zarr(self):
        """The checked Zarr store of this run (see :mod:`animlib.chunkstore`)."""
        if self._zarr_store is None:
            from . import zarr_codec
            from .chunkstore import CheckedStore

            zarr_codec.register()  # arrays written with the animlib.steps codec
            try:
                inner = self.store.zarr_store(read_only=True)
            except Exception as exc:
                raise self._error(exc, "zarr.json", "no readable Zarr store") from None
            self._zarr_store = CheckedStore(inner, run=self.id, steps=len(self), reads=self.reads)
        return self._zarr_store

    def _array(self, name: str):
        """The Zarr array ``name``, opened from its zarr.json after checking it against what
        animlib writes and the limits (:mod:`animlib.arraymeta`); nothing else is read."""
        if not self._checked:
            self.check_arrays()
        if name not in self._arrays:
            meta_path = f"{name}/zarr.json"
            try:
                raw = self.array_json(name)
            except StoreError as exc:
                if exc.code == Code.MISSING:
                    raise RunFormatError(
                        "array is missing", run=self.id, field=name, code=Code.MISSING
                    ) from None
                raise self._error(exc, name, f"array metadata {meta_path} cannot be read") from None
            try:
                self._arrays[name] = self._zarr().open_array(name, raw)
            except Exception as exc:
                raise self._error(exc, name, f"array metadata {meta_path} cannot be read") from None
        return self._arrays[name]


def read_meta(store: Store, *, where: str = RUN_FOLDER) -> tuple[dict[str, Any], bytes]:
    """Read and check ``run.json`` of the run folder ``store``."""
    run_id = store.name
    try:
        raw = store.read(M.RUN_JSON)
    except StoreError as exc:
        if exc.code == Code.UNSAFE:
            raise unsafe_link(exc.field or "", where, run_id) from None
        if exc.code == Code.MISSING:
            from .listing import missing_meta_error

            raise missing_meta_error(store, run_id) from None
        raise RunFormatError(
            f"cannot be read ({exc.message})", run=run_id, field=M.RUN_JSON, code=exc.code
        ) from None
    return M.read_meta(raw, run_id), raw


def confinement(store: Store) -> str:
    """What a run folder ``store`` is confined to, for messages: its results folder when it
    was opened as a child of one, else the run folder itself."""
    return RUN_FOLDER if store.confined_to == store.url else RESULTS_FOLDER


def peek_run(path: str | os.PathLike[str]) -> Run:
    """Open the run folder at ``path`` (local path or fsspec URL) as :func:`open_run` does,
    but leave the arrays' check to their first read: what a render-cache lookup needs (the
    run's :attr:`~Run.fingerprint` covers run.json and the arrays' zarr.json, so a render
    cached under it was made from a run that passed the check; a hit then never loads Zarr).
    A broken run.json raises here; broken arrays raise at the first array read. (Share a run
    between threads only once it is checked: :meth:`Run.check_arrays`.)"""
    store = open_store(path)
    return _open(store, confinement(store), check=False)


def _open(store: Store, where: str, *, check: bool = True) -> Run:
    if isinstance(store, LocalStore) or (raw := run_json_or_none(store)) is None:
        meta, raw = _checked_meta(store, where)
    else:  # (object storage: read at once; a run.json not read is told apart as below)
        meta = M.read_meta(raw, store.name)
    run = Run(store, meta, raw, where=where)
    if check:
        run.check_arrays()
    return run


def _checked_meta(store: Store, where: str) -> tuple[dict[str, Any], bytes]:
    """run.json of the run folder ``store`` once the folder is found (why not, if not)."""
    try:
        exists = store.contains()
    except StoreError as exc:
        if exc.code == Code.UNSAFE:
            raise unsafe_link(exc.field or "", where, store.name) from None
        raise exc.with_run(store.name) from None
    if not exists:
        from .near_names import did_you_mean

        raise RunFormatError(
            "no such run folder" + did_you_mean(store),
            run=store.name,
            field="path",
            code=Code.NOT_FOUND,
        )
    return read_meta(store, where=where)


def open_run(
    path: str | os.PathLike[str] | Store, *, storage_options: dict[str, Any] | None = None
) -> Run:
    """Open the run folder at ``path`` (a local path or fsspec URL) without reading any image.

    Nothing is read through a symlink leading outside the run folder (code UNSAFE). Raises
    :class:`~animlib.errors.RunFormatError` naming the run and the field if the run is broken.
    """
    store = open_store(path, storage_options)
    return _open(store, confinement(store))


def open_run_in(
    root: str | os.PathLike[str] | Store,
    run_id: str,
    *,
    storage_options: dict[str, Any] | None = None,
) -> Run:
    """Open run ``run_id`` inside the results folder ``root``, refusing unsafe ids.

    This is the entry point for ids typed by users (deep links, CLI): a run id is a plain name
    (letters, digits, ``._-``; see :mod:`animlib.store.paths`), anything else is refused with
    code UNSAFE before storage is touched; nothing is read through a symlink leading outside
    ``root``.
    """
    check_run_id(run_id)
    return _open(open_store(root, storage_options).child(run_id), RESULTS_FOLDER)
