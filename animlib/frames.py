"""Frames of a run as RGB arrays, fast: :class:`FrameRenderer` redraws only what changed."""

# Steps are read a block at a time (:class:`BlockReader`), text through the glyph-caching canvas of
# :mod:`animlib.glyphs` when this matplotlib allows it.

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from . import kernels
from .chunk_reader import ChunkReader
from .figure import PanelFigure, RedrawRegion, make_figure
from .glyphs import agg_canvas
from .limits import check_frame
from .options import RenderOptions
from .protocol import RunLike, as_runs, labels

__all__ = ["BlockReader", "FrameRenderer", "iter_frames"]

_REGION_CACHE = 512  # pixel snapshots kept per region (value cells repeat "0.01", "0.02", ...)
_BLOCK_BYTES = 16 * 1024 * 1024  # most image bytes read at once
_BLOCK_STEPS = 8
_PREFETCH = True  # read the next block in a worker thread (see BlockReader)
_MADE = itertools.count()  # renderers made in this process


def _chunk_len(images: Any) -> int:
    try:
        return max(int(getattr(images, "chunk_len", 1)), 1)
    except (TypeError, ValueError):
        return 1


def _step_bytes(run: RunLike) -> int:
    try:
        shape = tuple(run.image_shape)
    except Exception:
        return 4 * 512 * 512 * 4
    return max(4 * math.prod(int(s) for s in shape), 1)  # float32 is the largest stored dtype


class BlockReader:
    """Reads the steps a render needs a block at a time (a run is never loaded whole).

    Without a stride, a block is several whole stored chunks read with one slice, so a chunk
    holding many steps is decoded once (not once per step) and the per-read overhead is shared.
    With a stride of a chunk or more, steps are read one at a time. Blocks are kept under
    ``_BLOCK_BYTES``, so memory does not grow with the run's length. A failed block read is
    retried step by step, so errors name the step and earlier steps still render. Chunks
    stored plainly or with the ``animlib.steps`` codec are read straight from the store
    (:class:`~animlib.chunk_reader.ChunkReader`), the rest (and any chunk it refuses) through
    zarr's checked read.

    With ``prefetch``, the next block is read in a worker thread while the current one is
    drawn: decompressing a chunk releases the GIL, so on large images (where decoding costs
    more than zarr's Python around it) it overlaps with drawing. Steps are expected in order;
    a jump back or ahead reads the block it needs at once (a prefetched one is dropped).
    """

    def __init__(self, run: RunLike, stride: int, *, prefetch: bool = False) -> None:
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
        self._chunks = ChunkReader.of(run)  # None: read through zarr
        self._prefetch = prefetch
        self._pool: ThreadPoolExecutor | None = None
        self._next: tuple[int, Future[dict[int, np.ndarray]]] | None = None

    def _steps(self, block: int) -> list[int]:
        a = block * self.block
        b = min(a + self.block, self.n)
        steps = list(range(-(-a // self.stride) * self.stride, b, self.stride))  # frames in [a, b)
        if b == self.n > a and (not steps or steps[-1] != b - 1):
            steps.append(b - 1)  # the last step has a frame of its own (options.frames)
        return steps

    def _read(self, block: int) -> dict[int, np.ndarray]:
        steps = self._steps(block)
        a = block * self.block
        b = min(a + self.block, self.n)
        if self._chunks is not None and steps:
            plain = self._chunks.steps(a, b, steps)
            if plain is not None:
                return plain
        if len(steps) > 1:
            try:
                data = np.asarray(self.images[a:b])
                return {s: data[s - a] for s in steps}
            except Exception:
                pass  # step by step, below
        return {s: np.asarray(self.images[s]) for s in steps}

    def _fetch(self, block: int) -> dict[int, np.ndarray]:
        """Block ``block``: the prefetched one if it is that, else read now."""
        ahead, self._next = self._next, None
        if ahead is not None:
            if ahead[0] == block:
                return ahead[1].result()  # its read error, if any, is raised here
            ahead[1].cancel()
        return self._read(block)

    def start(self, step: int) -> None:
        """Start reading the block holding ``step`` in the worker thread (with ``prefetch``;
        else nothing): the first call that needs it then finds it read, or waits for it."""
        block = step // self.block
        if self._next is None and self.current[0] != block:
            self._start_next(block)

    def _start_next(self, block: int) -> None:
        if not self._prefetch or not self._steps(block):
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="animlib-read")
        self._next = (block, self._pool.submit(self._read, block))

    def __call__(self, step: int) -> np.ndarray:
        block = step // self.block
        if self.current[0] != block:
            self.current = (-1, {})  # let the previous block go before reading the next
            self.current = (block, self._fetch(block))
            self._start_next(block + 1)
        image = self.current[1].get(step)
        return image if image is not None else np.asarray(self.images[step])

    def close(self) -> None:
        """Drop the blocks held and the arrays kept for decoding into, and stop the worker
        thread (reading again restarts it)."""
        self.current = (-1, {})
        ahead, self._next = self._next, None
        if ahead is not None:
            ahead[1].cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._chunks is not None:
            self._chunks.release()


class _Area:
    """A redraw region as pixel slices of the canvas buffer, with pixels drawn for its keys."""

    __slots__ = ("_around", "_last_cover", "cache", "height", "index", "region")

    def __init__(self, region: RedrawRegion, size: tuple[int, int]) -> None:
        w, h = size
        x0, y0, x1, y1 = region.region()
        cols = slice(max(int(math.floor(x0)), 0), min(int(math.ceil(x1)), w))
        rows = slice(max(h - int(math.ceil(y1)), 0), min(h - int(math.floor(y0)), h))
        self.region = region
        self.height = h
        self.index = (rows, cols)
        self.cache: dict[Hashable, np.ndarray] = {}
        self._around: dict[tuple[int, int, int, int], list[tuple[slice, slice]]] = {}
        self._last_cover: tuple[int, int, int, int] | None = None

    def background(self) -> list[tuple[slice, slice]]:
        """The parts of the area to put the background back into before drawing: all of it,
        or the strips around what the artists will cover (:meth:`RedrawRegion.covered`), or
        nothing when its one artist covers what it covered last time (it drew nothing else:
        the strips still hold the background; on 1280x1440 comparison frames, restoring
        them cost ~50 us an image, a cache miss for each of their rows)."""
        cover = self.region.covered()
        last, self._last_cover = self._last_cover, cover
        if cover is None:
            return [self.index]
        if cover == last and len(self.region.artists) == 1:
            return []
        strips = self._around.get(cover)
        if strips is None:
            strips = self._around[cover] = self._strips(cover)
        return strips

    def _strips(self, cover: tuple[int, int, int, int]) -> list[tuple[slice, slice]]:
        rows, cols = self.index
        x0, y0, x1, y1 = cover
        top, bottom = self.height - y1, self.height - y0  # rows, counted down
        if x0 < cols.start or x1 > cols.stop or top < rows.start or bottom > rows.stop:
            return [self.index]  # not inside the area: put everything back
        parts = [
            (slice(rows.start, top), cols),
            (slice(bottom, rows.stop), cols),
            (slice(top, bottom), slice(cols.start, x0)),
            (slice(top, bottom), slice(x1, cols.stop)),
        ]
        return [(r, c) for r, c in parts if r.stop > r.start and c.stop > c.start]


class FrameRenderer:
    """Draws the static background once, then per frame redraws only what changed.

    Every changing artist belongs to a :class:`~animlib.figure.RedrawRegion` (an image panel,
    the bars, one value cell, the step number) that no other changing artist draws into. A frame
    copies the background back into the dirty regions only and draws their artists, so the
    result equals a full redraw. Steps are read from the store a block at a time.

    ``len(renderer)`` frames of ``renderer.size = (width, height)``; ``renderer.frame(i)`` or
    iterate for ``(height, width, 3)`` uint8 arrays.
    """

    def __init__(
        self,
        run_or_runs: RunLike | Sequence[RunLike],
        options: RenderOptions | Mapping[str, Any] | None = None,
    ) -> None:
        self.options = RenderOptions.of(options)
        if next(_MADE) >= 1:  # a process that renders twice renders more: compile the panels'
            kernels.display_rgb(start=True)  # pixels (in the background; numpy meanwhile)
        runs = as_runs(run_or_runs)
        self.runs: list[RunLike] = runs
        stride = self.options.stride
        self._readers = [BlockReader(run, stride, prefetch=_PREFETCH) for run in runs]
        try:
            for reader in self._readers:  # the first steps decode while the figure is built
                reader.start(0)
            self.figure: PanelFigure = make_figure(
                runs, self.options, axes=False, sources=self._readers
            )
            self.fig = self.figure.fig
            self.canvas = agg_canvas(self.fig)
            self.size: tuple[int, int] = self.canvas.get_width_height()
            check_frame(self.size, run=labels(runs))
        except BaseException:
            for reader in self._readers:
                reader.close()
            raise
        regions = self.figure.regions
        self._set_animated(regions, True)  # left out of the background
        self._draw_background()
        self._areas = [_Area(region, self.size) for region in regions]
        self.figure.mark_all_dirty()

    @staticmethod
    def _set_animated(regions: Sequence[RedrawRegion], animated: bool) -> None:
        for region in regions:
            for artist in region.artists:
                artist.set_animated(animated)

    def _draw_background(self) -> None:
        self.changed: list[tuple[slice, slice]] | None = None  # the whole canvas was redrawn
        self._drawn = False  # (so the next frame may differ anywhere from the one before)
        self.canvas.draw()
        self._buffer = np.asarray(self.canvas.buffer_rgba())
        self._background = self._buffer.copy()
        self._renderer = self.canvas.get_renderer()

    def __len__(self) -> int:
        return self.figure.n_frames

    def frame_rgba(self, index: int) -> np.ndarray:
        """Frame ``index`` as a read-only view of the canvas (RGBA; valid until the next call).

        Afterwards :attr:`changed` holds the ``(rows, columns)`` slices outside which it equals
        the frame returned before (None after the background was drawn: anywhere)."""
        self.figure.update(index)
        buf, bg, renderer = self._buffer, self._background, self._renderer
        changed: list[tuple[slice, slice]] = []
        for area in self._areas:
            region = area.region
            if not region.dirty:
                continue
            region.dirty = False
            key, index_ = region.key, area.index
            changed.append(index_)
            if key is not None:
                pixels = area.cache.get(key)
                if pixels is not None:
                    buf[index_] = pixels
                    continue
            for part in area.background():
                buf[part] = bg[part]
            for artist in region.artists:
                artist.draw(renderer)
            if key is not None and len(area.cache) < _REGION_CACHE:
                area.cache[key] = buf[index_].copy()
        self.changed = changed if self._drawn else None
        self._drawn = True
        return buf

    def frame(self, index: int) -> np.ndarray:
        """The RGB frame ``index`` (a new array)."""
        return _rgb(self.frame_rgba(index))

    def full_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` by a complete redraw (slow; for checking :meth:`frame`)."""
        self.figure.update(index)
        regions = [area.region for area in self._areas]
        self._set_animated(regions, False)
        try:
            self.canvas.draw()
            return _rgb(np.asarray(self.canvas.buffer_rgba()))
        finally:
            self._set_animated(regions, True)
            self._draw_background()
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
            row.set_image_source(None)
        for reader in self._readers:
            reader.close()

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgb(rgba: np.ndarray) -> np.ndarray:
    h, w = rgba.shape[:2]
    image = Image.frombuffer("RGBA", (w, h), np.ascontiguousarray(rgba), "raw", "RGBA", 0, 1)
    return np.asarray(image.convert("RGB"))


def iter_frames(
    run_or_runs: RunLike | Sequence[RunLike],
    *,
    options: RenderOptions | Mapping[str, Any] | None = None,
    **kw: Any,
) -> Iterator[np.ndarray]:
    """Yield the RGB uint8 frames of a run (or of a comparison, given a list/tuple of runs).

    Options as for :func:`animlib.render` (``options=`` and/or keywords, checked at the call,
    not at the first frame). Frame ``i`` shows step ``i * stride``, the last frame the last
    step; the frames equal what :func:`animlib.animate` shows.
    """
    renderer = FrameRenderer(run_or_runs, RenderOptions.of(options, **kw))
    return iter(renderer)
