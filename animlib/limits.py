"""Size limits of runs and renders: one check (and one message) per limit."""

from __future__ import annotations

from .errors import AnimlibError, Code, RenderLimitError, RunFormatError
from .settings import Settings, settings

MAX_FRAME_PIXELS = 4096 * 4096  # a rendered frame (not configurable: ~64 MB of RGBA)
MAX_JSON_DEPTH = 64  # nesting of params/tags in run.json
MAX_RUN_JSON_BYTES = 8 * 2**20  # a run.json larger than this is refused (written and read)

Limits = Settings  # the limits are fields of the settings (max_side, max_steps, ...)

__all__ = [
    "MAX_FRAME_PIXELS",
    "MAX_JSON_DEPTH",
    "MAX_RUN_JSON_BYTES",
    "Limits",
    "check_classes",
    "check_dpi",
    "check_frame",
    "check_gif_frames",
    "check_run_json_size",
    "check_side",
    "check_steps",
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


def check_run_json_size(
    nbytes: int,
    *,
    run: str | None = None,
    field: str = "run.json",
    error: type[AnimlibError] = RunFormatError,
) -> None:
    """Refuse a run.json of more than :data:`MAX_RUN_JSON_BYTES` bytes (``field`` names the
    largest part, e.g. ``params``, when the writer knows it)."""
    if nbytes > MAX_RUN_JSON_BYTES:
        raise error(
            f"run.json would take {nbytes / 2**20:.1f} MB, over the limit of "
            f"{MAX_RUN_JSON_BYTES / 2**20:.0f} MB: keep large data (arrays, logs, datasets) out "
            "of params, tags and class names",
            run=run,
            field=field,
            code=Code.LIMIT,
        )
