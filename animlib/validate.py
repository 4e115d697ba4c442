"""Deep checks of stored runs: metadata, array shapes, every chunk, probabilities and ranges."""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import meta as M
from .arrays import PROB_SUM_TOLERANCE
from .errors import AnimlibError, RunFormatError
from .listing import list_runs
from .location import Location
from .reader import Run, check_inside, describe_read_error, open_run


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
            return f"OK      {M.printable(self.id)}  ({self.steps} steps, {self.status})"
        return f"BROKEN  {M.printable(self.id)}: {M.printable(self.error)}"


def check_chunks(run: Run) -> None:
    """Raise RunFormatError if a chunk file of a complete step is missing (one listing per array).

    A missing chunk would silently read back as zeros, so it is looked for explicitly.
    """
    n = len(run)
    for name in ("images", "confidences", "original"):
        if name != "images" and not run._has(name):
            continue
        arr = run._array(name)
        try:
            encode = arr.metadata.chunk_key_encoding.encode_chunk_key
            grid = list(arr.cdata_shape)
        except AttributeError:  # not a Zarr v3 array: nothing to compare against
            continue
        if name != "original":
            grid[0] = math.ceil(n / arr.chunks[0])
        if math.prod(grid) > 1_000_000:
            continue
        base = run.location.path(name).rstrip("/") + "/"
        try:
            found = run.location.fs.find(base)
        except (OSError, ValueError):
            found = []
        present = {p[len(base) :] if p.startswith(base) else p for p in found}
        for coords in itertools.product(*(range(g) for g in grid)):
            key = encode(coords)
            if key not in present:
                where = ""
                if name != "original":
                    first = coords[0] * arr.chunks[0]
                    last = min(n, first + arr.chunks[0]) - 1
                    where = f" (step {first})" if first == last else f" (steps {first}..{last})"
                raise RunFormatError(f"chunk {key}{where} is missing", run=run.id, field=name)


def check_links(loc: Location, root: Location) -> None:
    """Raise RunFormatError if any file or folder inside the run folder ``loc`` is a symlink
    leading outside the results folder ``root`` (local folders only; nothing is read)."""
    if not root.is_local or not loc.is_local:
        return
    real_root = os.path.realpath(root.root)
    for folder, dirs, files in os.walk(loc.root):
        for entry in (*dirs, *files):
            path = os.path.join(folder, entry)
            if not os.path.islink(path):
                continue
            real = os.path.realpath(path)
            if os.path.commonpath([real, real_root]) != real_root:
                rel = os.path.relpath(path, loc.root)
                raise RunFormatError(
                    f"{rel} is a symlink that points outside the results folder",
                    run=loc.name,
                    field="path",
                )


def check_run_data(run: Run, *, deep: bool = True) -> None:
    """Raise RunFormatError for any problem in the run's arrays (reads them when ``deep``).

    Quick mode (``deep=False``) reads array metadata, the chunk listing, the confidences,
    the scalars, the original and the last step; deep mode reads every image chunk too.
    """
    run.check_arrays()
    check_chunks(run)
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
    _ = run.scalars  # readable (NaN marks a step that did not log that scalar)
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
                    f"({describe_read_error(exc)})",
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
    where = "" if start is None else " at step {}"
    if not finite.all():
        step = "" if start is None else where.format(start + int(np.argwhere(~finite)[0][0]))
        raise RunFormatError(f"contains NaN/inf{step}", run=run.id, field=field)
    lo, hi = float(data.min()), float(data.max())
    if lo < 0 or hi > 1:
        raise RunFormatError(
            f"float values outside [0, 1] ({lo:.4g}..{hi:.4g})", run=run.id, field=field
        )


def validate_run(
    path: str | os.PathLike[str] | Location,
    *,
    deep: bool = True,
    root: str | os.PathLike[str] | Location | None = None,
    **kw: Any,
) -> Report:
    """Validate one run folder; never raises for a broken run (the report says why).

    With ``root`` (the results folder holding the run), symlinks leading outside ``root``
    are refused before anything is read through them.
    """
    loc = Location.of(path, kw.get("storage_options"))
    try:
        if root is not None:
            root_loc = Location.of(root, kw.get("storage_options"))
            check_inside(root_loc, loc.name)
        else:
            root_loc = _parent(loc)
        check_links(loc, root_loc)  # before anything is read through a link
        run = open_run(loc)
        check_run_data(run, deep=deep)
    except AnimlibError as exc:
        field = f"{exc.field}: " if exc.field else ""
        return Report(loc.name, loc.url, error=" ".join(f"{field}{exc.message}".split()))
    except Exception as exc:  # a bug or an unexpected storage error: still one line per run
        msg = " ".join(str(exc).split())[:300]
        return Report(loc.name, loc.url, error=f"cannot be checked ({type(exc).__name__}: {msg})")
    return Report(run.id, loc.url, steps=len(run), status=run.status)


def _parent(loc: Location) -> Location:
    return Location(os.path.dirname(loc.root) or "/", loc.storage_options) if loc.is_local else loc


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
            reports.append(validate_run(loc.child(info.id), deep=deep, root=loc))
        else:
            reports.append(Report(info.id, info.url, error=info.error))
    return reports
