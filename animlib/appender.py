"""RunAppender: one run's steps buffered in memory and flushed to storage all or nothing."""

# A flush writes, in order: the chunks holding the buffered steps (each whole and atomically: a
# reader sees old or new bytes, both with the same earlier steps), the arrays' zarr.json when their
# shape grows, run.json LAST (atomically). Readers trust its ``steps``: they see complete steps
# only, and a failed flush leaves the run as readable as before (a retry writes the kept buffer).

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import lock
from . import meta as M
from .array_appender import STEP_CODECS, ArrayAppender, ArrayPlan, Row, array_meta, plain_codecs
from .errors import Code, StoreError
from .meta_encoder import MetaEncoder
from .run_folder import GROUP_META, remove_leftovers, reserve, write_original
from .stepsplit import Prepared
from .store import Store
from .summary import SummaryAccumulator, kept_steps_meta
from .summary_fill import check_appendable, complete_meta

NORMS_EVERY = 1.0  # seconds between perturbation-norm updates while running (always at the end)
SCALAR_ROWS = 1024  # steps per chunk of a scalar series
ImageRows = Callable[[tuple[int, ...], np.dtype], int]  # steps per images chunk


def confidence_rows(k: int) -> int:
    """Steps per confidences chunk: about 64 KiB of probabilities, 16 to 1024 steps."""
    return int(max(16, min(1024, 65536 // (4 * k))))


@dataclass
class Step:
    """One buffered step: the checked (H, W, C) uint8/float32 image (never changed again) or it
    :class:`~animlib.stepsplit.Prepared` for its codec, (K,) probabilities or None, scalars."""

    image: np.ndarray | Prepared
    conf: np.ndarray | None
    scalars: dict[str, float]
    done: Callable[[], None] | None = None  # called once the step is stored

    @functools.cached_property
    def nbytes(self) -> int:  # (counted when buffered and again when stored)
        return self.image.nbytes + (0 if self.conf is None else self.conf.nbytes)


class RunAppender:
    """Appends steps to one run folder: :meth:`append` buffers, :meth:`flush` writes.

    Thread-safe: steps may be appended from one thread while another flushes; flushes and
    :meth:`finish` run one at a time.
    """

    def __init__(
        self,
        store: Store,
        meta: dict[str, Any],
        *,
        original: np.ndarray | None,
        image_rows: ImageRows,
        created_here: bool = False,
        arrays: dict[str, ArrayAppender] | None = None,
        last: np.ndarray | None = None,
        encoder: MetaEncoder | None = None,
    ) -> None:
        self.store = store
        self._sep = store.chunk_separator  # of the chunk keys of the arrays it creates
        self.run_id = store.name
        self.meta = meta
        self.closed = False
        self._original = original
        self._image_rows = image_rows
        self._created_here = created_here
        self._held: bytes | None = None  # the writer lock this writer took (lock.acquire)
        self._arrays = arrays or {}
        self._summary = SummaryAccumulator(
            meta.get("true_label"),
            meta.get("target_label"),
            original,
            steps=int(meta["steps"]),
            stored=meta.get("summary") or {},
        )
        self._last: np.ndarray | Prepared | None = last
        self._norms = (time.monotonic(), int(meta["steps"]))  # when, at how many steps
        self._pending: list[Step | dict[str, Any]] = []  # steps, and notes for run.json
        self.pending_steps = 0  # buffered, not yet flushed (read by others, changed here only)
        self.pending_bytes = 0  # the memory those steps hold
        self._lock = threading.Lock()  # the buffer
        self._flush_lock = threading.RLock()  # one flush or finish at a time
        self._encoder = encoder or MetaEncoder()
        self._prepared = False  # the group and ``original`` are written (see :meth:`prepare`)

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: Store,
        name: str,
        meta: dict[str, Any],
        original: np.ndarray | None,
        image_rows: ImageRows,
        exact: bool = False,
    ) -> RunAppender:
        """Reserve a new run folder for ``name`` in ``root`` (its id: ``name`` made safe and
        unique; ``exact``: that id or an error), take its writer lock and write run.json (zero
        steps); the arrays (and ``original``) come with the first flush. On any failure nothing
        is left behind (as far as storage allows).

        Raises:
            RunInputError: run.json too large (nothing is written), or an ``exact`` id taken.
            StoreError: the storage refused a write.
        """
        encoder = MetaEncoder()
        encoder.encode(meta, name)  # an oversized run.json is refused before storage is touched
        root.makedirs()
        store, run_id = reserve(root, name, exact=exact)
        try:
            held = lock.acquire(store, run_id)
            app = cls(
                store,
                meta,
                original=original,
                image_rows=image_rows,
                created_here=True,
                encoder=encoder,
            )
            app._held = held
            app.store.write_atomic(M.RUN_JSON, app.encode_meta(meta))
        except BaseException:
            try:
                store.remove(recursive=True)
            except StoreError:
                pass
            raise
        return app

    @classmethod
    def resume(
        cls,
        store: Store,
        image_rows: ImageRows,
        *,
        keep: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> RunAppender:
        """Re-open an existing run to append after its last complete step (or after step
        ``keep``: later steps are dropped); removes what a killed writer left (``.tmp-*``,
        ``*.partial``). ``fields`` are set in run.json. Raises:
            RunFormatError: the run cannot be read, or uses a layout this module cannot append
                to; RunInputError (BUSY): another live writer holds it.
        """
        from .reader import open_run

        held = lock.acquire(store, open_run(store).id)  # (a missing or broken run: no lock)
        try:
            run = open_run(store)  # (read again under the lock: a retag meanwhile is kept)
            remove_leftovers(store)
            n = len(run) if keep is None else max(1, min(keep, len(run)))
            arrays = {}
            for path in ["images", "confidences", *(f"scalars/{k}" for k in run.scalars)]:
                if path == "confidences" and not run.has_confidences:
                    continue
                meta = json.loads(store.read(f"{path}/zarr.json"))
                check_appendable(run.id, path, meta)
                arr = ArrayAppender(path, meta, n=n, length=int(meta["shape"][0]))
                start = n // arr.rows * arr.rows
                if path.startswith("scalars/"):
                    values = list(run.scalars[path[8:]][start:n])
                else:
                    values = list(run.read_steps(path, start, n))
                arr.open_rows = [arr.row(v) for v in values]
                arrays[path] = arr
            last = run.images[n - 1]
            meta = dict(run.meta, status="running", steps=n, **(fields or {}))
            meta.pop("error", None)
            if n < len(run):  # steps dropped: the summary of the steps kept, and a mark
                meta.update(kept_steps_meta(run, n, last, M.now_iso()))
            complete_meta(meta, run, n, last)  # (what another tool's run.json lacks)
            app = cls(
                store, meta, original=run.original, image_rows=image_rows, arrays=arrays, last=last
            )
            app._held = held
            store.write_atomic(M.RUN_JSON, app.encode_meta(meta))
        except BaseException:
            lock.release(store)
            raise
        return app

    # -- what is buffered and stored -----------------------------------------------------------
    @property
    def n(self) -> int:
        """Steps stored (run.json ``steps``)."""
        return int(self.meta["steps"])

    @property
    def original(self) -> np.ndarray | None:
        """The clean image of the run (None when it stored none)."""
        return self._original

    def has_confidences(self) -> bool | None:
        """Whether the run logs confidences (None before its first step)."""
        if "images" in self._arrays:
            return "confidences" in self._arrays
        first = self._first_pending()
        return None if first is None else first.conf is not None

    def n_classes(self) -> int | None:
        """K, once the first step with confidences is buffered or stored."""
        arr = self._arrays.get("confidences")
        if arr is not None:
            return int(arr.chunk_shape[1])
        first = self._first_pending()
        return None if first is None or first.conf is None else len(first.conf)

    def _first_pending(self) -> Step | None:
        with self._lock:
            return next((x for x in self._pending if isinstance(x, Step)), None)

    # -- appending -------------------------------------------------------------------------------
    def append(self, step: Step) -> None:
        """Buffer one checked step (written by the next :meth:`flush`)."""
        with self._lock:
            self._pending.append(step)
            self.pending_steps += 1
            self.pending_bytes += step.nbytes

    def note(self, fields: dict[str, Any]) -> None:
        """Fields for run.json that hold once the steps buffered so far are stored (they are
        written with them, by the next flush, even if no step follows)."""
        with self._lock:
            self._pending.append(dict(fields))

    def discard_pending(self) -> None:
        """Forget the buffered steps (a synchronous writer whose flush failed)."""
        with self._lock:
            self._pending.clear()
            self.pending_steps = self.pending_bytes = 0

    def prepare(self) -> None:
        """Do ahead of the first flush what it would do first: write what it never rewrites
        (the Zarr group, the clean image ``original``), make the folders of the arrays the
        first buffered step needs, and the temporary files of the chunks, zarr.json and
        run.json it writes (:meth:`~animlib.store.Store.reserve_temp`; creating files is most
        of its cost). Until that flush run.json lists none of them (it is written last), so
        readers see the run as before. Does nothing before the first step is buffered or once
        one is stored.

        Raises:
            StoreError: a write failed, or the run folder was removed (MISSING).
        """
        with self._flush_lock:
            first = self._first_pending()
            if self.closed or self._prepared or "images" in self._arrays or first is None:
                return
            self._check_folder()
            self._write_static()
            for arr in self._first_arrays(first).values():
                self.store.make_folder(arr.path)
                self.store.reserve_temp(arr.key(0))
                self.store.reserve_temp(f"{arr.path}/zarr.json")
            self.store.reserve_temp(M.RUN_JSON)

    def flush(self, *, final: bool = False) -> int:
        """Write every buffered step; return how many. All or nothing: on failure the stored
        run is as readable as before and the steps stay buffered. ``final``: no step follows
        (the arrays take their exact shapes now, not at :meth:`finish`).

        Raises:
            StoreError: a write failed, or the run folder was removed (MISSING).
            RunInputError: run.json would exceed the size limit (LIMIT)."""
        with self._flush_lock:
            return self._flush(None, final=final)

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Write what is buffered, cut the arrays to the steps stored, mark the run ``status``
        and drop the lock, in one pass. A run made here that stored no step is removed.
        Retryable after a failure; does nothing once it succeeded.

        Raises:
            StoreError: a write failed, or the run folder was removed (MISSING).
        """
        with self._flush_lock:
            if self.closed:
                return
            if self.n == self.pending_steps == 0 and self._created_here:  # nothing to keep
                self._remove_empty()
            else:
                end = {"status": status, **({"error": error[:2000]} if error else {})}
                self._flush(end)
                self.store.drop_temps()
                lock.release(self.store, mine=self._held)
            self.closed = True

    # -- the flush protocol ----------------------------------------------------------------------
    def _flush(self, end: dict[str, Any] | None, *, final: bool = False) -> int:
        """Write the buffered steps (and with ``end``, the final status and exact shapes)."""
        with self._lock:
            items = list(self._pending)
        if not items and end is None:
            return 0
        steps = [x for x in items if isinstance(x, Step)]
        notes: dict[str, Any] = {}
        for x in items:
            if not isinstance(x, Step):
                notes.update(x)
        self._check_folder()
        plans, new = self._plan(steps, final=final or end is not None)
        meta, summary, norms = self._next_meta(steps, new, {**notes, **(end or {})}, end)
        data = self.encode_meta(meta)
        self._write(plans, new)
        self.store.write_atomic(M.RUN_JSON, data)
        for plan in plans:
            plan.array.commit(plan)
        self._arrays.update(new)
        self.meta, self._summary = meta, summary
        if steps and self._original is not None:  # for the norms at the end (a copy: the
            last = steps[-1].image  # caller of a RunWriter may reuse its array)
            self._last = last if isinstance(last, Prepared) else np.array(last)
        if norms:
            self._norms = (time.monotonic(), self.n)
        with self._lock:
            del self._pending[: len(items)]
            self.pending_steps -= len(steps)
            self.pending_bytes -= sum(s.nbytes for s in steps)
        for step in steps:
            if step.done is not None:
                step.done()
        return len(steps)

    # -- internals -----------------------------------------------------------------------------
    def _check_folder(self) -> None:
        """Raise StoreError MISSING if the run folder is gone, or replaced by another run (its
        lock is not this writer's): never rebuild part of it, never write into another run."""
        try:
            there = self._held is not None and lock.holds(self.store, self._held)
        except StoreError as exc:
            raise exc.with_run(self.run_id) from None
        if not there:
            raise StoreError(
                "the run folder was removed or replaced while this writer was open; nothing "
                "more is written",
                run=self.run_id,
                field="path",
                code=Code.MISSING,
            )

    def _plan(
        self, steps: list[Step], *, final: bool
    ) -> tuple[list[ArrayPlan], dict[str, ArrayAppender]]:
        new = self._first_arrays(steps[0]) if "images" not in self._arrays and steps else {}
        names = sorted({key for s in steps for key in s.scalars})
        for name in names:
            path = f"scalars/{name}"
            if path not in self._arrays:
                meta = array_meta(
                    (), SCALAR_ROWS, "float64", "NaN", plain_codecs("float64"), self._sep
                )
                arr = ArrayAppender(path, meta, n=self.n, late=self.n > 0)
                arr.open_rows = [Row(np.nan)] * (self.n % SCALAR_ROWS)
                new[path] = arr
        plans = []
        for path, arr in {**self._arrays, **new}.items():
            if path == "images":
                values: list[Any] = [s.image for s in steps]
            elif path == "confidences":
                values = [s.conf for s in steps]
            else:
                values = [s.scalars.get(path[8:], np.nan) for s in steps]
            plans.append(arr.plan(values, final=final))
        return plans, new

    def _first_arrays(self, first: Step) -> dict[str, ArrayAppender]:
        """The arrays the first step creates: images, and confidences when it has them."""
        img = first.image
        dtype = img.dtype
        rows = self._image_rows(img.shape, dtype)
        fill = 0 if dtype == np.uint8 else 0.0
        meta = array_meta(img.shape, rows, dtype.name, fill, STEP_CODECS, self._sep)
        new = {"images": ArrayAppender("images", meta)}
        if first.conf is not None:
            k = len(first.conf)
            codecs = plain_codecs("float32")
            meta = array_meta((k,), confidence_rows(k), "float32", 0.0, codecs, self._sep)
            new["confidences"] = ArrayAppender("confidences", meta)
        return new

    def _next_meta(
        self,
        steps: list[Step],
        new: dict[str, ArrayAppender],
        fields: dict[str, Any],
        end: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], SummaryAccumulator, bool]:
        summary = self._summary.copy()
        has_conf = "confidences" in self._arrays or "confidences" in new
        conf = np.stack([s.conf for s in steps]) if has_conf and steps else None
        summary.add_steps(conf, None, count=len(steps))
        last = steps[-1].image if steps else self._last
        norms = self._original is not None and last is not None
        norms = norms and (
            end is not None or self.n == 0 or time.monotonic() - self._norms[0] >= NORMS_EVERY
        )
        if norms and (steps or self._norms[1] != self.n):
            summary.note_image(last.image() if isinstance(last, Prepared) else last)
        meta = dict(self.meta)
        meta.update(steps=self.n + len(steps), updated=M.now_iso(), summary=summary.stored())
        meta.update(fields)
        if "images" in new:
            img = steps[0].image
            meta["image_shape"] = list(img.shape)
            meta["image_dtype"] = str(img.dtype)
            arrays = ["images"] + ["confidences"] * has_conf
            meta["arrays"] = arrays + ["original"] * (self._original is not None)
            if has_conf and meta.get("class_names") is None:
                meta["class_names"] = [str(i) for i in range(len(steps[0].conf))]
        return meta, summary, norms

    def _write(self, plans: list[ArrayPlan], new: dict[str, ArrayAppender]) -> None:
        """Folders, then chunk files, then array metadata (run.json comes after, last)."""
        if "images" in new and not self._prepared:  # the first steps: these come first
            self._write_static()
        new_group = any(p.startswith("scalars/") for p in new) and not any(
            p.startswith("scalars/") for p in self._arrays
        )
        if new_group:
            self.store.make_folder("scalars")
        for plan in plans:
            for folder in plan.folders:
                self.store.make_folder(folder)
        for plan in plans:
            for key, data in plan.writes:
                self.store.write_atomic(key, data)
        if new_group:
            self.store.write_atomic("scalars/zarr.json", GROUP_META)
        for plan in plans:
            if plan.meta is not None:
                self.store.write_atomic(f"{plan.array.path}/zarr.json", plan.meta)

    def _write_static(self) -> None:
        """The Zarr group and the clean image, written once, before any array."""
        self.store.write_atomic("zarr.json", GROUP_META)
        if self._original is not None:
            write_original(self.store, self._original)
        self._prepared = True

    def encode_meta(self, meta: dict[str, Any]) -> bytes:
        """run.json bytes for ``meta`` (see :class:`MetaEncoder`)."""
        return self._encoder.encode(meta, self.run_id)

    def _remove_empty(self) -> None:
        """A run that failed before its first step is removed: nothing half-written stays."""
        try:
            self.store.remove(recursive=True)
        except StoreError:
            meta = dict(self.meta, status="failed")
            self.store.write_atomic(M.RUN_JSON, self.encode_meta(meta))
            self.meta = meta
            lock.release(self.store)
