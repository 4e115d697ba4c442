"""Animated GIF with Pillow (never ImageMagick)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from ..limits import check_gif_frames
from .base import MovieWriter, meta_value, register_writer

__all__ = ["GIFWriter"]


@register_writer
class GIFWriter(MovieWriter):
    """Animated GIF with Pillow (never ImageMagick): loops forever, at ``fps`` (see
    :func:`gif_timing`).

    Frames are kept palettised (1 byte per pixel) until :meth:`finish`, because Pillow writes a GIF
    in one call, so a GIF holds at most ``ANIMLIB_MAX_GIF_FRAMES`` frames (checked per frame).
    Options: ``loop`` (0 = forever).
    """

    name = "gif"
    suffixes = (".gif",)
    mime = "image/gif"

    def _open(self) -> None:
        self._frames: list[Image.Image] = []

    def _write(self, rgb: np.ndarray) -> None:
        check_gif_frames(len(self._frames) + 1)
        im = Image.fromarray(rgb[..., :3] if rgb.shape[2] == 4 else rgb, "RGB")
        colors = im.getcolors(256)  # None when the frame has more
        if colors is not None:  # a palette of exactly its colours: every pixel as drawn
            self._frames.append(_exact(np.asarray(im), colors))
            return
        # an adaptive palette per frame, then Floyd-Steinberg dithering (keeps faint noise visible)
        palette = im.quantize(256, method=Image.Quantize.FASTOCTREE)
        self._frames.append(im.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG))

    def _close(self) -> None:
        keep, duration = gif_timing(len(self._frames), self.fps)
        first, *rest = [self._frames[i] for i in keep]
        comment = self.metadata.get("comment") or self.metadata.get("title")
        kwargs: dict[str, Any] = {}
        if comment:
            kwargs["comment"] = meta_value(comment).encode("utf-8")[:255]
        with open(self.tmp_path, "wb") as fh:
            first.save(
                fh,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=duration,
                loop=int(self.options.get("loop", 0)),
                optimize=False,
                **kwargs,
            )
        self._frames = []

    def _cleanup(self) -> None:
        self._frames = []


def _exact(rgb: np.ndarray, colors: list[tuple[int, tuple[int, int, int]]]) -> Image.Image:
    """The (H, W, 3) frame as a palette image of its own ``colors`` (at most 256, as
    ``Image.getcolors`` lists them), every pixel exact (Pillow's mapping onto a given palette
    is approximate: a flat gray could come out as a checkerboard of two others)."""
    palette = np.sort(np.array([(r << 16) | (g << 8) | b for _, (r, g, b) in colors], np.uint32))
    packed = rgb[..., 0].astype(np.uint32) << 16
    packed |= rgb[..., 1].astype(np.uint32) << 8
    packed |= rgb[..., 2]
    frame = Image.fromarray(np.searchsorted(palette, packed).astype(np.uint8), "P")
    channels = np.stack([palette >> 16, (palette >> 8) & 255, palette & 255], axis=1)
    frame.putpalette(channels.astype(np.uint8).tobytes())
    return frame


def gif_timing(n: int, fps: float) -> tuple[list[int], list[int]]:
    """Which of ``n`` frames a GIF keeps, and how many ms each shows. A GIF counts time in
    centiseconds and players show a frame at least 20 ms: each frame starts at its time
    rounded to 10 ms (30 fps: 30, 40, 30 ms, ...); above 50 fps each 20 ms shows the frame due
    then (the others are dropped, the last always kept), so the whole plays in ``n / fps``
    seconds (fps 60 played at 50 fps)."""
    starts = [int(round(i * 100.0 / fps)) * 10 for i in range(n + 1)]
    if fps <= 50:
        return list(range(n)), [max(b - a, 20) for a, b in zip(starts, starts[1:], strict=False)]
    slots = max(starts[n] // 20, 1)  # 20 ms each: the frame due at each slot's start
    keep = sorted({min(int(k * 20 * fps / 1000), n - 1) for k in range(slots)})
    keep[-1] = n - 1  # (the attack's end is never the frame dropped)
    return keep, [20] * (len(keep) - 1) + [max(starts[n] - 20 * (len(keep) - 1), 20)]
