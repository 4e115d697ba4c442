"""Turn whatever a user logs (numpy, torch, lists) into checked numpy arrays in the run format."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .caller import warn_caller
from .errors import RunInputError

LAYOUTS = ("auto", "HWC", "CHW", "HW")


def layout_problem(layout: Any) -> str | None:
    """What is wrong with ``layout`` (the message every writer gives), or None for a known one."""
    if layout in LAYOUTS:
        return None
    return f"must be one of {', '.join(LAYOUTS)}; got {layout!r}"


PROB_SUM_TOLERANCE = 1e-3
# the epsilon of float types coarser than float32 that models compute in (mixed precision):
# each probability of their softmax is rounded by up to half of it, and so is their sum
_COARSE_EPS = {"bfloat16": 2.0**-7, "float16": 2.0**-10}
MAX_SCALAR_NAME_BYTES = 200  # a scalar's array folder is named after it
# rounding a probability may carry outside [0, 1] (a float16 softmax, say; clipped when stored)
PROB_SLACK = 1e-4
# beyond that but within NEAR_PROB of [0, 1], and summing to 1: probabilities with a larger
# error (told to clip them), never logits (refused as logits=)
NEAR_PROB = 5e-3


def stored_probability_problem(conf: np.ndarray) -> str | None:
    """What makes stored (steps, K) confidences no probabilities (NaN, values outside [0, 1],
    rows that do not sum to 1: logits of another tool, a damaged file), or None. The reader
    and ``validate`` say the same, so nothing draws a run that ``validate`` calls broken."""
    if not np.isfinite(conf).all():
        return f"step {int(np.argwhere(~np.isfinite(conf))[0][0])} contains NaN/inf"
    outside = (conf < -PROB_SLACK) | (conf > 1 + PROB_SLACK)
    if outside.any():
        return f"step {int(np.argwhere(outside)[0][0])} has values outside [0, 1] (logits?)"
    sums = conf.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > PROB_SUM_TOLERANCE * 10)
    if off.size:
        return f"step {int(off[0])} sums to {float(sums[off[0]]):.4g}, not 1 (logits?)"
    return None


def to_numpy(value: Any, field: str) -> np.ndarray:
    """Convert numpy, torch/jax tensors (duck typed) or nested lists to a numpy array."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        obj = value
        try:
            if hasattr(obj, "detach") and callable(obj.detach):  # torch tensor
                obj = obj.detach()
            if hasattr(obj, "cpu") and callable(obj.cpu):
                obj = obj.cpu()
        except (NotImplementedError, RuntimeError, TypeError, ValueError) as exc:
            # (a tensor on torch's "meta" device has no data; a CUDA error)
            problem = f"cannot convert {type(value).__name__}: {exc}"
            raise RunInputError(problem, field=field) from None
        if hasattr(obj, "numpy") and callable(obj.numpy):
            obj = _tensor_numpy(obj, value, field)
        if isinstance(obj, (str, bytes, dict, set)) or obj is None:
            raise RunInputError(f"expected an array, got {type(value).__name__}", field=field)
        if isinstance(obj, (list, tuple)) and any(hasattr(v, "detach") for v in obj):
            obj = [to_numpy(v, field) for v in obj]  # a list of tensors (that require grad)
        try:
            arr = np.asarray(obj)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise RunInputError(
                f"expected an array, got {type(value).__name__} ({exc})", field=field
            ) from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise RunInputError(
            f"expected a numeric array, got dtype {arr.dtype} from {type(value).__name__}",
            field=field,
        )
    return arr


def _tensor_numpy(obj: Any, value: Any, field: str) -> Any:
    """``obj.numpy()``; a dtype numpy lacks (torch's bfloat16, from mixed-precision models) is
    taken as float32, which holds every such value exactly."""
    try:
        return obj.numpy()
    except TypeError as exc:
        problem = RunInputError(f"cannot convert {type(value).__name__}: {exc}", field=field)
        widen = getattr(obj, "float", None)
        if not callable(widen):
            raise problem from None
        try:
            return widen().numpy()
        except (TypeError, RuntimeError):
            raise problem from None


def sum_tolerance(value: Any) -> float:
    """How far from 1 a row of probabilities given as ``value`` may sum: ``PROB_SUM_TOLERANCE``,
    or the epsilon of a coarser float it was computed in (a bfloat16 softmax sums to 1 within
    ~0.4%), told from its dtype before :func:`to_numpy` widens it to float32."""
    if isinstance(value, (list, tuple)):  # (a list of tensors: the coarsest of them)
        if not value or not isinstance(value[0], (list, tuple)) and not hasattr(value[0], "dtype"):
            return PROB_SUM_TOLERANCE  # (plain numbers)
        return max(sum_tolerance(v) for v in value)
    dtype = str(getattr(value, "dtype", "")).removeprefix("torch.")
    return max(PROB_SUM_TOLERANCE, _COARSE_EPS.get(dtype, 0.0))


def warn_ambiguous_layout(shape: tuple[int, ...], field: str) -> None:
    """Warn when an image of ``shape`` (C, H, W or H, W, C: both ends could be channels) is
    read as (H, W, C) by ``layout="auto"``: a (3, 4, 4) CHW image would be stored as a 3x4
    RGBA one."""
    if shape[0] in (1, 3, 4) and shape[-1] in (1, 3, 4):
        warn_caller(
            f"{field}: an image of shape {tuple(shape)} could be (H, W, C) or (C, H, W); read "
            "as (H, W, C): pass layout='HWC' or 'CHW' to say which"
        )


def _to_hwc(arr: np.ndarray, layout: str, field: str) -> np.ndarray:
    problem = layout_problem(layout)
    if problem:
        raise RunInputError(f"layout {problem}", field=field)
    if arr.ndim == 2:
        if layout not in ("auto", "HW"):
            raise RunInputError(f"2-D image but layout={layout!r}", field=field)
        return arr[:, :, None]
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]  # a batch of one, as attack loops often have
    if arr.ndim != 3:
        raise RunInputError(
            f"expected an image of shape (H, W), (H, W, C) or (C, H, W); got shape {arr.shape}",
            field=field,
        )
    if layout == "HW":
        raise RunInputError(f"image of shape {arr.shape} but layout='HW' (2-D)", field=field)
    if layout == "HWC":
        out = arr
    elif layout == "CHW":
        out = np.moveaxis(arr, 0, -1)
    elif arr.shape[-1] in (1, 3, 4):
        warn_ambiguous_layout(arr.shape, field)
        out = arr
    elif arr.shape[0] in (1, 3, 4):
        out = np.moveaxis(arr, 0, -1)
    else:
        raise RunInputError(
            f"cannot tell channels in shape {arr.shape}: need 1, 3 or 4 channels first or last "
            "(pass layout='HWC' or 'CHW')",
            field=field,
        )
    if out.shape[-1] not in (1, 3, 4):
        raise RunInputError(
            f"images need 1 (gray), 3 (RGB) or 4 (RGBA) channels; got shape {out.shape} as HWC",
            field=field,
        )
    return out


def normalize_image(value: Any, *, layout: str = "auto", field: str = "image") -> np.ndarray:
    """Return an (H, W, C) image, uint8 or float32 in [0, 1], or raise :class:`RunInputError`."""
    arr = _to_hwc(to_numpy(value, field), layout, field)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise RunInputError(f"image has an empty side: shape {arr.shape}", field=field)
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if kind == "b":
        return np.ascontiguousarray(arr.astype(np.uint8) * 255)
    if kind in "iu":
        raise RunInputError(
            f"integer images must be uint8 (0..255); got {arr.dtype}. Convert to uint8 or to "
            "float in [0, 1]",
            field=field,
        )
    try:
        out = float32(arr)
    except FloatingPointError:
        raise RunInputError(outside_unit_range(*finite_extremes(arr)), field=field) from None
    lo, hi = float(out.min()), float(out.max())  # NaN and inf show in the extremes
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int((~np.isfinite(out)).sum())
        raise RunInputError(f"contains {bad} NaN/inf values", field=field)
    if lo < 0.0 or hi > 1.0:
        raise RunInputError(outside_unit_range(lo, hi), field=field)
    return out


F32_MAX = float(np.finfo(np.float32).max)


def float32(arr: np.ndarray) -> np.ndarray:
    """``arr`` as contiguous float32; FloatingPointError when a finite value lies beyond
    float32's range (the cast would make it inf, and the image be refused for NaN/inf)."""
    with np.errstate(over="raise"):
        return np.ascontiguousarray(arr, dtype=np.float32)


def finite_extremes(arr: np.ndarray) -> tuple[float, float]:
    """The smallest and largest finite values of ``arr`` (NaN, inf and -inf left out)."""
    finite = arr[np.isfinite(arr)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def outside_unit_range(lo: float, hi: float) -> str:
    """Why float images of extremes ``lo``..``hi`` are refused; digits enough to show the
    overshoot (1.00000095 read "1" at 4 digits: "[0, 1]; got values in [0, 1]")."""

    def shown(value: float, bound: float, off: bool) -> str:
        text = f"{value:.4g}"
        return f"{value:.9g}" if off and float(text) == bound else text

    tiny = max(-lo, hi - 1.0) <= 1e-3  # float rounding, e.g. after undoing a normalization
    return (
        f"float images must lie in [0, 1]; got values in [{shown(lo, 0.0, lo < 0.0)}, "
        f"{shown(hi, 1.0, hi > 1.0)}]" + (" (float rounding? clip them to [0, 1])" if tiny else "")
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    with np.errstate(over="ignore", invalid="ignore"):  # (1.7e308 - -1.7e308: inf, exp 0)
        z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def normalize_confidences(
    value: Any, *, n_classes: int | None, field: str = "confidences", logits: bool = False
) -> np.ndarray:
    """Return a float32 probability vector of length K, or raise :class:`RunInputError`."""
    arr = to_numpy(value, field).astype(np.float64)
    tolerance = sum_tolerance(value)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise RunInputError(
            f"expected a vector of K class scores; got shape {arr.shape}", field=field
        )
    if arr.size == 0:
        raise RunInputError("is empty", field=field)
    if n_classes is not None and arr.size != n_classes:
        raise RunInputError(
            f"has {arr.size} classes but the run has {n_classes} (its class_names, or its "
            "first step's)",
            field=field,
        )
    if not np.isfinite(arr).all():
        raise RunInputError("contains NaN/inf values", field=field)
    if logits:  # (given as logits: refused as probabilities only if they sum to 1 closely)
        if looks_like_probabilities(arr):
            raise RunInputError(probabilities_as_logits(arr), field=field)
        arr = softmax(arr)
    lo, hi, total = float(arr.min()), float(arr.max()), float(arr.sum())
    if lo < -PROB_SLACK or hi > 1.0 + PROB_SLACK or abs(total - 1.0) > tolerance:
        raise RunInputError(not_probabilities(lo, hi, total, tolerance), field=field)
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


PROBABILITIES_AS_LOGITS = (
    "every row lies in [0, 1] (within 0.005) and sums to 1: these look like probabilities, "
    "which a softmax would flatten; log them with confidences=..."
)


def probabilities_as_logits(scores: np.ndarray) -> str:
    """Why ``scores`` given as logits are refused (:data:`PROBABILITIES_AS_LOGITS`), with how
    to clip them first when some lie just outside [0, 1] (confidences= refuses those too)."""
    if scores.min() < -PROB_SLACK or scores.max() > 1.0 + PROB_SLACK:
        return PROBABILITIES_AS_LOGITS + " after clipping them to [0, 1] (np.clip(p, 0, 1))"
    return PROBABILITIES_AS_LOGITS


def looks_like_probabilities(scores: np.ndarray, tolerance: float = PROB_SUM_TOLERANCE) -> bool:
    """Every row of ``scores`` (K >= 2 classes) lies in [0, 1] and sums to 1 (within
    ``tolerance``: :func:`sum_tolerance` of what was given): probabilities given as logits
    (their softmax would squash every confidence towards 1/K)."""
    if scores.shape[-1] < 2:
        return False
    total = scores.sum(axis=-1)
    in_range = scores.min() >= -NEAR_PROB and scores.max() <= 1.0 + NEAR_PROB
    return bool(in_range and np.all(np.abs(total - 1.0) <= tolerance))


def scalar_name_problem(name: str, reserved: tuple[str, ...]) -> str | None:
    """Why ``name`` cannot name a logged scalar (``reserved``: the log call's own arguments),
    or None. ``step`` (a W&B habit: ``log(..., step=i)``) would be kept as a scalar named
    step, so it is refused with what to do instead."""
    if name == "step":
        return "animlib numbers the steps itself (the writer's next_step): name it otherwise"
    if name in reserved:
        return (
            "is not a valid scalar name: it is reserved (an argument of log, or an array of "
            "the run): name it otherwise"
        )
    if not name.isidentifier():
        like = re.sub(r"\W", "_", name)
        like = like if like.isidentifier() else "loss_ce"
        return (
            "is not a valid scalar name: use letters, digits and _ (a Python identifier, not "
            f"starting with a digit), e.g. {like}"
        )
    size = len(name.encode("utf-8"))
    if size > MAX_SCALAR_NAME_BYTES:  # (it names a folder: file systems take 255 bytes)
        return f"is {size} bytes long: scalar names are at most {MAX_SCALAR_NAME_BYTES} (UTF-8)"
    return None


def not_probabilities(
    lo: float, hi: float, total: float, tolerance: float = PROB_SUM_TOLERANCE
) -> str:
    """Why scores of min ``lo``, max ``hi`` and sum ``total`` are no probabilities, with a
    hint that fits: logits when some lie outside [0, 1] (probabilities to clip when only just
    outside, within :data:`NEAR_PROB`, and summing to 1), else a sum that is off."""
    text = f"must be probabilities in [0, 1] summing to 1; got min {lo:.4g}, sum {total:.6g}"
    if lo < -PROB_SLACK or hi > 1.0 + PROB_SLACK:
        near = lo >= -NEAR_PROB and hi <= 1.0 + NEAR_PROB
        if near and abs(total - 1.0) <= tolerance:
            return text + (
                f", max {hi:.6g} (probabilities off [0, 1] by more than rounding, "
                f"{PROB_SLACK:g}: clip them, e.g. np.clip(p, 0, 1))"
            )
        return text + " (these look like logits: log them with logits=..., or apply softmax)"
    return text + " (they lie in [0, 1] but do not sum to 1: divide them by their sum)"


def normalize_scalar(value: Any, field: str) -> float:
    """Return a finite float from a Python/numpy/torch scalar, or raise :class:`RunInputError`."""
    arr = to_numpy(value, field)
    if arr.size != 1:
        raise RunInputError(f"scalars must be single numbers; got shape {arr.shape}", field=field)
    out = float(arr.reshape(()))
    if not np.isfinite(out):
        raise RunInputError(f"is {out} (scalars must be finite)", field=field)
    return out


def as_float01(image: np.ndarray) -> np.ndarray:
    """View a stored image (uint8 or float32) as float32 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return image.astype(np.float32, copy=False)
