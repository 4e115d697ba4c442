"""Checks of stored runs: structure (on open), metadata, every chunk, probabilities and ranges."""

# ``validate`` (the function, bound as ``animlib.validate``) checks a run folder or every run of a
# results folder and returns one :class:`Report` per run (and, of a results folder, one per
# experiment missing sample runs); it never raises for a broken run.

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import meta as M
from .errors import AnimlibError, Code, RunFormatError, StoreError
from .limits import check_classes, check_side
from .listing import Verdict, list_runs, missing_meta_reason, unsafe_name
from .lock import run_status
from .reader import ARRAYS, ArrayInfo, Run, confinement, open_run
from .store import Store, open_store
from .store.paths import is_run_id, unsafe_link
from .summary import SummaryAccumulator
from .text import plural, printable, short_repr


@dataclass(repr=False)
class Report(Verdict):
    """The outcome of validating one run: ``ok``, or the first problem found with its ``field``
    and ``code`` (from the :class:`~animlib.errors.AnimlibError`).

    ``kind`` is ``"run"``, or ``"experiment"`` for the report of an experiment of a results
    folder whose sample runs are not all there (``id`` the experiment's, ``url`` the results
    folder's, ``field`` ``experiment_samples``, ``code`` MISSING; MISMATCH when it holds more
    runs than its writer made), which is never ``ok`` and has no ``steps`` or ``status``."""

    id: str
    url: str
    error: str | None = None
    steps: int | None = None
    status: str | None = None
    field: str | None = None
    code: Code | None = None
    kind: str = "run"

    def line(self) -> str:
        """One line for a terminal: a run's ``OK      id  (N steps, status)`` or
        ``BROKEN  id: reason``; an experiment's ``MISSING experiment id: reason`` (``MIXED``
        for one holding runs of another experiment)."""
        if self.kind != "experiment":
            return super().line()
        word = "MIXED" if self.code == Code.MISMATCH else "MISSING"
        return f"{word} experiment {printable(self.id)}: {self.error}"

    def details(self) -> str:
        """``  (N steps, status)``."""
        return f"  ({plural(self.steps, 'step')}, {self.status})"

    def __repr__(self) -> str:
        """One short line: ``Report(id=..., ok=..., steps=..., status=...)``, with the
        ``error`` of a broken run (and ``kind`` of an experiment's report)."""
        kind = None if self.kind == "run" else self.kind
        return short_repr(
            "Report",
            id=self.id,
            kind=kind,
            ok=self.ok,
            steps=self.steps,
            status=self.status,
            error=self.error,
        )


# -- structure: array metadata only (open_run runs this) ---------------------------------------
def check_structure(run: Run) -> None:
    """Raise RunFormatError if the run's arrays disagree with run.json or with each other, or
    exceed the limits. Reads array metadata only (no image data)."""
    if len(run) == 0:
        why = "the run has zero steps"
        if run.meta.get("status") == "running":  # listed and validated as a good run
            why = "no step stored yet: its writer has not written one (or was killed before)"
        raise RunFormatError(why, run=run.id, field="steps", code=Code.EMPTY)
    for name in run.meta.get("arrays") or []:
        if name in ARRAYS and not run.has_array(name):
            raise RunFormatError(
                "array is missing (run.json lists it)", run=run.id, field=name, code=Code.MISSING
            )
    images = run.array_info("images")
    _check_images(run, images)
    if run.has_confidences:
        _check_confidences(run, run.array_info("confidences"))
    if run.has_array("original"):
        original = run.array_info("original")
        if original.shape != images.shape[1:]:
            raise RunFormatError(
                f"shape {original.shape} differs from the images' {images.shape[1:]}",
                run=run.id,
                field="original",
                code=Code.MISMATCH,
            )


def _check_images(run: Run, images: ArrayInfo) -> None:
    def bad(message: str, code: Code, field: str = "images") -> RunFormatError:
        return RunFormatError(message, run=run.id, field=field, code=code)

    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise bad(
            f"expected shape (steps, H, W, C) with C in 1/3/4; got {images.shape}", Code.INVALID
        )
    if images.dtype not in (np.uint8, np.float32):
        raise bad(f"dtype must be uint8 or float32; got {images.dtype}", Code.INVALID)
    stored = images.shape[1:]
    said = run.meta.get("image_shape")
    if said is not None and tuple(said) != stored:
        raise bad(
            f"the images array holds {stored[0]}x{stored[1]}x{stored[2]} images but run.json "
            f"image_shape says {said[0]}x{said[1]}x{said[2]} (the image shape changed?)",
            Code.MISMATCH,
        )
    dtype = run.meta.get("image_dtype")
    if dtype is not None and str(images.dtype) != dtype:
        raise bad(
            f"the images array is {images.dtype} but run.json image_dtype says {dtype}",
            Code.MISMATCH,
        )
    check_side(stored[0], stored[1], run=run.id, field="images")
    if images.shape[0] < len(run):
        raise bad(
            f"run.json says {len(run)} steps but the images array holds {images.shape[0]}",
            Code.MISMATCH,
            "steps",
        )


def _check_confidences(run: Run, conf: ArrayInfo) -> None:
    n = len(run)
    if conf.ndim != 2 or conf.shape[0] < n:
        raise RunFormatError(
            f"run.json says {n} steps but confidences have shape {conf.shape}",
            run=run.id,
            field="steps",
            code=Code.MISMATCH,
        )
    check_classes(conf.shape[1], run=run.id, field="confidences")
    names = run.meta.get("class_names")
    if names is None or len(names) != conf.shape[1]:
        k = "none" if names is None else len(names)
        raise RunFormatError(
            f"{conf.shape[1]} classes in the array but class_names has {k}",
            run=run.id,
            field="confidences",
            code=Code.MISMATCH,
        )


# -- data: chunks, values ------------------------------------------------------------------------
def check_chunks(run: Run) -> None:
    """Raise RunFormatError if a chunk file of a complete step is missing (one listing per
    array): a missing chunk would silently read back as zeros, so it is looked for explicitly."""
    for gap in run.missing_chunks(limit=1):
        raise RunFormatError(gap.describe(), run=run.id, field=gap.array, code=Code.MISSING)


#: the summary values validate recomputes from the stored confidences and labels
RECOMPUTED = ("final_pred", "success", "flip_step")


def check_summary(run: Run, conf: np.ndarray, keys: tuple[str, ...] = RECOMPUTED) -> None:
    """Raise RunFormatError if run.json's summary disagrees with the stored confidences and
    the labels run.json holds (its final prediction, success or flip step: ``keys``): the file
    was edited (a label corrected by hand), or the confidences changed after it was written."""
    stored = run.meta.get("summary") or {}
    n = len(run)
    acc = SummaryAccumulator(run.true_label, run.target_label)
    acc.add_steps(conf[:n] if keys != ("final_pred",) else conf[n - 1 : n])  # (its last step)
    for key in keys:
        said, now = stored.get(key), acc.values[key]
        if said is not None and said != now:
            raise RunFormatError(
                f"run.json says {said!r}, the stored confidences and labels give {now!r} "
                "(run.json edited after the run was written, or the confidences changed)",
                run=run.id,
                field=f"summary.{key}",
                code=Code.MISMATCH,
            )


def check_run_data(run: Run, *, deep: bool = True, summary: bool = False) -> None:
    """Raise RunFormatError for any problem in the run's arrays (reads them when ``deep``).

    Quick mode (``deep=False``) reads array metadata, the chunk listing, the confidences,
    the scalars, the original and the first and last step; deep mode reads every image chunk.
    ``summary``: check run.json's whole summary against the confidences (:func:`check_summary`:
    ``validate``'s deep check; not the pages', which show a run whose labels were edited);
    else only its final prediction, which no label changes.
    """
    run.check_arrays()
    check_chunks(run)
    n = len(run)
    images = run.array_info("images")
    if run.status == "finished" and images.shape[0] != n:
        raise RunFormatError(
            f"run.json says {n} steps but the images array holds {images.shape[0]}",
            run=run.id,
            field="steps",
            code=Code.MISMATCH,
        )
    conf = run.confidences  # (probabilities: the reader refuses any other, as validate says)
    if conf is not None:  # labels within its classes
        M.check_labels(
            None, run.true_label, run.target_label, conf.shape[1], RunFormatError, run.id
        )
    if conf is not None and n:
        # the final prediction does not depend on the labels: one that disagrees with the
        # stored confidences is a wrong summary (another tool's), which summarize would count
        check_summary(run, conf, RECOMPUTED if summary else ("final_pred",))
    _ = run.scalars  # readable (NaN marks a step that did not log that scalar)
    if run.original is not None:
        _check_image(run, run.original, "original")
    if not deep:  # the first and the last chunk (where a copy or a writer stops)
        rows = run.array_info("images").chunks[0]
        for step in sorted({0, n - 1} if n - 1 >= rows else {n - 1}):
            _check_image(run, run.images[step], "images", step)
        return
    rows = images.chunks[0]
    for start in range(0, n, rows):
        _check_image(run, run.read_steps("images", start, min(n, start + rows)), "images", start)


def _check_image(run: Run, data: np.ndarray, field: str, start: int | None = None) -> None:
    if data.dtype == np.uint8:
        return
    finite = np.isfinite(data)
    if not finite.all():
        step = "" if start is None else f" at step {start + int(np.argwhere(~finite)[0][0])}"
        raise RunFormatError(f"contains NaN/inf{step}", run=run.id, field=field, code=Code.INVALID)
    lo, hi = float(data.min()), float(data.max())
    if lo < 0 or hi > 1:
        raise RunFormatError(
            f"float values outside [0, 1] ({lo:.4g}..{hi:.4g})", run=run.id, field=field
        )


# -- entry points ------------------------------------------------------------------------------
def _report(store: Store, exc: AnimlibError) -> Report:
    field = f"{exc.field}: " if exc.field else ""
    error = " ".join(f"{field}{exc.message}".split())
    return Report(store.name, store.url, error=error, field=exc.field, code=exc.code)


def validate_run(
    path: str | os.PathLike[str] | Store,
    *,
    deep: bool = True,
    root: str | os.PathLike[str] | Store | None = None,
    storage_options: dict[str, Any] | None = None,
    summary: bool | None = None,
) -> Report:
    """Validate one run folder; never raises for a broken run (the report says why).
    ``summary``: check run.json's summary against the confidences (default: when ``deep``).

    With ``root`` (the results folder holding the run), nothing is read through a symlink
    leading outside ``root``; without it, nothing through one leading outside the run folder.
    """
    store = open_store(path, storage_options)
    try:
        if root is not None:
            store = open_store(root, storage_options).child(store.name)
        _check_links(store)
        if not is_run_id(store.name):  # (the folder's listing calls it broken: say it alone too)
            raise unsafe_name(store.name)
        run = open_run(store)
    except Exception as exc:
        return _failed(store, exc)
    return _checked(run, deep, deep if summary is None else summary)


def validate_opened(run: Run, *, deep: bool = True) -> Report:
    """:func:`validate_run` of a run already opened (by :func:`~animlib.reader.open_run_in`
    from its results folder, or :func:`~animlib.reader.open_run`): checked through that Run
    object, so what it has read (array metadata, confidences, original) is not read again."""
    try:
        _check_links(run.store)
    except Exception as exc:
        return _failed(run.store, exc)
    return _checked(run, deep, summary=False)  # (the pages' check: an edited label is shown)


def _check_links(store: Store) -> None:
    """RunFormatError UNSAFE naming a symlink in the run folder ``store`` leading outside
    the folder it is confined to (before anything is read through it)."""
    try:
        store.check_links(recursive=True)
    except StoreError as exc:
        if exc.code != Code.UNSAFE:
            raise
        raise unsafe_link(exc.field or "", confinement(store), store.name) from None


def _checked(run: Run, deep: bool, summary: bool) -> Report:
    """The report of the opened ``run``'s data check."""
    try:
        check_run_data(run, deep=deep, summary=summary)
    except Exception as exc:
        return _failed(run.store, exc)
    status = run_status(run.meta, run.store)  # stale: silent too long, or its writer is gone
    return Report(run.id, run.store.url, steps=len(run), status=status)


def _failed(store: Store, exc: Exception) -> Report:
    """The report of a run whose check raised ``exc``."""
    if isinstance(exc, AnimlibError):
        if exc.code == Code.EMPTY and (meta := _meta(store)) and meta.get("status") == "running":
            status = run_status(meta, store)  # as listing says it: running, or stale
            return Report(store.name, store.url, steps=0, status=status)
        return _report(store, exc)
    # a bug or an unexpected storage error: still one line per run
    msg = " ".join(str(exc).split())[:300]
    error = f"cannot be checked ({type(exc).__name__}: {msg})"
    return Report(store.name, store.url, error=error, code=Code.STORAGE)


def _meta(store: Store) -> dict | None:
    """The run.json of an empty run (a writer that has not stored a step yet)."""
    try:
        return M.read_meta(store.read(M.RUN_JSON), store.name)
    except (AnimlibError, OSError):
        return None


def _is_run_folder(store: Store, member: str = M.RUN_JSON) -> bool:
    """True if ``store`` holds a run.json file (a results folder may hold a run folder named
    ``run.json``, made by hand or by an older animlib), or the file ``member``."""
    try:
        store.read(member, limit=1)
        return True
    except StoreError as exc:
        return exc.code == Code.UNSAFE  # a linked run.json: report it as a broken run


def validate(
    path: str | os.PathLike[str] | Store,
    *,
    deep: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> list[Report]:
    """Validate a run folder, or every run in a results folder. One :class:`Report` per run,
    then, of a results folder, one per experiment whose sample runs are not all there or not
    all readable (``kind="experiment"``, code MISSING; MISMATCH for one holding more runs
    than its writer made): ``all(r.ok for r in validate(path))`` is the verdict of
    ``animlib validate PATH`` (exit 0). An empty folder gives ``[]``."""
    store = open_store(path, storage_options)
    if _is_run_folder(store):
        return [validate_run(store, deep=deep)]
    if _is_run_folder(store, "zarr.json"):  # a run's arrays without run.json: one broken run
        reason = f"{M.RUN_JSON}: {missing_meta_reason(store)}"
        return [Report(store.name, store.url, error=reason, field=M.RUN_JSON, code=Code.MISSING)]
    reports = []
    for info in sorted(list_runs(store), key=lambda r: r.id):
        if info.ok:
            reports.append(validate_run(store.child(info.id), deep=deep))
        else:
            reports.append(
                Report(info.id, info.url, error=info.error, field=info.field, code=info.code)
            )
    return reports + experiment_reports(store, reports=reports)


def missing_sample_runs(path: str | os.PathLike[str] | Store, **options: Any) -> list[str]:
    """The lines (``MISSING experiment ...``, ``MIXED experiment ...``) of
    :func:`experiment_reports`, which takes the same arguments (``options``: its keyword
    arguments)."""
    return [report.line() for report in experiment_reports(path, **options)]


def experiment_reports(
    path: str | os.PathLike[str] | Store,
    *,
    storage_options: dict[str, Any] | None = None,
    reports: list[Report] | None = None,
    experiments: Collection[str] | None = None,
    refresh: bool = True,
) -> list[Report]:
    """One report per experiment in the results folder ``path`` (of ``experiments`` only,
    when given) whose sample runs are not all
    there or not all readable (deleted or moved, or broken: its summary then covers fewer
    images than it attacked); none for a run folder, or for experiments written before
    BatchWriter stored their size whose runs all read. An experiment with more sample runs
    than its writer made gets a ``MIXED`` report (code MISMATCH,
    :func:`animlib.experiments.mixed_problem`).

    ``reports``: the verdicts of :func:`validate` on ``path`` (its BROKEN lines), which the
    reports then agree with; without them, the runs the index holds as broken and the sample
    runs whose arrays failed the quick check (:mod:`animlib.index.checks`: the verdicts a
    ``summarize`` found or remembered; no run is checked here). ``refresh``: False reads the
    folder's run index as the caller last refreshed it (the CLI's notes after a summary: one
    listing of the folder per command)."""
    from .experiments import missing_runs, mixed_problem, unreadable_samples
    from .index import open_index
    from .index.experiments import experiments as listed_experiments

    store = open_store(path, storage_options)
    if _is_run_folder(store):
        return []
    index = open_index(store, storage_options)
    if refresh:
        index.refresh()
    if reports is not None:
        bad = {r.id for r in reports if not r.ok and r.kind == "run" and r.code != Code.STORAGE}
    else:
        from .index.checks import damaged_sample_runs
        from .index.query import broken_rows

        bad = set(broken_rows(index.table)["id"].to_pylist())
        bad |= set(damaged_sample_runs(index, budget_s=0)[0])
    out = []
    for exp in sorted(listed_experiments(index), key=lambda e: e.id):
        if experiments is not None and exp.id not in experiments:
            continue
        if mixed := mixed_problem(exp):
            out.append(_experiment_report(store, exp.id, mixed, Code.MISMATCH))
        count = missing_runs(exp) + sum(1 for r in exp.run_ids if r in bad)
        if not count:
            continue
        unreadable = min(len(unreadable_samples(exp.id, bad)), count)
        where = "are not in the folder (deleted or moved)"
        if unreadable == count:
            where = "cannot be read (broken, as listed)"
        elif unreadable:
            where = f"cannot be read ({unreadable} broken, as listed) or are not in the folder"
        total = exp.get("n_samples") or exp.get("n_runs")
        problem = f"{count} of its {total} sample runs {where}"
        out.append(_experiment_report(store, exp.id, problem, Code.MISSING))
    return out


def _experiment_report(store: Store, experiment: str, problem: str, code: Code) -> Report:
    """The report of an experiment of the results folder ``store`` whose sample runs are not
    as its writer made them."""
    from .experiments import SAMPLES_FIELD

    return Report(
        experiment, store.url, error=problem, field=SAMPLES_FIELD, code=code, kind="experiment"
    )
