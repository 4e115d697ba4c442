"""The run.json metadata of format version 1: build, serialize, parse and check it."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .arrays import to_numpy
from .errors import AnimlibError, Code, RunFormatError, RunInputError
from .limits import (
    MAX_JSON_DEPTH,
    check_classes,
    check_json_depth,
    check_run_json_size,
    check_side,
    check_steps,
    json_depth,
)
from .settings import settings

FORMAT_VERSION = 1
RUN_JSON = "run.json"
STATUSES = ("running", "finished", "failed")
END_STATUSES = ("finished", "failed")  # what a writer may end a run with
IMAGE_DTYPES = ("uint8", "float32")
SUMMARY_TYPES = {
    "success": (bool,),
    "flip_step": (int,),
    "final_pred": (int,),
    "l0": (int,),
    "final_pred_conf": (int, float),
    "final_true_conf": (int, float),
    "final_target_conf": (int, float),
    "initial_true_conf": (int, float),
    "linf": (int, float),
    "l2": (int, float),
}

SIGNED = ("final_pred_conf", "final_true_conf", "final_target_conf", "initial_true_conf")


def end_status(status: object, run: str | None = None) -> str:
    """``status`` when a writer may end a run with it (:data:`END_STATUSES`): checked before
    anything is written, as a typo ("Failed", "done") in run.json would break the run.

    Raises:
        RunInputError: (INVALID, field ``status``) any other value.
    """
    if not isinstance(status, str) or status not in END_STATUSES:
        raise RunInputError(
            f"must be one of {', '.join(END_STATUSES)}; got {status!r}",
            run=run,
            field="status",
            code=Code.INVALID,
        )
    return status


def original_sha1(image: np.ndarray | None) -> str | None:
    """``original_sha1``: a content hash of the clean image, so runs on the same source image
    can be grouped."""
    if image is None:
        return None
    return hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()[:16]


def now_iso() -> str:
    """The current UTC time as an ISO-8601 string with seconds precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def effective_status(meta: dict, now: datetime | None = None, *, writer_gone: bool = False) -> str:
    """``status`` from run.json, or ``stale`` for a running run silent for too long or whose
    writer is known to be gone (``writer_gone``: :func:`animlib.lock.writer_gone`)."""
    status = meta.get("status", "")
    if status != "running":
        return status
    if writer_gone:
        return "stale"
    try:
        updated = datetime.fromisoformat(str(meta.get("updated")))
    except ValueError:
        return status
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return "stale" if (now - updated).total_seconds() > settings().stale_seconds else status


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        value = float(str(value))  # float32 0.1 as 0.1, not 0.10000000149011612
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and value.dtype.itemsize < 8:
            return _jsonable(value[()]) if value.ndim == 0 else [_jsonable(v) for v in value]
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # torch, JAX, ... tensors
        try:
            return _jsonable(to_numpy(value, "params"))
        except AnimlibError:
            pass
    return str(value)


def dumps(meta: dict) -> bytes:
    """Serialize metadata to strict JSON (no NaN), UTF-8, stable key order."""
    return (json.dumps(_jsonable(meta), indent=2, allow_nan=False) + "\n").encode()


class _Constant(ValueError):
    """NaN, Infinity or -Infinity in a JSON text (Python writes them; JSON has none)."""


def _reject_constant(name: str) -> Any:
    raise _Constant(f"non-standard JSON constant {name}")


class _Duplicate(ValueError):
    """A JSON object with one key twice (Python's parser would keep the last silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _Duplicate()
    return value


class _Pairs(list):
    """A JSON object as its (key, value) pairs in file order, duplicates kept."""


def _nodes(value: Any, path: str = "", repeated: bool = False) -> Iterator[tuple[str, Any, bool]]:
    """Every node of a parsed JSON value in file order, as ``(dotted path, node, repeated)``
    (``repeated``: its key was already used in the same object, which :class:`_Pairs` keep)."""
    yield path, value, repeated
    if isinstance(value, _Pairs):
        items: Any = value
    elif isinstance(value, dict):
        items = value.items()
    else:
        items = enumerate(value) if isinstance(value, list) else ()
    seen: set[Any] = set()
    for key, item in items:
        yield from _nodes(item, f"{path}.{key}" if path else str(key), key in seen)
        seen.add(key)


def _duplicate_at(text: str) -> str:
    """The dotted path of the first key written twice in the JSON ``text`` (or "run.json")."""
    try:
        nodes = _nodes(json.loads(text, object_pairs_hook=_Pairs))
        return next((path for path, _, repeated in nodes if repeated), RUN_JSON)
    except (ValueError, RecursionError):
        return RUN_JSON


def _constant_at(text: str) -> tuple[str, str] | None:
    """The dotted key path of the first NaN/Infinity in the JSON ``text`` and the constant,
    or None (read with Python's parser, which takes them)."""
    try:
        for path, value, _ in _nodes(json.loads(text)):
            if isinstance(value, float) and not math.isfinite(value):
                return path, "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    except (ValueError, RecursionError):
        pass
    return None


def loads(data: bytes, run: str) -> dict:
    """Parse run.json bytes; raise :class:`RunFormatError` naming the run if it is not JSON or
    larger than :data:`~animlib.limits.MAX_RUN_JSON_BYTES` (checked before parsing)."""
    check_run_json_size(len(data), run=run, field=RUN_JSON)
    data = data.removeprefix(b"\xef\xbb\xbf")  # a byte order mark (some Windows editors write one)
    try:
        meta = json.loads(
            data.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys
        )
    except UnicodeDecodeError:
        raise RunFormatError(
            "is not UTF-8 text", run=run, field=RUN_JSON, code=Code.CORRUPT
        ) from None
    except _Constant as exc:  # name the value: "params.eps is NaN"
        found = _constant_at(data.decode("utf-8"))
        if found is None:
            raise RunFormatError(
                f"is not valid JSON ({exc})", run=run, field=RUN_JSON, code=Code.CORRUPT
            ) from None
        path, constant = found
        fix = (
            "null or a number" if constant == "NaN" else 'the text "inf" or "-inf", as animlib does'
        )
        raise RunFormatError(
            f"is {constant}, which JSON does not allow (write {fix})",
            run=run,
            field=path or RUN_JSON,
            code=Code.CORRUPT,
        ) from None
    except _Duplicate:  # a hand edit that added a key already there: which one counts?
        raise RunFormatError(
            "is written twice; keep one of them",
            run=run,
            field=_duplicate_at(data.decode("utf-8")),
            code=Code.CORRUPT,
        ) from None
    except ValueError as exc:
        raise RunFormatError(
            f"is not valid JSON ({exc})", run=run, field=RUN_JSON, code=Code.CORRUPT
        ) from None
    except RecursionError:
        raise RunFormatError(
            "is not valid run metadata (nested too deeply)", run=run, field=RUN_JSON
        ) from None
    if not isinstance(meta, dict):
        raise RunFormatError("must hold a JSON object", run=run, field=RUN_JSON)
    return meta


def check_labels(
    class_names: list[str] | None,
    true_label: int | None,
    target_label: int | None,
    n_classes: int | None,
    err: type = RunInputError,
    run: str | None = None,
) -> None:
    """Check labels are integers inside [0, K) where K is known."""
    for field, label in (("true_label", true_label), ("target_label", target_label)):
        if label is None:
            continue
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise err(
                f"must be an integer class index or null; got {label!r}", run=run, field=field
            )
        if label < 0 or (n_classes is not None and label >= n_classes):
            k = f"0..{n_classes - 1}" if n_classes else "a class index"
            raise err(f"{label} is out of range (expected {k})", run=run, field=field)


def read_meta(data: bytes, run: str) -> dict:
    """Parse and check run.json bytes (:func:`loads`, then :func:`check_meta`).

    Args:
        data: the file's bytes.
        run: the run's id, for errors.

    Returns:
        The checked metadata.

    Raises:
        RunFormatError: naming the run and the field.
    """
    # JSON nests no deeper than it has opening brackets: most files need no walk to know it
    shallow = data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH + 1
    return check_meta(loads(data, run), run, shallow=shallow)


def check_meta(meta: dict, run: str, *, shallow: bool = False) -> dict:
    """Check every run.json field; return it or raise :class:`RunFormatError` naming the field.
    ``shallow``: the metadata is known to nest at most :data:`MAX_JSON_DEPTH` + 1 levels."""

    def bad(field: str, message: str) -> RunFormatError:
        return RunFormatError(message, run=run, field=field)

    version = meta.get("format_version")
    if isinstance(version, str) and version.strip() == str(FORMAT_VERSION):  # (not a new one)
        raise bad(
            "format_version", f"must be the number {FORMAT_VERSION}, not the text {version!r}"
        )
    if version != FORMAT_VERSION:
        raise RunFormatError(
            f"unknown format version {version!r} (this animlib reads version {FORMAT_VERSION})",
            run=run,
            field="format_version",
            code=Code.VERSION,
        )
    # before anything is cached, pickled or shown; field by field only to name a deep one
    if not shallow and json_depth(meta, MAX_JSON_DEPTH + 2) > MAX_JSON_DEPTH + 1:
        for key, value in meta.items():
            check_json_depth(value, run=run, field=str(key), error=RunFormatError)
    _check_fields(meta, bad)
    names = meta.get("class_names")
    n_classes = len(names) if names else None
    check_labels(
        names, meta.get("true_label"), meta.get("target_label"), n_classes, RunFormatError, run
    )
    _check_derived(meta, bad, n_classes)
    _check_sample_fields(meta, bad, n_classes)
    check_limits(meta, run)
    return meta


def text_fields_problem(**fields: Any) -> tuple[str, str] | None:
    """The first of ``fields`` (``attack=``, ``model=``) that is neither text nor None, and
    what is wrong with it (run.json holds them as a string or null): writers refuse it before
    they write a run every reader would call broken."""
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            return key, f"must be a string or null; got {value!r}"
    return None


def _check_fields(meta: dict, bad: Any) -> None:
    """The fields a writer is given (name, attack, model, params, tags, status, steps, class
    names, times) have the right types; the ones every run.json holds are there (all those
    missing named at once: a user fixed one, to find the next)."""
    missing = [key for key in ("name", "status", "steps") if key not in meta]
    if missing:
        also = f" (so {'is' if len(missing) == 2 else 'are'} {', '.join(missing[1:])})"
        raise bad(missing[0], "is missing from run.json" + (also if len(missing) > 1 else ""))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise bad("name", f"must be a non-empty string; got {name!r}")
    if problem := text_fields_problem(attack=meta.get("attack"), model=meta.get("model")):
        raise bad(*problem)
    if not isinstance(meta.get("params", {}), dict):
        raise bad("params", "must be a JSON object")
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise bad("tags", "must be a list of strings")
    status = meta.get("status")
    if status not in STATUSES:
        raise bad("status", f"must be one of {', '.join(STATUSES)}; got {status!r}")
    steps = meta.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise bad("steps", f"must be a non-negative integer; got {steps!r}")
    names = meta.get("class_names")
    if names is not None and (
        not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names)
    ):
        raise bad("class_names", "must be a non-empty list of strings or null")
    for key in ("created", "updated"):
        if meta.get(key) is not None and not _is_time(meta[key]):
            raise bad(key, f"must be an ISO-8601 time string; got {meta[key]!r}")


def _is_time(value: object) -> bool:
    """Whether ``value`` is an ISO-8601 time string or "" (a dead run's "yesterday" was never
    found stale, and was counted)."""
    if value == "":  # (unknown: written so by other tools, and read as such)
        return True
    try:
        return isinstance(value, str) and bool(datetime.fromisoformat(value))
    except ValueError:
        return False


def _index_problem(value: Any, n_classes: int | None, *, count: bool = False) -> str | None:
    """What is wrong with ``value`` as a class index (< ``n_classes`` when known) or, with
    ``count``, as a count; None when it is one or null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"must be a non-negative integer or null; got {value!r}"
    if not count and n_classes is not None and value >= n_classes:
        return f"{value} is out of range (the run has {n_classes} classes)"
    return None


def _check_sample_fields(meta: dict, bad: Any, n_classes: int | None) -> None:
    """The fields BatchWriter adds to a sample run (experiment, sample, experiment_steps,
    initial_pred, experiment_index) have the right types."""
    experiment = meta.get("experiment")
    if experiment is not None and (not isinstance(experiment, str) or not experiment):
        raise bad("experiment", f"must be a non-empty string or null; got {experiment!r}")
    sample = meta.get("sample")  # (an int from BatchWriter; text from other tools is kept)
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int | str)):
        raise bad("sample", f"must be an integer or a string; got {sample!r}")
    for key in ("experiment_steps", "initial_pred"):
        if problem := _index_problem(meta.get(key), n_classes, count=key != "initial_pred"):
            raise bad(key, problem)
    index = meta.get("experiment_index")
    if index is not None and not (
        isinstance(index, list)
        and all(
            isinstance(item, list)
            and len(item) == 3
            and all(type(v) is int and v >= 0 for v in item)
            for item in index
        )
    ):
        raise bad("experiment_index", "must be a list of [experiment step, run step, count]")


def _check_derived(meta: dict, bad: Any, n_classes: int | None) -> None:
    """Fields the writer fills in (image shape and dtype, arrays, summary) have the right types
    (and the summary's counts, classes and norms are not negative, its classes in range)."""
    shape = meta.get("image_shape")
    if shape is not None and not (
        isinstance(shape, list)
        and len(shape) == 3
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    ):
        raise bad("image_shape", f"must be [H, W, C] (positive integers) or null; got {shape!r}")
    dtype = meta.get("image_dtype")
    if dtype is not None and dtype not in IMAGE_DTYPES:
        raise bad("image_dtype", f"must be one of {', '.join(IMAGE_DTYPES)} or null; got {dtype!r}")
    arrays = meta.get("arrays")
    if arrays is not None and (
        not isinstance(arrays, list) or not all(isinstance(a, str) for a in arrays)
    ):
        raise bad("arrays", "must be a list of array names")
    summary = meta.get("summary", {})
    if summary is None:
        return
    if not isinstance(summary, dict):
        raise bad("summary", f"must be a JSON object; got {type(summary).__name__}")
    for key, types in SUMMARY_TYPES.items():
        value = summary.get(key)
        if value is None:
            continue
        wrong = isinstance(value, bool) != (types == (bool,)) or not isinstance(value, types)
        if wrong or (isinstance(value, float) and not math.isfinite(value)):
            kind = {(bool,): "true/false", (int,): "an integer"}.get(types, "a number")
            raise bad(f"summary.{key}", f"must be {kind} or null; got {value!r}")
        if types != (bool,) and key not in SIGNED and value < 0:
            raise bad(f"summary.{key}", f"must not be negative; got {value!r}")
    if problem := _index_problem(summary.get("final_pred"), n_classes):
        raise bad("summary.final_pred", problem)


def check_limits(meta: dict, run: str) -> None:
    """Refuse run.json describing a run larger than the configured limits (steps, classes, size)."""
    steps = meta.get("steps")
    if isinstance(steps, int):
        check_steps(steps, run=run, field="steps")
    names = meta.get("class_names")
    if isinstance(names, list):
        check_classes(len(names), run=run, field="class_names")
    shape = meta.get("image_shape")
    if isinstance(shape, list) and len(shape) == 3:
        check_side(shape[0], shape[1], run=run, field="image_shape")
