"""Size limits of runs and renders: one check (and one message) per limit."""

from __future__ import annotations

from typing import Any

from .errors import AnimlibError, Code, RenderLimitError, RunFormatError
from .settings import Settings, settings

MAX_FRAME_PIXELS = 4096 * 4096  # a rendered frame (not configurable: ~64 MB of RGBA)
MAX_JSON_DEPTH = 64  # nesting of any run.json field (params): checked on write and on read
MAX_RUN_JSON_BYTES = 1 << 20  # size of run.json (1 MiB): checked on read (and by the writer)
MAX_ARRAY_JSON_BYTES = 64 << 10  # size of an array's zarr.json (64 KiB)
MAX_CHUNK_BYTES = 64 << 20  # one decoded chunk (64 MiB; a chunk of one step is always allowed)

Limits = Settings  # the limits are fields of the settings (max_side, max_steps, ...)

__all__ = [
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


def _over(
    error: type[AnimlibError], text: str, limit: object, env: str, run: str | None, field: str
) -> AnimlibError:
    suffix = f" ({env})" if env else ""
    return error(f"{text} the limit of {limit}{suffix}", run=run, field=field, code=Code.LIMIT)


def check_side(
    height: int,
    width: int,
    *,
    run: str | None = None,
    field: str = "image_shape",
    error: type[AnimlibError] = RunFormatError,
) -> None:
    """Refuse images with a side over ``ANIMLIB_MAX_SIDE`` pixels."""
    limit = limits().max_side
    if max(height, width) > limit:
        text = f"{height}x{width} images exceed"
        raise _over(error, text, f"{limit} px per side", "ANIMLIB_MAX_SIDE", run, field)


def check_steps(
    steps: int,
    *,
    run: str | None = None,
    field: str = "steps",
    error: type[AnimlibError] = RunFormatError,
) -> None:
    """Refuse runs with more than ``ANIMLIB_MAX_STEPS`` steps."""
    limit = limits().max_steps
    if steps > limit:
        raise _over(error, f"{steps} steps exceed", limit, "ANIMLIB_MAX_STEPS", run, field)


def check_classes(
    classes: int,
    *,
    run: str | None = None,
    field: str = "class_names",
    error: type[AnimlibError] = RunFormatError,
) -> None:
    """Refuse runs with more than ``ANIMLIB_MAX_CLASSES`` classes."""
    limit = limits().max_classes
    if classes > limit:
        raise _over(error, f"{classes} classes exceed", limit, "ANIMLIB_MAX_CLASSES", run, field)


def check_dpi(dpi: float, *, run: str | None = None) -> None:
    """Refuse renders above ``ANIMLIB_MAX_DPI``."""
    limit = limits().max_dpi
    if dpi > limit:
        raise _over(RenderLimitError, f"{dpi:g} dpi is above", limit, "ANIMLIB_MAX_DPI", run, "dpi")


def check_frame(size: tuple[int, int], *, run: str | None = None) -> None:
    """Refuse frames over :data:`MAX_FRAME_PIXELS` pixels."""
    w, h = size
    if w * h > MAX_FRAME_PIXELS:
        raise RenderLimitError(
            f"a {w}x{h} frame is above the limit of {MAX_FRAME_PIXELS} pixels; lower dpi or "
            "width_px",
            run=run,
            field="dpi",
        )


def check_gif_frames(frames: int, *, run: str | None = None) -> None:
    """Refuse GIFs of more than ``ANIMLIB_MAX_GIF_FRAMES`` frames."""
    limit = limits().max_gif_frames
    if frames > limit:
        raise RenderLimitError(
            f"{frames} frames exceed the limit of {limit} for a GIF (ANIMLIB_MAX_GIF_FRAMES); "
            "raise the stride or use MP4",
            run=run,
            field="stride",
        )


def json_depth(value: Any, stop: int = MAX_JSON_DEPTH + 1) -> int:
    """How deeply ``value`` nests containers (dicts, lists, tuples, arrays): 0 for a scalar, 1
    for a flat list or dict. Iterative (no recursion), and it stops counting at ``stop``, so a
    structure nested 100,000 levels deep, or one containing itself, costs little."""
    import numpy as np

    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            children, depth = list(item.values()), depth + 1
        elif isinstance(item, (list, tuple)):
            children, depth = list(item), depth + 1
        elif isinstance(item, np.ndarray):
            depth += item.ndim
            children = list(item.ravel()) if item.dtype == object else []
        else:
            continue
        deepest = max(deepest, depth)
        if deepest >= stop:
            return deepest
        todo.extend((child, depth) for child in children)
    return deepest


def check_json_depth(
    value: Any,
    *,
    run: str | None = None,
    field: str = "params",
    error: type[AnimlibError] = RunFormatError,
) -> None:
    """Refuse a run.json field nested deeper than :data:`MAX_JSON_DEPTH` levels (such data
    cannot be serialized, cached or shown without running out of stack)."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise error(
            f"is nested more than {MAX_JSON_DEPTH} levels deep (the limit, "
            "animlib.limits.MAX_JSON_DEPTH)",
            run=run,
            field=field,
            code=Code.LIMIT,
        )


def check_run_json_size(
    nbytes: int,
    *,
    run: str | None = None,
    field: str = "run.json",
    error: type[AnimlibError] = RunFormatError,
) -> None:
    """Refuse a run.json over :data:`MAX_RUN_JSON_BYTES` bytes (large params or tags belong in
    a file of their own, not in the metadata rewritten at every step)."""
    if nbytes > MAX_RUN_JSON_BYTES:
        raise error(
            f"is {nbytes:,} bytes, over the limit of {MAX_RUN_JSON_BYTES:,} "
            "(animlib.limits.MAX_RUN_JSON_BYTES)",
            run=run,
            field=field,
            code=Code.LIMIT,
        )
