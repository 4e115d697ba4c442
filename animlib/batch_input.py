"""Check what a BatchWriter is handed (a whole batch per call) before anything is written."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arrays import (
    F32_MAX,
    PROB_SLACK,
    finite_extremes,
    float32,
    layout_problem,
    looks_like_probabilities,
    not_probabilities,
    outside_unit_range,
    probabilities_as_logits,
    scalar_name_problem,
    softmax,
    sum_tolerance,
    to_numpy,
    warn_ambiguous_layout,
)
from .errors import AnimlibError, Code, ExperimentInputError
from .limits import check_classes, check_side
from .stepsplit import Prepared

RESERVED_SCALARS = ("images", "confidences", "logits", "active", "original", "originals")


@dataclass(frozen=True)
class Blame:
    """Builds errors naming an experiment and, by batch index, one of its samples."""

    experiment: str
    sample_ids: Sequence[int] | None = None
    sized_by: list[str] = dataclasses.field(default_factory=list)  # the argument that set B

    def __call__(
        self, field: str, message: str, index: int | None = None, code: Code | None = None
    ) -> ExperimentInputError:
        """The error for ``field`` (of the sample at batch position ``index``, if given)."""
        sample = None
        run = None
        if index is not None:
            sample = int(self.sample_ids[index]) if self.sample_ids is not None else int(index)
            run = run_id_for(self.experiment, sample)
        return ExperimentInputError(
            message, run=run, field=field, code=code, experiment=self.experiment, sample=sample
        )


def run_id_for(experiment: str, sample: int) -> str:
    """The run id of one sample: ``{experiment}-{sample:04d}``."""
    return f"{experiment}-{int(sample):04d}"


def array(value: Any, field: str, blame: Blame) -> np.ndarray:
    """``value`` (numpy, torch via duck typing, lists) as a numeric numpy array."""
    try:
        return to_numpy(value, field)
    except AnimlibError as exc:
        raise blame(field, exc.message) from None


_SIZED_BY = "as its labels, sample ids, originals or first step say"
# what set the number of samples, where "the size of <argument>" does not say it
_SOURCES = {"images": "as its first step says", "runs": "as its stored sample runs say"}


def batch_size_of(arr: np.ndarray, field: str, b: int | None, blame: Blame) -> int:
    """The leading dimension of ``arr``; it must equal ``b`` when ``b`` is known."""
    if arr.ndim == 0:
        raise blame(field, f"expected a batch (B, ...); got a single value {arr!r}")
    n = int(arr.shape[0])
    if n == 0:
        raise blame(field, f"the batch is empty: shape {arr.shape}")
    if b is not None and n != b:
        by = blame.sized_by[0] if blame.sized_by else None
        source = _SOURCES.get(by, f"the size of {by}") if by else _SIZED_BY
        raise blame(
            field, f"batch of {n} but the experiment has {b} samples ({source})", code=Code.MISMATCH
        )
    if b is None and not blame.sized_by:
        blame.sized_by.append(field)
    return n


def _to_bhwc(arr: np.ndarray, layout: str, field: str, blame: Blame) -> np.ndarray:
    if arr.ndim == 3 and layout in ("auto", "HW"):
        return arr[..., None]  # (B, H, W) gray
    if arr.ndim != 4 or layout == "HW":
        raise blame(
            field,
            f"expected images shaped (B, C, H, W), (B, H, W, C) or (B, H, W); got {arr.shape}",
        )
    if layout == "HWC" or (layout == "auto" and arr.shape[-1] in (1, 3, 4)):
        if layout == "auto":
            warn_ambiguous_layout(arr.shape[1:], field)
        out = arr
    elif layout == "CHW" or (layout == "auto" and arr.shape[1] in (1, 3, 4)):
        out = np.moveaxis(arr, 1, -1)
    elif layout == "auto":
        raise blame(
            field,
            f"cannot tell channels in shape {arr.shape}: need 1, 3 or 4 channels first or last "
            "(pass layout='HWC' or 'CHW')",
        )
    else:  # (the writers refuse an unknown layout when they are made)
        raise blame(field, f"layout {layout_problem(layout)}")
    if out.shape[-1] not in (1, 3, 4):
        where = "last" if out is arr else "second"
        raise blame(
            field,
            f"images need 1, 3 or 4 channels; got shape {arr.shape}, whose {where} axis "
            f"(channels with layout={layout!r}) is {out.shape[-1]}",
        )
    return out


def images(
    value: Any,
    layout: str,
    b: int | None,
    blame: Blame,
    field: str = "images",
    check_range: bool = True,
) -> np.ndarray:
    """A batch of images as (B, H, W, C) uint8 or float32 in [0, 1], checked sample by sample
    (``check_range=False``: float values are not checked yet; :func:`check_range` does it)."""
    arr = _to_bhwc(array(value, field, blame), layout, field, blame)
    batch_size_of(arr, field, b, blame)
    if min(arr.shape[1], arr.shape[2]) < 1:
        raise blame(field, f"images have an empty side: shape {arr.shape}")
    within(check_side, field, blame, arr.shape[1], arr.shape[2])
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind == "b":
        return np.ascontiguousarray(arr.astype(np.uint8) * 255)
    if arr.dtype.kind in "iu":
        raise blame(field, f"integer images must be uint8 (0..255); got {arr.dtype}")
    try:
        out = float32(arr)
    except FloatingPointError:
        ranges = [finite_extremes(row) for row in arr.reshape(len(arr), -1)]
        i = next(i for i, r in enumerate(ranges) if max(map(abs, r)) > F32_MAX)
        raise blame(field, outside_unit_range(*ranges[i]), i) from None
    if check_range:
        check_float_range(out, blame, field)
    return out


def check_float_range(out: np.ndarray, blame: Blame, field: str = "images") -> None:
    """Raise unless every value of the (B, H, W, C) float images is finite and in [0, 1]."""
    flat = out.reshape(len(out), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)  # NaN and inf show in the extremes
    bad = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))
    if bad.size:
        i = int(bad[0])
        raise blame(field, f"contains {int((~np.isfinite(flat[i])).sum())} NaN/inf values", i)
    bad = np.flatnonzero((lo < 0.0) | (hi > 1.0))
    if bad.size:
        i = int(bad[0])
        raise blame(field, outside_unit_range(float(lo[i]), float(hi[i])), i)


def probabilities(
    confidences: Any, logits: Any, b: int | None, k: int | None, blame: Blame
) -> np.ndarray | None:
    """(B, K) float32 probabilities from ``confidences`` or ``logits`` (softmax), or None."""
    if confidences is None and logits is None:
        return None
    if confidences is not None and logits is not None:
        raise blame("confidences", "pass confidences or logits, not both")
    field = "confidences" if logits is None else "logits"
    arr = array(confidences if logits is None else logits, field, blame).astype(np.float64)
    if arr.ndim != 2:
        raise blame(field, f"expected shape (B, K); got {arr.shape}")
    batch_size_of(arr, field, b, blame)
    if arr.shape[1] == 0:
        raise blame(field, "has zero classes")
    if k is not None and arr.shape[1] != k:
        raise blame(field, f"has {arr.shape[1]} classes but the experiment has {k}", None)
    within(check_classes, field, blame, arr.shape[1])
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise blame(field, "contains NaN/inf values", int(bad[0]))
    tolerance = sum_tolerance(confidences if logits is None else logits)
    if logits is not None:  # (refused as probabilities only if they sum to 1 closely)
        if looks_like_probabilities(arr):
            raise blame(field, probabilities_as_logits(arr))
        return softmax(arr).astype(np.float32)
    lo, hi, total = arr.min(axis=1), arr.max(axis=1), arr.sum(axis=1)
    off = (lo < -PROB_SLACK) | (hi > 1 + PROB_SLACK) | (np.abs(total - 1) > tolerance)
    bad = np.flatnonzero(off)
    if bad.size:
        i = int(bad[0])
        problem = not_probabilities(float(lo[i]), float(hi[i]), float(total[i]), tolerance)
        raise blame(field, problem, i)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def scalars(values: dict[str, Any], b: int, blame: Blame) -> dict[str, np.ndarray]:
    """Each named scalar as a finite float64 (B,) array (one number is given to every sample)."""
    out = {}
    for name, value in values.items():
        if problem := scalar_name_problem(name, RESERVED_SCALARS):
            raise blame(name, problem)
        arr = array(value, name, blame).astype(np.float64)
        if arr.size == 1:
            arr = np.full(b, float(arr.reshape(())))
        elif arr.ndim != 1:
            raise blame(name, f"scalars are one number or one per sample (B,); got {arr.shape}")
        batch_size_of(arr, name, b, blame)
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise blame(name, f"is {arr[bad[0]]} (scalars must be finite)", int(bad[0]))
        out[name] = arr
    return out


def mask(active: Any, b: int, blame: Blame) -> np.ndarray:
    """The (B,) bool mask of samples logged at this step (all of them when ``active`` is None)."""
    if active is None:
        return np.ones(b, dtype=bool)
    arr = array(active, "active", blame)
    if arr.ndim != 1:
        raise blame("active", f"expected a (B,) mask of booleans; got shape {arr.shape}")
    batch_size_of(arr, "active", b, blame)
    if arr.dtype.kind != "b" and not np.isin(arr, (0, 1)).all():
        raise blame("active", "must hold booleans (or 0/1)")
    return arr.astype(bool)


def labels(value: Any, field: str, b: int | None, k: int | None, blame: Blame) -> np.ndarray | None:
    """(B,) non-negative int64 class labels, each below ``k`` when it is known; None stays None."""
    arr = _integers(value, field, b, "class indices", blame)
    check_label_range(arr, field, k, blame)
    return arr


def _integers(value: Any, field: str, b: int | None, what: str, blame: Blame) -> np.ndarray | None:
    """(B,) int64 values of ``field`` (integral floats pass); None stays None."""
    if value is None:
        return None
    arr = array(value, field, blame)
    if arr.ndim != 1:
        raise blame(field, f"expected one value per sample, shape (B,); got {arr.shape}")
    batch_size_of(arr, field, b, blame)
    kind = arr.dtype.kind
    integral = kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all()
    if kind not in "iu" and not integral:
        raise blame(field, f"must be integer {what}; got dtype {arr.dtype}")
    if kind in "uf":  # (a uint64 hash or a float past 2**63 wrapped round to a negative id)
        past = np.flatnonzero(arr > np.iinfo(np.int64).max if kind == "u" else abs(arr) >= 2.0**63)
        if past.size:
            i = int(past[0])
            raise blame(field, f"{arr[i]!s} does not fit in 64 bits (at most 2**63 - 1)", i)
    return arr.astype(np.int64)


def check_label_range(arr: np.ndarray | None, field: str, k: int | None, blame: Blame) -> None:
    """Every label lies in [0, k) (only the sign is checked while k is unknown)."""
    if arr is None:
        return
    bad = np.flatnonzero((arr < 0) | (arr >= (k if k is not None else np.iinfo(np.int64).max)))
    if bad.size:
        i = int(bad[0])
        expected = f"0..{k - 1}" if k is not None else "a class index >= 0"
        raise blame(field, f"{int(arr[i])} is out of range (expected {expected})", i)


def sample_ids(value: Any, b: int | None, blame: Blame) -> np.ndarray | None:
    """(B,) unique non-negative int64 sample ids (e.g. dataset indices), or None."""
    if value is None:
        return None
    arr = _integers(value, "sample_ids", b, "sample ids", blame)
    assert arr is not None
    negative = np.flatnonzero(arr < 0)
    if negative.size:
        i = int(negative[0])
        raise blame("sample_ids", f"{int(arr[i])} is negative (expected ids >= 0)", i)
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise blame("sample_ids", f"sample id {int(uniq[counts > 1][0])} appears twice")
    return arr


def class_names(value: Any, blame: Blame) -> list[str] | None:
    """The K class names as strings (None stays None), checked against the limit."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise blame("class_names", f"must be a list; got {type(value).__name__}")
    names = [str(c) for c in value]
    if not names:
        raise blame("class_names", "must not be empty")
    within(check_classes, "class_names", blame, len(names))
    return names


def label_array(values: list[Any]) -> np.ndarray | None:
    """Labels read back from run.json as a (B,) array (-1 where missing; None if all are)."""
    if all(v is None for v in values):
        return None
    return np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)


def warn_targets_equal_to_true(
    true: np.ndarray | None, target: np.ndarray | None, ids: np.ndarray | None, experiment: str
) -> None:
    """Warn when a targeted experiment aims some samples at their own true class (a random
    target drawn without excluding it, say): those runs succeed at step 0, doing nothing."""
    if true is None or target is None or ids is None:
        return
    same = np.flatnonzero(true == target)
    if not same.size:
        return
    shown = ", ".join(str(int(ids[i])) for i in same[:5]) + (", ..." if same.size > 5 else "")
    warnings.warn(
        f"experiment {experiment!r}: target_labels equal true_labels for {same.size} of "
        f"{len(true)} samples (sample {shown}): a targeted attack has nothing to do there, so "
        "those runs count as successes at step 0",
        stacklevel=3,
    )


def check_like_earlier(
    imgs: np.ndarray, shape: tuple[int, ...] | None, dtype: np.dtype | None, step: int, blame: Blame
) -> None:
    """Refuse the (B, H, W, C) images of ``step`` unless they have the (H, W, C) ``shape`` and
    the ``dtype`` of the earlier steps (None: no step yet)."""
    if shape is not None and imgs.shape[1:] != shape:
        raise blame(
            "images",
            f"step {step} has images of shape {imgs.shape[1:]} but earlier steps have "
            f"{shape} (H, W, C)",
            code=Code.MISMATCH,
        )
    if dtype is not None and imgs.dtype != dtype:
        raise blame(
            "images",
            f"step {step} is {imgs.dtype} but earlier steps are {dtype}",
            code=Code.MISMATCH,
        )


def originals_like(orig: np.ndarray | None, imgs: np.ndarray, blame: Blame) -> np.ndarray | None:
    """The originals checked against the first step's images (same shape; uint8 originals
    of float32 images scaled to [0, 1]); None stays None."""
    if orig is None:
        return None
    if orig.shape != imgs.shape:
        raise blame(
            "originals",
            f"shape {orig.shape[1:]} differs from the images' {imgs.shape[1:]} (H, W, C)",
            code=Code.MISMATCH,
        )
    if orig.dtype == np.uint8 and imgs.dtype == np.float32:
        return orig.astype(np.float32) / np.float32(255.0)
    if orig.dtype != imgs.dtype:
        raise blame(
            "originals",
            f"originals are {orig.dtype} but the images are {imgs.dtype}",
            code=Code.MISMATCH,
        )
    return orig


def warn_missing_runs(experiment: str, root: str, made: Any, found: int) -> None:
    """Warn when fewer sample runs of ``experiment`` are in ``root`` than it ``made`` (its
    ``experiment_samples``; not an int for experiments written before it was stored)."""
    if isinstance(made, int) and made > found:
        warnings.warn(
            f"experiment {experiment!r}: {made - found} of its {made} sample runs are not in "
            f"{root} (deleted or moved): resuming the {found} left",
            stacklevel=3,
        )


def check_layout(layout: Any, blame: Blame) -> None:
    """Refuse an unknown ``layout`` (``"auto"``, ``"HWC"``, ``"CHW"``, ``"HW"``)."""
    if problem := layout_problem(layout):
        raise blame("layout", problem)


def within(check: Callable[..., None], field: str, blame: Blame, *counts: int) -> None:
    """A limit of :mod:`animlib.limits` (its one check and message), as this experiment's error
    for ``field``."""
    try:
        check(*counts, field=field)
    except AnimlibError as exc:
        raise blame(field, exc.message, code=exc.code) from None


@dataclass
class BatchStep:
    """One checked batch step, ready to write."""

    images: np.ndarray  # (B, H, W, C), possibly the caller's array: not kept
    prepared: list[Prepared]  # each image ready to encode (copies)
    probs: np.ndarray | None  # (B, K)
    scalars: dict[str, np.ndarray]  # name -> (B,)
    active: np.ndarray  # (B,) bool


def check_unbroken(experiment: str, infos: list[Any], listed: list[Any]) -> None:
    """Raise ExperimentInputError naming a broken run among ``listed`` (every run of the
    results folder) that is one of ``experiment``'s samples: its id is a sample's
    (``{experiment}-NNNN``) that none of the readable samples ``infos`` has, below the number of
    samples the experiment made (when they say it). Its run.json cannot be read, so it would be
    resumed without, as if deleted, and the next batch be one sample too large (a kill can leave
    such a file: the case resume is for). A run merely named like one (``exp-2024``) is not."""
    from .experiments import SAMPLES_FIELD

    head, have = f"{experiment}-", {i.get("sample") for i in infos}
    made = next((i.get(SAMPLES_FIELD) for i in infos if type(i.get(SAMPLES_FIELD)) is int), None)
    for info in listed:
        tail = info.id[len(head) :] if info.id.startswith(head) else ""
        if info.ok or len(tail) < 4 or not (tail.isdigit() and tail.isascii()):
            continue
        sample = int(tail)
        if sample in have or (made is not None and sample >= made) or (infos and made is None):
            continue
        raise ExperimentInputError(
            f"the run {info.id}, named as its sample {sample}, cannot be read ({info.error}): "
            "repair it, or remove it (animlib rm) to resume without it",
            run=info.id,
            field=info.field or "run.json",
            code=info.code or Code.INVALID,
            experiment=experiment,
        )


def check_resumable(experiment: str, root: str, infos: list[Any], listed: list[Any]) -> None:
    """Raise ExperimentInputError unless ``infos`` (the experiment's sample runs in ``root``,
    whose runs are ``listed``) can be resumed: there are some, each has a stored step, and
    none of its samples is broken (:func:`check_unbroken`)."""
    check_unbroken(experiment, infos, listed)
    if not infos:
        raise ExperimentInputError(
            f"no runs of this experiment in {root}",
            field="experiment",
            code=Code.NOT_FOUND,
            experiment=experiment,
        )
    empty = [i for i in infos if not i.get("steps")]
    if empty:
        raise ExperimentInputError(
            f"{len(empty)} of its {len(infos)} sample runs have no stored step (the writer "
            "stopped before its first flush): nothing to resume; run the experiment again "
            "(if_exists='overwrite' replaces these runs)",
            run=empty[0].id,
            sample=int(empty[0].get("sample")),
            field="steps",
            code=Code.EMPTY,
            experiment=experiment,
        )
