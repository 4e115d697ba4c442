"""BatchWriter: log a whole batch per call; every sample is an ordinary run within an experiment."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from . import batch_input as B
from . import meta as M
from .batch_input import BatchStep, Blame, ExperimentInputError, run_id_for
from .errors import AnimlibError, Code, ExperimentStoreError
from .experiment_ids import (
    existing_runs,
    experiment_id,
    next_free,
    resolve_experiment_id,
    resumed_members,
    starting,
)
from .experiments import SAMPLES_FIELD
from .final_write import write_all
from .flusher import Flusher, shared_pool
from .interrupts import deferred_interrupt
from .limits import check_steps
from .listing import RunInfo
from .open_writers import error_text, going_on, track, untrack
from .params import params_problem
from .run_folder import IF_EXISTS
from .sample_sink import SampleSink, common_steps
from .settings import held
from .stepsplit import prepare_batch
from .text import short_repr

RETRIES = 5  # experiment ids tried when writers start one experiment at once


class BatchWriter:
    """Log a whole batch per call: ``with BatchWriter("runs", experiment=...) as w: w.log(...)``.

    Every sample of the batch is an ordinary run with id ``{experiment}-{sample_id:04d}`` whose
    run.json carries ``experiment`` and ``sample`` (the viewer, compare, render and validate work
    on it unchanged). Each :meth:`log` call checks the whole batch before writing anything and
    raises one :class:`~animlib.batch_input.ExperimentInputError` (a
    :class:`~animlib.RunInputError`) naming the experiment, the sample and the field. The sample
    runs are created with the first step, so a bad first batch leaves nothing behind. Steps are
    buffered and written in the background at most about a second after ``log`` returns (and
    by :meth:`flush` and on close): readers see each sample's steps within ~1 s, a SIGKILL loses
    at most that unwritten tail and never leaves a broken run, and a storage error met in the
    background is raised by the next ``log`` (or by closing; the steps stay buffered and are
    written again). Leaving the ``with`` block normally marks every run ``finished``; an
    exception marks them ``failed``; a writer never closed is closed at interpreter exit.

    Args:
        root: Results folder (local path or fsspec URL).
        experiment: Experiment name; its id is made safe for paths.
        attack: Attack name stored in every run.json.
        model: Model name stored in every run.json.
        class_names: K class names (optional; "0".."K-1" when confidences come without them).
        true_labels: (B,) true classes, or None.
        target_labels: (B,) target classes of a targeted attack, or None.
        params: Attack parameters (JSON-ready dict), the same for every sample.
        originals: (B, C, H, W) or (B, H, W, C) clean images, or None: step 0 (the clean
            input) is then each run's original.
        sample_ids: (B,) unique non-negative ints (e.g. dataset indices); default 0..B-1.
        tags: Free-form tags stored in every run.json.
        if_exists: When runs of this experiment exist: ``"new"`` picks a fresh experiment id
            (``name-2``, ...), ``"overwrite"`` replaces them (they are deleted when the first
            step is logged, after it is checked: until then they stay; refused if one holds
            files its writer did not make), ``"error"`` refuses.
        layout: ``"auto"``, ``"CHW"``, ``"HWC"`` or ``"HW"`` for images and originals.
        storage_options: fsspec options for remote results folders.

    Raises:
        ExperimentInputError: bad arguments, or existing runs with ``if_exists="error"``; (BUSY,
            here or at the first log) another writer is starting or writing this experiment.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        experiment: str,
        attack: str | None = None,
        model: str | None = None,
        class_names: list[str] | None = None,
        true_labels: Any = None,
        target_labels: Any = None,
        params: dict[str, Any] | None = None,
        originals: Any = None,
        sample_ids: Any = None,
        tags: list[str] | None = None,
        if_exists: str = "new",
        layout: str = "auto",
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        base, self._name = experiment_id(experiment), experiment
        blame = Blame(base)
        if if_exists not in IF_EXISTS:
            raise blame("if_exists", f"must be one of {', '.join(IF_EXISTS)}; got {if_exists!r}")
        B.check_layout(layout, blame)
        if problem := M.text_fields_problem(attack=attack, model=model):
            raise blame(*problem)
        if params is not None and not isinstance(params, dict):
            raise blame("params", "must be a dict")
        if problem := params_problem(params or {}):
            raise blame(*problem)
        if isinstance(tags, (str, bytes)):
            raise blame("tags", "must be a list of strings")
        self._class_names = B.class_names(class_names, blame)
        k = len(self._class_names) if self._class_names else None
        self._true = B.labels(true_labels, "true_labels", None, k, blame)
        b = None if self._true is None else len(self._true)
        self._target = B.labels(target_labels, "target_labels", b, k, blame)
        b = b if self._target is None else len(self._target)
        self._ids = B.sample_ids(sample_ids, b, blame)
        b = b if self._ids is None else len(self._ids)
        self._originals = None
        if originals is not None:
            # a copy: the caller's buffer (or the tensor's storage, which a CPU tensor's array
            # shares) may become the attack's random start before step 0
            self._originals = B.images(originals, layout, b, blame, field="originals").copy()
            b = len(self._originals)
        self._b, self._sized_by = b, list(blame.sized_by)  # (the argument that set B)
        if b is not None and self._ids is None:
            self._ids = np.arange(b, dtype=np.int64)
        B.warn_targets_equal_to_true(self._true, self._target, self._ids, blame.experiment)
        self._root = os.fspath(root) if isinstance(root, os.PathLike) else str(root)
        self._storage_options = storage_options
        self._layout = layout
        self._fields = {
            "attack": attack,
            "model": model,
            "params": dict(params or {}),
            "tags": [str(t) for t in (tags or [])],
        }
        self._k = k
        self._image_shape: tuple[int, ...] | None = None
        self._image_dtype: np.dtype | None = None
        self._has_conf: bool | None = None
        self._sinks: list[SampleSink] | None = None
        self._flusher: Flusher | None = None
        self._n = 0
        self._closed = self._finished = False
        self._failed: tuple[str, ExperimentStoreError] | None = None  # a failed final write
        self._lock = threading.Lock()
        self.experiment, self._replace = resolve_experiment_id(
            self._root, base, if_exists, storage_options
        )
        self._fresh, self._if_exists = if_exists == "new", if_exists
        track(self, (self._root, experiment), self.experiment)

    # -- public API -------------------------------------------------------------------------
    @property
    def batch_size(self) -> int | None:
        """B, the number of samples (None until known from labels, originals or the first log)."""
        return self._b

    @property
    def sample_ids(self) -> list[int]:
        """The sample id of each batch position."""
        return [] if self._ids is None else [int(i) for i in self._ids]

    @property
    def run_ids(self) -> list[str]:
        """The run id of each batch position: ``{experiment}-{sample_id:04d}``."""
        return [run_id_for(self.experiment, i) for i in self.sample_ids]

    @property
    def target_labels(self) -> list[int] | None:
        """The target class of each batch position (None: not a targeted attack's writer)."""
        return None if self._target is None else [int(v) for v in self._target]

    @property
    def root(self) -> str:
        """The results folder (local path or URL) holding the sample runs."""
        return self._root

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        """``BatchWriter(experiment=..., ..., status='open'|'closing'|'closed', root=...)``."""
        got = self.__dict__.get  # (a constructor or resume that failed half-way: in a debugger)
        closing = got("_closed", True) and not got("_finished", True) and got("_flusher")
        return short_repr(
            "BatchWriter",
            experiment=got("experiment"),
            samples=got("_b"),
            steps=got("_n"),
            status="closing" if closing else "closed" if got("_closed", True) else "open",
            root=got("_root"),
        )

    @property
    def next_step(self) -> int:
        """The step the next :meth:`log` writes: after :meth:`resume`, where to go on from."""
        return self._n

    def log(
        self,
        images: Any = None,
        confidences: Any = None,
        *,
        logits: Any = None,
        active: Any = None,
        **scalars: Any,
    ) -> int:
        """Append one step to every active sample's run.

        Args:
            images: (B, C, H, W), (B, H, W, C) or (B, H, W); uint8 or float in [0, 1]; numpy or
                torch tensors.
            confidences: (B, K) probabilities, or None.
            logits: (B, K) logits instead of confidences (softmax is applied).
            active: (B,) bool mask; samples with False are not logged at this step (they stopped
                early). Every sample must be logged at step 0.
            **scalars: per-sample (B,) values or one float for all (e.g. ``loss=...``).

        Returns:
            The index of this step (0 for the first call).

        Raises:
            ExperimentInputError: if anything in the batch is wrong; nothing is written then.
            StoreError: a background write failed since the last call (this step is not
                logged; the earlier ones stay buffered and are written again).
        """
        going_on()  # (a sys.exit caught and dropped before this step ends nothing)
        blame = self._blame()
        if self._closed:
            raise blame("log", "this writer is closed", code=Code.CLOSED)
        if images is None:
            raise blame("images", "every step needs images")
        if self._flusher is not None:
            self._flusher.check()
        with held():  # the limits, read from the environment once per call
            step = self._check(images, confidences, logits, active, scalars, blame)
        with self._lock:  # a finish in another thread (at exit: a daemon's log) waits for it
            if self._closed:
                raise blame("log", "this writer is closed", code=Code.CLOSED)
            # every sample gets the step, or none (the first: every run is made); Ctrl-C waits
            with deferred_interrupt(raise_it=False) as ctrl_c:
                self._open_sinks(step) if self._sinks is None else self._write(step)
                self._n += 1
        if self._flusher is not None:
            self._flusher.poke()
        if ctrl_c:
            raise KeyboardInterrupt  # (Ctrl-C, held back until the step reached every sample)
        return self._n - 1

    def flush(self) -> None:
        """Write every logged step now (the background does it at most ~1 s after each log).

        Raises:
            StoreError: a write failed (the steps stay buffered; a later flush retries them).
        """
        if self._flusher is not None:
            self._flusher.flush()

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Mark every sample run ``status`` (finished or failed) and close them. Safe twice.

        Args:
            status: ``"finished"`` or ``"failed"``.
            error: A message stored with failed runs.

        Raises:
            AnimlibError: the first error met while closing (every run is still tried; calling
                finish again retries the runs that could not be closed).
        """
        # whole: a Ctrl-C in the final write left runs `running` (a later finish: `finished`)
        with self._lock, deferred_interrupt(raise_it=False) as ctrl_c:
            self._finish(M.end_status(status), error)
        if ctrl_c:
            raise KeyboardInterrupt  # (Ctrl-C, held back until every run was closed)

    def _finish(self, status: str, error: str | None) -> None:
        if self._finished:
            return
        self._closed = True
        if self._flusher is None:
            self._finished = True
            untrack(self)
            return
        self._flusher.stop()
        if status == "finished":  # every step written before any sample is marked finished;
            # else none is, and a later call (the disk has room again) writes the rest
            self._failed = write_all(self._flusher, self.experiment, self._sinks, self._ids)
            if self._failed is not None:
                raise self._failed[1]
        elif self._failed is not None:  # (given up, or at exit: why it was not finished)
            error = self._failed[0]
        errors = self._flusher.each(lambda a: a.finish(status, error))
        if errors:
            raise errors[0]
        self._finished = True
        self._flusher.close()
        untrack(self)

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        status, error = ("finished", None) if exc_type is None else ("failed", error_text(exc))
        self.finish(status, error)
        return False

    @classmethod
    def resume(
        cls,
        root: str | os.PathLike[str],
        experiment: str,
        *,
        layout: str = "auto",
        storage_options: dict[str, Any] | None = None,
    ) -> BatchWriter:
        """Re-open every sample run of ``experiment`` (e.g. after a crash) to log more steps.

        Every sample run records in run.json how many of the experiment's steps it covers
        (``experiment_steps``) and at which experiment step each of its steps was logged
        (``experiment_index``). A kill can catch the background writer between samples, so
        resuming continues at the experiment step every sample has stored: steps a sample
        holds beyond it are dropped, and all samples stay aligned step for step (older runs:
        each sample at its own next step).

        Args:
            root: Results folder.
            experiment: The experiment id (as in run.json ``experiment``), or the name it was
                made from.
            layout: Layout of the images passed to later :meth:`log` calls.
            storage_options: fsspec options for remote results folders.

        Returns:
            A BatchWriter positioned after the last step every sample stored: its
            :attr:`next_step` is the step the next :meth:`log` writes.

        Raises:
            ExperimentInputError: no runs of that experiment, or another writer holds one.
        """
        B.check_layout(layout, Blame(experiment))
        root = os.fspath(root) if isinstance(root, os.PathLike) else str(root)
        listed = existing_runs(root, storage_options)
        experiment, infos = resumed_members(listed, experiment)
        B.check_resumable(experiment, root, infos, listed)
        B.warn_missing_runs(experiment, root, (infos[0].meta or {}).get(SAMPLES_FIELD), len(infos))
        self = cls.__new__(cls)
        self._adopt(root, experiment, infos, layout, storage_options)
        return self

    # -- internals --------------------------------------------------------------------------
    def _blame(self) -> Blame:
        return Blame(self.experiment, self._ids, self._sized_by)

    def _adopt(
        self,
        root: str,
        experiment: str,
        infos: list[RunInfo],
        layout: str,
        storage_options: dict[str, Any] | None,
    ) -> None:
        first = infos[0].meta or {}
        self.experiment, self._name = experiment, first.get("experiment_name") or experiment
        self._root, self._storage_options, self._layout = root, storage_options, layout
        self._fields = {key: first.get(key) for key in ("attack", "model", "params", "tags")}
        self._class_names = first.get("class_names")
        self._ids = np.array([int(i.get("sample")) for i in infos], dtype=np.int64)
        self._b, self._sized_by = len(infos), ["runs"]
        self._true = B.label_array([i.get("true_label") for i in infos])
        self._target = B.label_array([i.get("target_label") for i in infos])
        self._originals = None
        self._has_conf = "confidences" in (first.get("arrays") or [])
        self._k = len(self._class_names) if self._has_conf and self._class_names else None
        shape = first.get("image_shape")
        self._image_shape = tuple(shape) if shape else None
        dtype = first.get("image_dtype")
        self._image_dtype = np.dtype(dtype) if dtype else None
        self._closed = self._finished = self._fresh = False
        self._failed = None
        self._lock = threading.Lock()
        self._replace: list[str] = []
        self._sinks = []
        covered = common_steps(infos)
        try:
            for info in infos:
                self._sinks.append(SampleSink.reopen(info.url, storage_options, covered))
        except AnimlibError as exc:
            for sink, info in zip(self._sinks, infos, strict=False):
                sink.finish(info.get("status") or "failed")
            raise ExperimentInputError(
                exc.message, field=exc.field, code=exc.code, experiment=experiment
            ) from None
        self._flusher = Flusher([sink.appender for sink in self._sinks])
        track(self)
        self._n = covered if covered is not None else max(sink.steps for sink in self._sinks)

    def _check(self, images, confidences, logits, active, scalars, blame: Blame) -> BatchStep:
        imgs = B.images(images, self._layout, self._b, blame, check_range=False)
        b = len(imgs)
        # the copy each run keeps, quantized for storage; it checks the range on the way
        prepared = prepare_batch(imgs, validate=True)
        if not all(p.in_range for p in prepared):
            B.check_float_range(imgs, blame)
        B.check_like_earlier(imgs, self._image_shape, self._image_dtype, self._n, blame)
        probs = B.probabilities(confidences, logits, b, self._k, blame)
        if self._has_conf is not None and (probs is not None) != self._has_conf:
            have = "logs" if self._has_conf else "does not log"
            raise blame(
                "confidences",
                f"step {self._n}: this experiment {have} confidences; every step must do the same",
            )
        if probs is not None:
            B.check_label_range(self._true, "true_labels", probs.shape[1], blame)
            B.check_label_range(self._target, "target_labels", probs.shape[1], blame)
        B.within(check_steps, "steps", blame, self._n + 1)
        mask = B.mask(active, b, blame)
        if self._sinks is None and not mask.all():
            raise blame("active", "every sample must be logged at step 0 (the clean input)")
        values = B.scalars(scalars, b, blame)
        if self._sinks is None:
            self._originals = B.originals_like(self._originals, imgs, blame)
        return BatchStep(imgs, prepared, probs, values, mask)

    def _open_sinks(self, step: BatchStep) -> None:
        """Create every sample's run and write the first step (the batch is already checked)."""
        self._b = b = len(step.images)
        if self._ids is None:
            self._ids = np.arange(b, dtype=np.int64)
        self._image_shape = tuple(step.images.shape[1:])
        self._image_dtype = step.images.dtype
        self._created = M.now_iso()  # every sample's: one experiment lists as one block
        self._has_conf = step.probs is not None
        if step.probs is not None:
            self._k = step.probs.shape[1]
        tried: set[str] = set()
        for attempt in range(RETRIES):  # one writer at a time creates an experiment's runs
            try:
                with starting(self._root, self.experiment, self._if_exists, self._replace,
                              self._storage_options):  # fmt: skip
                    self._replace = []  # (removed now that this step is checked)
                    sinks = self._in_parallel(lambda i: self._create_sink(i, step), range(b))
                break
            except ExperimentInputError as exc:  # with "new", another writer's experiment:
                if exc.code != Code.BUSY or not self._fresh or attempt == RETRIES - 1:
                    raise
                self._closed = False
                tried.add(self.experiment)
                self.experiment = next_free(self._root, self._name, self._storage_options, tried)
        self._sinks = sinks
        self._flusher = Flusher([sink.appender for sink in sinks])
        self._write(step)

    def _in_parallel(self, job: Any, items: range) -> list[Any]:
        """Run ``job`` on every item; on any error close what was opened, then raise it."""
        futures = [shared_pool().submit(job, i) for i in items]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if not errors:
            return [f.result() for f in futures]
        # runs with zero steps remove themselves when they fail: nothing half-written stays
        for sink in [f.result() for f in futures if f.exception() is None]:
            sink.finish("failed", error=str(errors[0]))
        self._closed = True
        raise errors[0]

    def _create_sink(self, i: int, step: BatchStep) -> SampleSink:
        sample = int(self._ids[i])
        args = dict(
            self._fields,
            class_names=self._class_names,
            true_label=None if self._true is None else int(self._true[i]),
            target_label=None if self._target is None else int(self._target[i]),
            # without originals, step 0 (the clean input, as the adapters log it) is the
            # original: the perturbation panel and the norms then need nothing else
            original=step.images[i] if self._originals is None else self._originals[i],
            storage_options=self._storage_options,
        )
        extra: dict[str, Any] = {
            "experiment": self.experiment,
            "sample": sample,
            SAMPLES_FIELD: len(self._ids),  # so a sample run deleted later is noticed
            "experiment_name": self._name,  # as given (the id is made safe for paths)
            "created": self._created,
        }
        if step.probs is not None:
            extra["initial_pred"] = int(step.probs[i].argmax())
        return SampleSink.create(self._root, run_id_for(self.experiment, sample), args, extra)

    def _write(self, step: BatchStep) -> None:
        """Buffer the step in every active sample's run (the flusher writes it)."""
        assert self._sinks is not None
        # written later from the prepared copies (the caller may reuse its arrays)
        for i, sink in enumerate(self._sinks):
            if step.active[i]:
                conf = None if step.probs is None else step.probs[i]
                values = {k: float(v[i]) for k, v in step.scalars.items()}
                sink.append(step.prepared[i], conf, values, at=self._n)
        for sink in self._sinks:
            sink.covered(self._n + 1)
