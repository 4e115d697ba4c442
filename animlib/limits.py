"""Size limits of runs and renders: one check (and one message) per limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from .errors import AnimlibError, Code, RenderLimitError, RunFormatError
from .settings import Settings, settings

if TYPE_CHECKING:
    from typing_extensions import Unpack

MAX_FRAME_PIXELS = 4096 * 4096  # a rendered frame (not configurable: ~64 MB of RGBA)
MAX_JSON_DEPTH = 64  # nesting of any run.json field (params): checked on write and on read
MAX_RUN_JSON_BYTES = 1 << 20  # size of run.json (1 MiB): checked on read (and by the writer)
MAX_ARRAY_JSON_BYTES = 64 << 10  # size of an array's zarr.json (64 KiB)
MAX_CHUNK_BYTES = 64 << 20  # one decoded chunk (64 MiB; a chunk of one step is always allowed)

Limits = Settings  # the limits are fields of the settings (max_side, max_steps, ...)

__all__ = [
    "Blame",
    "MAX_ARRAY_JSON_BYTES",
    "MAX_CHUNK_BYTES",
    "MAX_FRAME_PIXELS",
    "MAX_JSON_DEPTH",
    "MAX_RUN_JSON_BYTES",
    "Limits",
    "check_classes",
    "check_dpi",
    "check_frame",
    "check_gif_frames",
    "check_json_depth",
    "check_run_json_size",
    "check_side",
    "check_steps",
    "json_depth",
    "limits",
]


def limits() -> Settings:
    """The limits in force now (read from the environment on every call)."""
    return settings()


class Blame(TypedDict, total=False):
    """The keywords of the run checks: what their limit error names, and its class."""

    run: str | None  # the run (default: none)
    field: str  # the field (default: the check's own)
    error: type[AnimlibError]  # RunFormatError (the default) on read, RunInputError on write


def _refuse(
    over: bool,
    text: str,
    *,
    run: str | None = None,
    field: str,
    error: type[AnimlibError] = RunFormatError,
) -> None:
    """Raise the limit error when ``over``: ``error(text)`` with code LIMIT, naming ``run`` and
    ``field``."""
    if over:
        raise error(text, run=run, field=field, code=Code.LIMIT)


def _check_count(count: int, limit: int, noun: str, **blame: Any) -> None:
    """Refuse more than ``limit`` (the setting ``ANIMLIB_MAX_<NOUN>``) of ``noun``."""
    text = f"{count} {noun} exceed the limit of {limit} (ANIMLIB_MAX_{noun.upper()})"
    _refuse(count > limit, text, **blame)


def check_side(height: int, width: int, **blame: Unpack[Blame]) -> None:
    """Refuse images with a side over ``ANIMLIB_MAX_SIDE`` pixels (field ``image_shape``)."""
    limit = limits().max_side
    text = f"{height}x{width} images exceed the limit of {limit} px per side (ANIMLIB_MAX_SIDE)"
    _refuse(max(height, width) > limit, text, **{"field": "image_shape", **blame})


def check_steps(steps: int, **blame: Unpack[Blame]) -> None:
    """Refuse runs with more than ``ANIMLIB_MAX_STEPS`` steps (field ``steps``)."""
    _check_count(steps, limits().max_steps, "steps", **{"field": "steps", **blame})


def check_classes(classes: int, **blame: Unpack[Blame]) -> None:
    """Refuse runs with more than ``ANIMLIB_MAX_CLASSES`` classes (field ``class_names``)."""
    _check_count(classes, limits().max_classes, "classes", **{"field": "class_names", **blame})


def check_dpi(dpi: float, *, run: str | None = None) -> None:
    """Refuse renders above ``ANIMLIB_MAX_DPI``."""
    limit = limits().max_dpi
    text = f"{dpi:g} dpi is above the limit of {limit} (ANIMLIB_MAX_DPI)"
    if limit < 20:  # (the lowest dpi text can be drawn at: no dpi passes)
        text += ", which is below the lowest dpi, 20: raise it"
    _refuse(dpi > limit, text, run=run, field="dpi", error=RenderLimitError)


def check_frame(size: tuple[int, int], *, run: str | None = None) -> None:
    """Refuse frames over :data:`MAX_FRAME_PIXELS` pixels."""
    w, h = size
    text = f"a {w}x{h} frame is above the limit of {MAX_FRAME_PIXELS} pixels; lower dpi or width_px"
    _refuse(w * h > MAX_FRAME_PIXELS, text, run=run, field="dpi", error=RenderLimitError)


def check_gif_frames(frames: int, *, run: str | None = None) -> None:
    """Refuse GIFs of more than ``ANIMLIB_MAX_GIF_FRAMES`` frames."""
    limit = limits().max_gif_frames
    text = (
        f"{frames} frames exceed the limit of {limit} for a GIF (ANIMLIB_MAX_GIF_FRAMES); "
        "raise the stride or use MP4"
    )
    _refuse(frames > limit, text, run=run, field="stride", error=RenderLimitError)


def json_depth(value: Any, stop: int = MAX_JSON_DEPTH + 1) -> int:
    """How deeply ``value`` nests containers (dicts, lists, tuples, arrays): 0 for a scalar, 1
    for a flat list or dict. Iterative (no recursion), and it stops counting at ``stop``, so a
    structure nested 100,000 levels deep, or one containing itself, costs little."""
    import numpy as np

    containers = (dict, list, tuple, np.ndarray)
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            children, depth = item.values(), depth + 1
        elif isinstance(item, (list, tuple)):
            children, depth = item, depth + 1
        elif isinstance(item, np.ndarray):
            depth += item.ndim
            children = item.ravel() if item.dtype == object else ()
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest >= stop:
                return deepest
        # only containers go on the list: a long list of names costs one pass, no tuples
        todo.extend((child, depth) for child in children if isinstance(child, containers))
    return deepest


def check_json_depth(value: Any, **blame: Unpack[Blame]) -> None:
    """Refuse a run.json field nested deeper than :data:`MAX_JSON_DEPTH` levels (such data
    cannot be serialized, cached or shown without running out of stack; field ``params``)."""
    text = (
        f"is nested more than {MAX_JSON_DEPTH} levels deep (the limit, "
        "animlib.limits.MAX_JSON_DEPTH)"
    )
    _refuse(json_depth(value) > MAX_JSON_DEPTH, text, **{"field": "params", **blame})


def check_run_json_size(nbytes: int, **blame: Unpack[Blame]) -> None:
    """Refuse a run.json over :data:`MAX_RUN_JSON_BYTES` bytes (large params or tags belong in
    a file of their own, not in the metadata rewritten at every step; field ``run.json``)."""
    text = (
        f"is {nbytes:,} bytes, over the limit of {MAX_RUN_JSON_BYTES:,} "
        "(animlib.limits.MAX_RUN_JSON_BYTES)"
    )
    _refuse(nbytes > MAX_RUN_JSON_BYTES, text, **{"field": "run.json", **blame})
