"""RunWriter: append one attack step at a time to a run folder (Zarr arrays + atomic run.json)."""

from __future__ import annotations

import numbers
import os
import secrets
import threading
from typing import Any

import numpy as np

from . import meta as M
from .appender import RunAppender, Step
from .arrays import (
    layout_problem,
    normalize_confidences,
    normalize_image,
    normalize_scalar,
    scalar_name_problem,
)
from .caller import warn_caller
from .errors import AnimlibError, Code, RunInputError
from .limits import check_classes, check_json_depth, check_side, check_steps
from .open_writers import error_text, going_on, track, untrack
from .params import params_problem
from .run_folder import IF_EXISTS, check_root, clear_for
from .store import Store, open_store
from .store.paths import run_id_for
from .text import short_repr

CHUNK_TARGET_BYTES = 4 * 2**20  # raw bytes of one images chunk (stored far smaller)
CHUNK_TARGET_VALUES = 2**20  # pixel values of one images chunk: reading a step decodes it whole
MAX_CHUNK_STEPS = 32


def steps_per_chunk(step_nbytes: int, cap: int = MAX_CHUNK_STEPS, values: int | None = None) -> int:
    """How many steps share one images chunk: about ``CHUNK_TARGET_BYTES`` of raw data and
    ``CHUNK_TARGET_VALUES`` pixel values, 1 to ``cap`` steps."""
    by_values = CHUNK_TARGET_VALUES // max(1, values) if values else cap
    return int(max(1, min(cap, CHUNK_TARGET_BYTES // max(1, step_nbytes), by_values)))


def image_chunk_steps(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Steps per images chunk for (H, W, C) images of ``dtype``."""
    values = int(np.prod(shape))
    return steps_per_chunk(values * np.dtype(dtype).itemsize, values=values)


def _kept_steps_problem(steps: Any) -> str | None:
    """What is wrong with ``steps`` of :meth:`RunWriter.resume` (None: nothing, or not given)."""
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        return f"must be a whole number of steps to keep (at least 1); got {steps!r}"
    if steps < 1:
        return f"must be at least 1 (the number of first steps to keep); got {steps}"
    return None


class RunWriter:
    """Write one run: ``with RunWriter("runs", name=...) as w: w.log(image=x, confidences=p)``.

    The run folder (its id) is derived from ``name``, made safe for paths and unique in
    ``root``. Every ``log`` call checks its input completely before writing anything, so a
    bad step raises :class:`~animlib.errors.RunInputError` and leaves earlier steps intact.
    Each ``log`` writes its step before returning, all or nothing: readers see every step whose
    ``log`` call has returned, and a ``log`` that raised (bad input, a storage error) leaves
    the run exactly as it was, so the caller may retry it. Leaving the ``with`` block normally
    marks the run ``finished``; an exception marks it ``failed``; a writer never closed is closed
    at interpreter exit (:mod:`animlib.open_writers`). A writer may be shared by
    threads: their steps are stored one at a time, in the order the calls take its lock.
    ``fields`` adds keys of your own to run.json from its first version on (JSON-ready values;
    the format's own keys are refused). ``if_exists`` says what happens when a run with this
    id is already in ``root``: ``"new"`` (default) writes under ``{id}-2``, ``-3``, ...;
    ``"overwrite"`` removes that run first (refused if a live writer holds it, the folder is
    not a run, or it holds files its writer did not make); ``"error"`` raises
    :class:`~animlib.errors.RunInputError`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | Store,
        name: str,
        *,
        attack: str | None = None,
        model: str | None = None,
        class_names: list[str] | None = None,
        true_label: int | None = None,
        target_label: int | None = None,
        params: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        original: Any = None,
        layout: str = "auto",
        storage_options: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
        if_exists: str = "new",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise RunInputError(f"must be a non-empty string; got {name!r}", field="name")
        if "\x00" in name:
            raise RunInputError("contains a NUL byte", run=name, field="name")
        if problem := layout_problem(layout):
            raise RunInputError(problem, run=name, field="layout")
        if problem := M.text_fields_problem(attack=attack, model=model):
            raise RunInputError(problem[1], run=name, field=problem[0])
        if if_exists not in IF_EXISTS:
            raise RunInputError(
                f"must be one of {', '.join(IF_EXISTS)}; got {if_exists!r}",
                run=name,
                field="if_exists",
            )
        self.name = name
        self._layout = layout
        if class_names is not None:
            class_names = [str(c) for c in to_list(class_names, "class_names", name)]
            if not class_names:
                raise RunInputError("must not be empty", run=name, field="class_names")
            check_classes(len(class_names), run=name, field="class_names", error=RunInputError)
        true_label = _label(true_label, "true_label", name)
        target_label = _label(target_label, "target_label", name)
        n = len(class_names) if class_names else None
        M.check_labels(class_names, true_label, target_label, n, RunInputError, name)
        if params is not None and not isinstance(params, dict):
            raise RunInputError("must be a dict", run=name, field="params")
        check_json_depth(params, run=name, field="params", error=RunInputError)  # before any folder
        if problem := params_problem(params or {}):
            raise RunInputError(problem[1], run=name, field=problem[0])
        tags = [str(t) for t in to_list(tags or [], "tags", name)]
        self._original = None
        if original is not None:
            try:
                self._original = normalize_image(original, layout=layout, field="original")
            except AnimlibError as exc:
                raise exc.with_run(name) from None
            _check_side(self._original.shape, name, "original")
            self._original = self._original.copy()
        created = M.now_iso()
        meta: dict[str, Any] = {
            "format_version": M.FORMAT_VERSION,
            "name": name,
            "attack": attack,
            "model": model,
            "params": params or {},
            "class_names": class_names,
            "true_label": true_label,
            "target_label": target_label,
            "status": "running",
            "created": created,
            "updated": created,
            "run_uid": secrets.token_hex(8),  # this run, not an earlier one at its path (the cache)
            "steps": 0,
            "tags": tags,
            "image_shape": None,
            "image_dtype": None,
            "summary": {},
            "original_sha1": M.original_sha1(self._original),
        }
        meta.update(_extra_fields(fields, name))
        root_store = open_store(root, storage_options)
        self._app = _create(root_store, name, meta, self._original, if_exists)
        self._store = self._app.store
        self.run_id = self._app.run_id
        self._lock = threading.Lock()
        self._closing = False
        track(self, (root_store.url, name), self.run_id)

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike[str] | Store,
        *,
        storage_options: dict[str, Any] | None = None,
        steps: int | None = None,
        fields: dict[str, Any] | None = None,
        layout: str = "auto",
    ) -> RunWriter:
        """Re-open an existing run (e.g. after its writer was killed) and append after its last
        complete step; what the killed writer left half-written (``.tmp-*``, ``*.partial``) is
        removed.

        Args:
            path: The run folder (local path or fsspec URL).
            storage_options: fsspec options for remote folders.
            steps: Keep only the first ``steps`` steps (a whole number, at least one); later
                ones are dropped. More steps than the run holds keep them all.
            fields: Extra run.json fields to set (JSON-ready; checked as by the constructor).
            layout: Layout of the images passed to later :meth:`log` calls, as for the
                constructor (give the one the run was started with: "auto" reads a square
                CHW image as HWC).

        Returns:
            A writer positioned after the run's last complete step (its :attr:`next_step`).

        Raises:
            RunInputError: (BUSY) another live writer holds the run, or bad ``steps`` or
                ``fields`` (nothing is changed).
            RunFormatError: the run cannot be read.
        """
        store = open_store(path, storage_options)
        if problem := layout_problem(layout):
            raise RunInputError(problem, run=store.name, field="layout")
        if problem := _kept_steps_problem(steps):
            raise RunInputError(problem, run=store.name, field="steps")
        fields = _extra_fields(fields, store.name)
        self = cls.__new__(cls)
        keep = None if steps is None else int(steps)
        self._app = RunAppender.resume(store, image_chunk_steps, keep=keep, fields=fields)
        self._store = store
        self.run_id = self._app.run_id
        self.name = self._app.meta["name"]
        self._layout = layout
        self._original = self._app.original
        self._lock = threading.Lock()
        self._closing = False
        track(self)
        return self

    # -- public API -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Where the run folder is (a local path or an fsspec URL)."""
        return self._store.url

    path = url

    @property
    def meta(self) -> dict[str, Any]:
        """The run's metadata: run.json's keys, ``steps`` and ``summary`` as of the last step
        (keys added here are written with the next step). ``params`` and ``fields`` hold
        the values as given (a tensor, an ``np.float32``; a resumed run's as read back):
        run.json stores them encoded (plain numbers, lists, text), as
        ``animlib.open_run(w.url).meta`` reads them back."""
        return self._app.meta

    @property
    def appender(self) -> RunAppender:
        """The storage engine of this run (a BatchWriter buffers steps through it)."""
        return self._app

    def __len__(self) -> int:
        return self._app.n

    def __repr__(self) -> str:
        """``RunWriter(id=..., steps=N, status=..., url=...)``: ``running`` while open, then
        ``finished`` or ``failed`` (``closed``: it logged no step, so nothing was kept)."""
        if "_app" not in self.__dict__:  # (a resume that failed half-way: shown in a debugger)
            return short_repr("RunWriter", id=getattr(self, "run_id", None), status="not opened")
        status = "closed" if self._app.closed and not len(self) else self.meta.get("status")
        return short_repr("RunWriter", id=self.run_id, steps=len(self), status=status, url=self.url)

    @property
    def next_step(self) -> int:
        """The step the next :meth:`log` writes (the steps logged so far): after
        :meth:`resume`, where to continue the attack from."""
        return self._app.n

    def log(
        self,
        image: Any = None,
        confidences: Any = None,
        *,
        logits: Any = None,
        layout: str | None = None,
        **scalars: Any,
    ) -> int:
        """Append one step and write it before returning.

        Args:
            image: (H, W), (H, W, C) or (C, H, W); uint8 or float in [0, 1]; numpy or torch.
            confidences: (K,) probabilities, or None.
            logits: (K,) logits instead of confidences (softmax is applied).
            layout: ``"auto"``, ``"HWC"``, ``"CHW"`` or ``"HW"`` (default: the writer's).
            **scalars: named numbers of this step (``loss=...``).

        Returns:
            The index of the step.

        Raises:
            RunInputError: bad input (nothing is written), or the writer is closed (CLOSED).
            StoreError: the storage refused the write; the run is as it was before the call.
        """
        going_on()  # (a sys.exit caught and dropped before this step ends nothing)
        with self._lock:
            if self._closing:
                raise RunInputError(
                    "this writer is closed", run=self.run_id, field="log", code=Code.CLOSED
                )
            try:
                img, conf, values = self._prepare(
                    image, confidences, logits, layout or self._layout, scalars
                )
            except AnimlibError as exc:
                raise exc.with_run(self.run_id) from None
            self._app.append(Step(img, conf, values))  # written before log returns: no copy
            try:
                self._app.flush()
            except BaseException as exc:
                self._app.discard_pending()
                if isinstance(exc, AnimlibError):
                    raise exc.with_run(self.run_id) from None
                raise
            return self._app.n - 1

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Mark the run finished (or failed) and close it. Nothing happens once it succeeded;
        after a failure (a storage error) it may be called again.

        Args:
            status: ``"finished"`` or ``"failed"``.
            error: A message stored with a failed run.

        Raises:
            StoreError: the storage refused a write, or the run folder was removed (MISSING).
        """
        status = M.end_status(status, self.run_id)  # (refused: the writer stays open)
        with self._lock:
            self._closing = True
            try:
                self._app.finish(status, error)
            except AnimlibError as exc:
                raise exc.with_run(self.run_id) from None
        untrack(self)
        if status == "finished" and len(self) == 0 and not self._store.contains(M.RUN_JSON):
            # (a finished run of zero steps read as broken; a failed one was removed already)
            warn_caller(f"run {self.run_id!r} logged no step: nothing was kept")

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc_type is None:
            self.finish("finished")
            return False
        try:
            self.finish("failed", error=error_text(exc))
        except AnimlibError as failed:  # keep the caller's exception; say why closing failed
            if isinstance(exc, BaseException):
                exc.add_note(f"animlib could not mark the run failed: {failed}")
        return False

    # -- internals --------------------------------------------------------------------------
    def _prepare(self, image, confidences, logits, layout, scalars):
        if image is None:
            raise RunInputError("every step needs an image", field="image")
        img = normalize_image(image, layout=layout, field="image")
        self._check_image(img)
        conf = self._prepare_confidences(confidences, logits)
        values = {}
        for key, value in scalars.items():
            if problem := scalar_name_problem(key, ("images", "original", "confidences")):
                raise RunInputError(problem, field=key)
            values[key] = normalize_scalar(value, field=key)
        check_steps(len(self) + 1, field="steps", error=RunInputError)
        return img, conf, values

    def _check_image(self, img: np.ndarray) -> None:
        """Refuse a step image whose size, shape or dtype differs from the run's."""
        _check_side(img.shape, None, "image")
        want = self.meta["image_shape"] if len(self) else None
        if want is not None and list(img.shape) != want:
            raise RunInputError(
                f"step {len(self)} has shape {img.shape} but earlier steps have {tuple(want)}",
                field="image",
                code=Code.MISMATCH,
            )
        if want is not None and str(img.dtype) != self.meta["image_dtype"]:
            raise RunInputError(
                f"step {len(self)} is {img.dtype} but earlier steps are {self.meta['image_dtype']}",
                field="image",
                code=Code.MISMATCH,
            )
        original = self._original
        if original is not None and img.shape != original.shape:
            raise RunInputError(
                f"shape {img.shape} differs from the original's {original.shape}",
                field="image",
                code=Code.MISMATCH,
            )
        if original is not None and img.dtype != original.dtype:
            raise RunInputError(
                f"dtype {img.dtype} differs from the original's {original.dtype}"
                + (  # the usual case: a dataset's uint8 image attacked in floats
                    " (pass the original as float32 in [0, 1]: original / 255)"
                    if original.dtype == np.uint8
                    else ""
                ),
                field="image",
                code=Code.MISMATCH,
            )

    def _prepare_confidences(self, confidences: Any, logits: Any) -> np.ndarray | None:
        """The step's (K,) probabilities (softmax of ``logits``), checked against the run."""
        if confidences is not None and logits is not None:
            raise RunInputError("pass confidences or logits, not both", field="confidences")
        conf = None
        if confidences is not None or logits is not None:
            names = self.meta["class_names"]
            given = "confidences" if logits is None else "logits"
            conf = normalize_confidences(
                confidences if logits is None else logits,
                n_classes=len(names) if names else self._app.n_classes(),
                field=given,
                logits=logits is not None,
            )
            check_classes(len(conf), field=given, error=RunInputError)
            for field in ("true_label", "target_label"):
                label = self.meta[field]
                if label is not None and label >= len(conf):
                    raise RunInputError(
                        f"{label} is out of range for {len(conf)} classes", field=field
                    )
        has_conf = self._app.has_confidences()
        if has_conf is not None and (conf is not None) != has_conf:
            have = "logs" if has_conf else "does not log"
            raise RunInputError(
                f"step {len(self)}: this run {have} confidences; every step must do the same",
                field="confidences",
                code=Code.MISMATCH,
            )
        return conf


# run.json's keys that the writer owns: ``fields`` may not set them
OWN_FIELDS = frozenset(
    ("format_version", "name", "attack", "model", "params", "class_names", "true_label",
     "target_label", "status", "created", "updated", "run_uid", "steps", "tags", "image_shape",
     "image_dtype", "summary", "original_sha1", "arrays", "error", "steps_dropped")
)  # fmt: skip


def _create(
    root: Store, name: str, meta: dict[str, Any], original: np.ndarray | None, if_exists: str
) -> RunAppender:
    """The new run's appender, after removing the old run for ``if_exists="overwrite"``."""
    check_root(root, name)
    if if_exists == "overwrite":
        clear_for(root, name)
    try:
        return RunAppender.create(
            root, name, meta, original, image_chunk_steps, exact=if_exists != "new"
        )
    except RunInputError as exc:
        if if_exists != "overwrite" or exc.field != "if_exists":
            raise
        raise RunInputError(
            f"{run_id_for(name)!r} in {root.url} is taken: another writer started a run with "
            "this id meanwhile, or the name is no folder (a broken link?); nothing was written",
            run=name,
            field="if_exists",
            code=Code.BUSY,
        ) from None


def _extra_fields(fields: Any, run: str) -> dict[str, Any]:
    """``fields`` checked as extra run.json keys: a dict of JSON-ready values whose keys are
    not the format's own."""
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise RunInputError("must be a dict", run=run, field="fields")
    taken = sorted(k for k in fields if k in OWN_FIELDS)
    if taken or not all(isinstance(k, str) for k in fields):
        what = f"{taken[0]!r} is a run.json field of its own" if taken else "keys must be text"
        raise RunInputError(what, run=run, field="fields")
    check_json_depth(fields, run=run, field="fields", error=RunInputError)
    if problem := params_problem(fields, "fields"):
        raise RunInputError(problem[1], run=run, field=problem[0])
    return dict(fields)


def _check_side(shape: tuple[int, ...], run: str | None, field: str) -> None:
    check_side(shape[0], shape[1], run=run, field=field, error=RunInputError)


def to_list(value: Any, field: str, run: str) -> list:
    """Accept a list/tuple/array of items; reject strings and other scalars clearly."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise RunInputError(f"must be a list; got {type(value).__name__}", run=run, field=field)
    return list(value)


def _label(value: Any, field: str, run: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise RunInputError(f"must be an integer class index; got {value!r}", run=run, field=field)
    if hasattr(value, "item") and not isinstance(value, (int, np.integer)):
        value = value.item()  # (a 0-d tensor; a bool one is refused below, as a plain bool)
    if isinstance(value, bool):
        raise RunInputError(f"must be an integer class index; got {value!r}", run=run, field=field)
    if isinstance(value, float) and value.is_integer():  # 6.0, as BatchWriter takes labels too
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise RunInputError(f"must be an integer class index; got {value!r}", run=run, field=field)
    return int(value)
