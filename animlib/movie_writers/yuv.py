"""Frames as YUV 4:2:0 planes (what x264 and VP9 encode), converted only where they changed."""

# Piped as RGBA, every frame costs ffmpeg a conversion of the whole frame (and 4 bytes a pixel
# through the pipe); the renderer redraws only a few regions of each frame, so converting those
# regions here and piping the planes (1.5 bytes a pixel) saves about a third of ffmpeg's CPU
# time on a 2-core machine where ffmpeg and the renderer share the cores. The conversion is the
# usual 8-bit BT.601 one in limited range (what ffmpeg assumes for untagged H.264), chroma from
# the mean of each 2x2 block. Only with the compiled loop (``kernels.yuv420``): numpy would
# cost more than ffmpeg's own conversion.

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from .. import kernels
from .base import Changed

__all__ = ["YuvFrame", "convert"]


def convert(
    src: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray, r0: int, r1: int, c0: int, c1: int
) -> None:
    """Rows ``r0:r1``, columns ``c0:c1`` (even numbers) of RGB(A) ``src`` into the planes
    (numpy; the reference for ``kernels.yuv420``, which gives the same bytes)."""
    part = src[r0:r1, c0:c1, :3].astype(np.int32)
    r, g, b = part[..., 0], part[..., 1], part[..., 2]
    y[r0:r1, c0:c1] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    h, w = (r1 - r0) // 2, (c1 - c0) // 2
    sums = part.reshape(h, 2, w, 2, 3).sum(axis=(1, 3))
    r, g, b = ((sums[..., k] + 2) >> 2 for k in range(3))
    u[r0 // 2 : r1 // 2, c0 // 2 : c1 // 2] = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v[r0 // 2 : r1 // 2, c0 // 2 : c1 // 2] = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128


class YuvFrame:
    """The planes of the last frame given (Y, then U, then V, in one buffer: ffmpeg's
    ``yuv420p``), updated in the parts that changed.

    ``size = (width, height)``, both even. :meth:`update` takes each RGB(A) frame with the
    parts that differ from the previous one (None: convert it all; the first frame always is).
    """

    def __init__(self, size: tuple[int, int], kernel: Callable[..., None] | None = None) -> None:
        w, h = size
        if w % 2 or h % 2 or w <= 0 or h <= 0:
            raise ValueError(f"YUV 4:2:0 needs an even frame size, got {w}x{h}")
        self.size = (w, h)
        self.data = np.empty(w * h * 3 // 2, np.uint8)
        self.y = self.data[: w * h].reshape(h, w)
        self.u = self.data[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
        self.v = self.data[w * h * 5 // 4 :].reshape(h // 2, w // 2)
        self._kernel = kernel
        self._filled = False

    @classmethod
    def available(cls) -> Callable[..., None] | None:
        """The compiled conversion if this process has loaded it (never starts loading it)."""
        return kernels.yuv420(start=False)

    def update(self, frame: np.ndarray, changed: Changed | None = None) -> np.ndarray:
        """Convert ``frame`` ((h, w, 3 or 4) uint8) where it changed; returns the planes
        (valid until the next call)."""
        w, h = self.size
        boxes = [(0, h, 0, w)] if changed is None or not self._filled else _boxes(changed, w, h)
        self._filled = True
        kernel = self._kernel
        views = _views(frame) if kernel is not None else None
        if kernel is not None and views is not None:
            try:  # (every box in one call: a call costs a few microseconds)
                kernel(*views, self.y, self.u, self.v, np.array(boxes, np.int64).reshape(-1, 4))
                return self.data
            except TypeError:  # a type it was not compiled for
                pass
        for box in boxes:
            convert(frame, self.y, self.u, self.v, *box)  # numpy: the same bytes
        return self.data


def _views(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A C-ordered RGBA frame as uint32 pixels and uint64 pairs of pixels (the compiled
    conversion's input); None for other frames or on a big-endian machine."""
    h, w, channels = frame.shape
    if channels != 4 or not frame.flags.c_contiguous or sys.byteorder != "little":
        return None
    flat = frame.reshape(h, w * 4)
    return flat.view(np.uint32), flat.view(np.uint64)


def _boxes(changed: Changed, w: int, h: int) -> list[tuple[int, int, int, int]]:
    """``changed`` as (r0, r1, c0, c1) boxes widened to even edges, clipped to the frame."""
    out = []
    for rows, cols in changed:
        r0, r1, _ = rows.indices(h)
        c0, c1, _ = cols.indices(w)
        r0, c0 = r0 & ~1, c0 & ~1
        r1, c1 = min(r1 + (r1 & 1), h), min(c1 + (c1 & 1), w)
        if r1 > r0 and c1 > c0:
            out.append((r0, r1, c0, c1))
    return out
