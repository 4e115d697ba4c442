"""Fast rendering: blit changed artists on an Agg canvas and stream raw RGB frames to a writer."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from .animate import use_bundled_ffmpeg
from .errors import RenderLimitError
from .figures import FigureOptions, PanelFigure, figure_size, make_figure
from .limits import check_dpi, check_frame, limits
from .outputs import available_formats, get_writer, writer_for_path

__all__ = [
    "FrameRenderer",
    "iter_frames",
    "render",
    "render_cache_key",
    "render_compare",
]

use_bundled_ffmpeg()

Progress = Callable[[int, int], Any]
_SLOT_CACHE = 512  # pixel snapshots kept per slot (value cells repeat "0.01", "0.02", ...)


def _name(run: Any) -> str:
    return str(getattr(run, "id", None) or getattr(run, "name", None) or "run")


# ----------------------------------------------------------------------------- text glyph cache

try:  # private FT2Font API of matplotlib >= 3.11; without it text is drawn the standard way
    from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
    from matplotlib.ft2font import FT2Font, RenderMode

    _GLYPH_CACHE_OK = all(
        hasattr(FT2Font, a) for a in ("_layout", "_render_glyph", "_set_transform")
    ) and hasattr(RendererAgg, "_draw_text_glyphs_and_boxes")
except ImportError:  # pragma: no cover
    from matplotlib.backends.backend_agg import RendererAgg

    _GLYPH_CACHE_OK = False

_IDENTITY = np.array([[0x10000, 0], [0, 0x10000]], dtype=int)
_LAYOUTS: dict[tuple[Any, ...], list[tuple[Any, int, float, float]]] = {}
_GLYPHS: dict[tuple[Any, ...], tuple[np.ndarray, int, int]] = {}
_MAX_CACHED = 50_000


class _GlyphCachingRenderer(RendererAgg):
    """``RendererAgg`` that reuses text layouts and glyph bitmaps between frames.

    It does exactly what ``RendererAgg.draw_text`` does for plain horizontal text, but a glyph
    rendered at a given 1/64-pixel offset is kept and reused, so the pixels are identical.
    """

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):  # noqa: D102
        if ismath or angle != 0 or not _GLYPH_CACHE_OK:
            return super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        flags = get_hinting_flag()
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        lkey = (hash(prop), s, self.dpi, flags, repr(features), repr(language))
        items = _LAYOUTS.get(lkey)
        if items is None:
            font = self._prepare_font(prop)
            items = [
                (item.ft_object, item.glyph_index, item.x, item.y)
                for item in font._layout(s, flags=flags, features=features, language=language)
            ]
            if len(_LAYOUTS) > _MAX_CACHED:
                _LAYOUTS.clear()
            _LAYOUTS[lkey] = items
        aa = gc.get_antialiased()
        height = self.height
        draw = self._renderer.draw_text_image
        for ft, glyph, dx, dy in items:
            gx = round(0x40 * (x + dx))
            gy = round(0x40 * (height - y + dy))
            gkey = (ft.fname, size, self.dpi, glyph, gx & 63, gy & 63, aa, flags)
            entry = _GLYPHS.get(gkey)
            if entry is None:
                ft.set_size(size, self.dpi)
                ft._set_transform(_IDENTITY, [gx, gy])
                bitmap = ft._render_glyph(
                    glyph, flags, RenderMode.NORMAL if aa else RenderMode.MONO
                )
                buffer = np.array(bitmap.buffer)
                if not aa:
                    buffer *= 0xFF
                entry = (buffer, bitmap.left - (gx >> 6), bitmap.top - (gy >> 6))
                if len(_GLYPHS) > _MAX_CACHED:
                    _GLYPHS.clear()
                _GLYPHS[gkey] = entry
            buffer, rel_left, rel_top = entry
            top = (gy >> 6) + rel_top
            draw(buffer, (gx >> 6) + rel_left, int(height) - top + buffer.shape[0], 0, gc)
        return None


_METRICS: dict[tuple[Any, ...], tuple[float, float, float]] = {}


def _cached_metrics(renderer: RendererAgg, s: str, prop: Any, ismath: Any) -> Any:
    key = (s, hash(prop), renderer.dpi, ismath)
    m = _METRICS.get(key)
    if m is None:
        m = RendererAgg.get_text_width_height_descent(renderer, s, prop, ismath)
        if len(_METRICS) > _MAX_CACHED:
            _METRICS.clear()
        _METRICS[key] = m
    return m


_GlyphCachingRenderer.get_text_width_height_descent = _cached_metrics  # type: ignore[method-assign]


class _Canvas(FigureCanvasAgg):
    """Agg canvas whose renderer caches glyphs (see :class:`_GlyphCachingRenderer`)."""

    def get_renderer(self):  # noqa: D102
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = _GlyphCachingRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer


# ------------------------------------------------------------------------------- block reader


class _BlockReader:
    """Reads the steps a render needs a block at a time (a run is never loaded whole).

    Without a stride, a block is several whole stored chunks read with one slice, so a chunk
    holding many steps is decoded once (not once per step) and the per-read overhead is shared.
    With a stride of a chunk or more, steps are read one at a time. Blocks are kept under
    ``_BLOCK_BYTES``, so memory does not grow with the run's length. A failed block read is
    retried step by step, so errors name the step and earlier steps still render.

    Reads happen in the drawing thread on purpose: a reader thread would contend with it for
    the GIL (zarr's reads are largely Python), which measured slower on two cores.
    """

    def __init__(self, run: Any, stride: int) -> None:
        self.images = run.images
        self.n = len(run)
        self.stride = stride
        chunk = _chunk_len(self.images)
        self.block = 1
        if stride < chunk or stride == 1:
            fits = max(_BLOCK_BYTES // _step_bytes(run), 1)  # steps within the byte budget
            length = min(max(chunk, _BLOCK_STEPS), fits)
            self.block = max(length - length % chunk, chunk)  # whole chunks, at least one
        self.current: tuple[int, dict[int, np.ndarray]] = (-1, {})

    def _read(self, block: int) -> dict[int, np.ndarray]:
        a = block * self.block
        b = min(a + self.block, self.n)
        steps = range(-(-a // self.stride) * self.stride, b, self.stride)  # frames in [a, b)
        if len(steps) > 1:
            try:
                data = np.asarray(self.images[a:b])
                return {s: data[s - a] for s in steps}
            except Exception:
                pass  # step by step, below
        return {s: np.asarray(self.images[s]) for s in steps}

    def __call__(self, step: int) -> np.ndarray:
        block = step // self.block
        if self.current[0] != block:
            self.current = (-1, {})  # let the previous block go before reading the next
            self.current = (block, self._read(block))
        image = self.current[1].get(step)
        return image if image is not None else np.asarray(self.images[step])


_BLOCK_BYTES = 16 * 1024 * 1024  # most image bytes read at once
_BLOCK_STEPS = 8


def _chunk_len(images: Any) -> int:
    try:
        return max(int(getattr(images, "chunk_len", 1)), 1)
    except (TypeError, ValueError):
        return 1


def _step_bytes(run: Any) -> int:
    try:
        shape = tuple(run.image_shape)
    except Exception:
        return 4 * 512 * 512 * 4
    return max(4 * math.prod(int(s) for s in shape), 1)  # float32 is the largest stored dtype


# ------------------------------------------------------------------------------ frame renderer


class FrameRenderer:
    """Draws the static background once, then per frame redraws only what changed.

    Every dynamic artist owns a screen area (a "slot": an image panel, the bars, one value cell,
    the step title) that no other dynamic artist draws into. A frame copies the background back
    into the dirty slots only and draws their artists with ``draw_artist``-style calls, so the
    result equals a full redraw. Steps are read from the store a block at a time.

    ``len(renderer)`` frames of ``renderer.size = (width, height)``; ``renderer.frame(i)`` or
    iterate for ``(height, width, 3)`` uint8 arrays.
    """

    def __init__(self, run_or_runs: Any, options: FigureOptions | None = None) -> None:
        self.options = options or FigureOptions()
        _check_dpi(run_or_runs, self.options)
        self.figure: PanelFigure = make_figure(run_or_runs, self.options)
        self.fig = self.figure.fig
        self.canvas = _Canvas(self.fig)
        self.size: tuple[int, int] = self.canvas.get_width_height()
        for row in self.figure.rows:
            row.read_image = _BlockReader(row.run, self.options.stride)
        _check_size(run_or_runs, self.size)
        slots = self.figure.slots
        for slot in slots:
            for artist in slot.artists:
                artist.set_animated(True)  # left out of the background
        self.canvas.draw()
        self._buffer = np.asarray(self.canvas.buffer_rgba())
        self._background = self._buffer.copy()
        self._renderer = self.canvas.get_renderer()
        w, h = self.size
        self._slots = []
        for slot in slots:
            x0, y0, x1, y1 = slot.region()
            cols = slice(max(int(math.floor(x0)), 0), min(int(math.ceil(x1)), w))
            rows = slice(max(h - int(math.ceil(y1)), 0), min(h - int(math.floor(y0)), h))
            self._slots.append((slot, (rows, cols), {}))
        self.figure.mark_all_dirty()

    def __len__(self) -> int:
        return self.figure.n_frames

    def frame_rgba(self, index: int) -> np.ndarray:
        """Frame ``index`` as a read-only view of the canvas (RGBA; valid until the next call)."""
        self.figure.update(index)
        buf, bg, renderer = self._buffer, self._background, self._renderer
        for slot, area, cache in self._slots:
            if not slot.dirty:
                continue
            slot.dirty = False
            key = slot.key
            if key is not None:
                pixels = cache.get(key)
                if pixels is not None:
                    buf[area] = pixels
                    continue
            buf[area] = bg[area]
            for artist in slot.artists:
                artist.draw(renderer)
            if key is not None and len(cache) < _SLOT_CACHE:
                cache[key] = buf[area].copy()
        return buf

    def frame(self, index: int) -> np.ndarray:
        """The RGB frame ``index`` (a new array)."""
        return _rgb(self.frame_rgba(index))

    def full_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` by a complete redraw (slow; for checking :meth:`frame`)."""
        self.figure.update(index)
        for slot, *_ in self._slots:
            for artist in slot.artists:
                artist.set_animated(False)
        try:
            self.canvas.draw()
            return _rgb(np.asarray(self.canvas.buffer_rgba()))
        finally:
            for slot, *_ in self._slots:
                for artist in slot.artists:
                    artist.set_animated(True)
            self.canvas.draw()
            self._buffer = np.asarray(self.canvas.buffer_rgba())
            self._background = self._buffer.copy()
            self._renderer = self.canvas.get_renderer()
            self.figure.mark_all_dirty()

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for i in range(len(self)):
                yield self.frame(i)
        finally:
            self.close()

    def close(self) -> None:
        """Drop the block of images held for the next frames (the renderer still works)."""
        for row in self.figure.rows:
            row.read_image = row.run.images.__getitem__

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgb(rgba: np.ndarray) -> np.ndarray:
    h, w = rgba.shape[:2]
    image = Image.frombuffer("RGBA", (w, h), np.ascontiguousarray(rgba), "raw", "RGBA", 0, 1)
    return np.asarray(image.convert("RGB"))


def _options(
    *,
    dpi: float = 100,
    stride: int = 1,
    top_k: int = 10,
    amplification: float | None = None,
    width_px: int = 1280,
) -> FigureOptions:
    return FigureOptions(
        dpi=dpi, top_k=top_k, amplification=amplification, stride=stride, width_px=width_px
    )


def _check_dpi(run_or_runs: Any, options: FigureOptions) -> None:
    check_dpi(options.dpi, run=_names(run_or_runs))


def _check_size(run_or_runs: Any, size: tuple[int, int]) -> None:
    check_frame(size, run=_names(run_or_runs))


def _names(run_or_runs: Any) -> str:
    runs = run_or_runs if isinstance(run_or_runs, (list, tuple)) else [run_or_runs]
    return ",".join(_name(r) for r in runs)


def iter_frames(
    run_or_runs: Any,
    *,
    dpi: float = 100,
    stride: int = 1,
    top_k: int = 10,
    amplification: float | None = None,
    width_px: int = 1280,
) -> Iterator[np.ndarray]:
    """Yield the RGB uint8 frames of a run (or of a comparison, given a list/tuple of runs).

    Frame ``i`` shows step ``i * stride``; they equal what :func:`animlib.animate` shows.
    """
    options = _options(
        dpi=dpi, stride=stride, top_k=top_k, amplification=amplification, width_px=width_px
    )
    yield from FrameRenderer(run_or_runs, options)


def _metadata(runs: Sequence[Any], stride: int, fps: float) -> dict[str, Any]:
    names = [str(getattr(r, "name", None) or _name(r)) for r in runs]
    if len(runs) == 1:
        run = runs[0]
        title = names[0]
        bits = [b for b in (getattr(run, "attack", None), getattr(run, "model", None)) if b]
        comment = " · ".join(str(b) for b in bits)
        comment = f"{comment} · {len(run)} steps" if comment else f"{len(run)} steps"
    else:
        title = "compare: " + " | ".join(names)
        comment = f"{len(runs)} runs, up to {max(len(r) for r in runs)} steps"
    if stride > 1:
        comment += f" · every {stride} steps"
    comment += f" · {fps:g} fps"
    return {
        "title": title,
        "artist": "animlib",
        "comment": comment,
        "steps": max(len(r) for r in runs),
        "stride": stride,
    }


def _render(
    runs: list[Any],
    path: str | os.PathLike[str],
    *,
    fps: float,
    dpi: float,
    stride: int,
    top_k: int,
    amplification: float | None,
    bitrate: int | None,
    progress: Progress | None,
    width_px: int,
    format: str | None,
) -> Path:
    path = Path(path)
    writer_kwargs: dict[str, Any] = {"bitrate": bitrate} if bitrate else {}
    fmt = format or path.suffix
    if fmt.lower().lstrip(".") == "gif":
        writer_kwargs["max_frames"] = limits().max_gif_frames
    writer = get_writer(fmt, **writer_kwargs) if format else writer_for_path(path, **writer_kwargs)
    options = _options(
        dpi=dpi, stride=stride, top_k=top_k, amplification=amplification, width_px=width_px
    )
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 0 < fps <= 120):
        raise ValueError(f"fps must be in (0, 120], got {fps!r}")
    if writer.name == "gif":
        n = math.ceil(max(len(r) for r in runs) / stride)
        if n > limits().max_gif_frames:
            raise RenderLimitError(
                f"{n} frames is above the GIF limit {limits().max_gif_frames}; "
                "raise stride or use MP4",
                run=",".join(_name(r) for r in runs),
                field="stride",
            )
    target = runs if len(runs) > 1 else runs[0]
    metadata = _metadata(runs, stride, fps)
    _check_dpi(target, options)
    size = _planned_size(target, options)
    with contextlib.ExitStack() as stack:
        if size is not None:  # start the encoder at once: it warms up while the figure is built
            _check_size(target, size)
            stack.enter_context(writer.saving(path, size, fps, metadata, channels=4))
        frames = stack.enter_context(FrameRenderer(target, options))
        if size is None:
            stack.enter_context(writer.saving(path, frames.size, fps, metadata, channels=4))
        elif frames.size != size:
            raise RuntimeError(f"frames are {frames.size}, not the planned {size}")
        total = len(frames)
        if progress is not None:
            progress(0, total)
        for i in range(total):
            writer.grab_frame(frames.frame_rgba(i))
            if progress is not None:
                progress(i + 1, total)
    return path


def _planned_size(run_or_runs: Any, options: FigureOptions) -> tuple[int, int] | None:
    """The frame size, known before the figure is built (None if the runs cannot be planned:
    building the figure then raises the error that names the problem)."""
    try:
        return figure_size(run_or_runs, options)
    except Exception:
        return None


def render(
    run: Any,
    path: str | os.PathLike[str],
    *,
    fps: float = 10,
    dpi: float = 100,
    stride: int = 1,
    top_k: int = 10,
    amplification: float | None = None,
    bitrate: int | None = None,
    progress: Progress | None = None,
    width_px: int = 1280,
    format: str | None = None,
) -> Path:
    """Render one run to ``path``; the format comes from the suffix (or ``format``).

    Formats: see :func:`animlib.outputs.available_formats` (mp4, gif, html, webm if offered).
    ``bitrate`` is in kbit/s (default: constant quality). ``progress(done, total)`` is called
    after every frame. The file appears under ``path`` only when complete.
    """
    return _render(
        [run],
        path,
        fps=fps,
        dpi=dpi,
        stride=stride,
        top_k=top_k,
        amplification=amplification,
        bitrate=bitrate,
        progress=progress,
        width_px=width_px,
        format=format,
    )


def render_compare(
    runs: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    fps: float = 10,
    dpi: float = 100,
    stride: int = 1,
    top_k: int = 10,
    amplification: float | None = None,
    bitrate: int | None = None,
    progress: Progress | None = None,
    width_px: int = 1280,
    format: str | None = None,
) -> Path:
    """Render 2-6 runs as synchronised rows (same step on every row; short runs hold their end)."""
    runs = list(runs)
    if not 2 <= len(runs) <= 6:
        raise ValueError(f"render_compare needs 2 to 6 runs, got {len(runs)}")
    return _render(
        runs,
        path,
        fps=fps,
        dpi=dpi,
        stride=stride,
        top_k=top_k,
        amplification=amplification,
        bitrate=bitrate,
        progress=progress,
        width_px=width_px,
        format=format,
    )


def render_cache_key(run_or_runs: Any, fmt: str, **options: Any) -> str:
    """A key that changes when any run's content, the format or a render option changes."""
    from . import __version__

    runs = run_or_runs if isinstance(run_or_runs, (list, tuple)) else [run_or_runs]
    payload = {
        "v": __version__,
        "runs": [[_name(r), r.fingerprint] for r in runs],
        "fmt": str(fmt).lower().lstrip("."),
        "options": {k: options[k] for k in sorted(options)},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[
        :32
    ]


def formats() -> list[str]:
    """Output formats available on this machine."""
    return available_formats()
