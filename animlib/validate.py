"""Deep checks of stored runs: metadata, array shapes, every chunk, probabilities and ranges."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import meta as M
from .arrays import PROB_SUM_TOLERANCE
from .errors import AnimlibError, RunFormatError
from .listing import list_runs
from .location import Location
from .reader import Run, open_run


@dataclass
class Report:
    """The outcome of validating one run: ``ok`` or the first problem found."""

    id: str
    url: str
    error: str | None = None
    steps: int | None = None
    status: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line for a terminal: ``OK  id  (N steps, status)`` or ``BROKEN  id: reason``."""
        if self.ok:
            return f"OK      {self.id}  ({self.steps} steps, {self.status})"
        return f"BROKEN  {self.id}: {self.error}"


def check_run_data(run: Run, *, deep: bool = True) -> None:
    """Raise RunFormatError for any problem in the run's arrays (reads them when ``deep``)."""
    run.check_arrays()
    n = len(run)
    status = run.status
    images = run._array("images")
    if status == "finished" and images.shape[0] != n:
        raise RunFormatError(
            f"run.json says {n} steps but the images array holds {images.shape[0]}",
            run=run.id,
            field="steps",
        )
    conf = run.confidences
    if conf is not None:
        if not np.isfinite(conf).all():
            step = int(np.argwhere(~np.isfinite(conf))[0][0])
            raise RunFormatError(f"step {step} contains NaN/inf", run=run.id, field="confidences")
        if (conf < 0).any() or (conf > 1 + 1e-6).any():
            step = int(np.argwhere((conf < 0) | (conf > 1 + 1e-6))[0][0])
            raise RunFormatError(
                f"step {step} has values outside [0, 1] (logits?)", run=run.id, field="confidences"
            )
        sums = conf.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1) > PROB_SUM_TOLERANCE * 10)
        if off.size:
            raise RunFormatError(
                f"step {int(off[0])} sums to {float(sums[off[0]]):.4g}, not 1 (logits?)",
                run=run.id,
                field="confidences",
            )
        k = conf.shape[1]
        M.check_labels(None, run.true_label, run.target_label, k, RunFormatError, run.id)
    if run.original is not None:
        _check_image(run, run.original, "original")
    if deep:
        chunk = images.chunks[0]
        for start in range(0, n, chunk):
            try:
                block = np.asarray(images[start : min(n, start + chunk)])
            except Exception as exc:
                raise RunFormatError(
                    f"steps {start}..{min(n, start + chunk) - 1} cannot be read "
                    f"({type(exc).__name__}: {exc})",
                    run=run.id,
                    field="images",
                ) from None
            _check_image(run, block, "images", start)
    else:
        _check_image(run, run.images[n - 1], "images", n - 1)


def _check_image(run: Run, data: np.ndarray, field: str, start: int | None = None) -> None:
    if data.dtype == np.uint8:
        return
    finite = np.isfinite(data)
    where = "" if start is None else " near step {}"
    if not finite.all():
        step = "" if start is None else where.format(start + int(np.argwhere(~finite)[0][0]))
        raise RunFormatError(f"contains NaN/inf{step}", run=run.id, field=field)
    lo, hi = float(data.min()), float(data.max())
    if lo < 0 or hi > 1:
        raise RunFormatError(
            f"float values outside [0, 1] ({lo:.4g}..{hi:.4g})", run=run.id, field=field
        )


def validate_run(
    path: str | os.PathLike[str] | Location, *, deep: bool = True, **kw: Any
) -> Report:
    """Validate one run folder; never raises for a broken run (the report says why)."""
    loc = Location.of(path, kw.get("storage_options"))
    try:
        run = open_run(loc)
        check_run_data(run, deep=deep)
    except AnimlibError as exc:
        field = f"{exc.field}: " if exc.field else ""
        return Report(loc.name, loc.url, error=f"{field}{exc.message}")
    return Report(run.id, loc.url, steps=len(run), status=run.status)


def validate(
    path: str | os.PathLike[str] | Location,
    *,
    deep: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> list[Report]:
    """Validate a run folder, or every run in a results folder. One :class:`Report` per run."""
    loc = Location.of(path, storage_options)
    if loc.exists(M.RUN_JSON):
        return [validate_run(loc, deep=deep)]
    reports = []
    for info in sorted(list_runs(loc), key=lambda r: r.id):
        if info.ok:
            reports.append(validate_run(loc.child(info.id), deep=deep))
        else:
            reports.append(Report(info.id, info.url, error=info.error))
    return reports
