"""Images -> display pixels: uint8 RGBA bitmaps, perturbation colours, the auto amplification."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps

from ..protocol import RunLike

__all__ = [
    "StepImages",
    "auto_amplification",
    "colour_planes",
    "peak_delta",
    "perturbation_rgba",
    "to_rgba",
]


def as_float01(img: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] (NaN -> 0, +inf -> 1)."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1.0 / 255.0)
    a = np.clip(a, 0.0, 1.0, dtype=np.float32)
    if not np.isfinite(a).all():
        np.nan_to_num(a, copy=False, nan=0.0)
    return a


def float_to_u8(f: np.ndarray) -> np.ndarray:
    """Clean float32 in [0, 1] -> uint8 (rounded)."""
    x = f * np.float32(255.0)
    x += np.float32(0.5)
    return x.astype(np.uint8)


def as_display(img: np.ndarray) -> np.ndarray:
    """uint8 array for display: (H, W) for gray, (H, W, 3|4) otherwise."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.dtype != np.uint8:
        a = float_to_u8(as_float01(a))
    if a.shape[2] == 1:
        return a[:, :, 0]
    return a


def colour_planes(img: np.ndarray, *, gray_alpha: bool = False) -> np.ndarray:
    """The colour channels a perturbation is measured on, (H, W, c) float32 in [0, 1].

    Args:
        img: (H, W) or (H, W, C), uint8 or float (clipped to [0, 1], NaN -> 0).
        gray_alpha: a 2-channel image is gray + alpha (only gray counts), as the player shows
            it; otherwise (the figure) both channels count.

    Returns:
        The first three channels (the first only, for gray), as :func:`peak_delta` takes them.
    """
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    c = 1 if gray_alpha and a.shape[2] == 2 else min(a.shape[2], 3)
    if a.dtype == np.uint8:
        return a[..., :c].astype(np.float32) * np.float32(1.0 / 255.0)
    return as_float01(a[..., :c])


def peak_delta(img: np.ndarray, reference: np.ndarray, *, gray_alpha: bool = False) -> np.ndarray:
    """The perturbation drawn: per pixel, the change of the colour channel that changed most,
    with its sign (the first such channel on a tie). A channel mean hid colour changes (red
    up and green down read as none) and drew sign-gradient noise at a third of its size; this
    way every changed pixel shows, and the largest value is the step's L-infinity distance.

    Args:
        img: the step, as :func:`colour_planes` takes it.
        reference: the original's :func:`colour_planes` (of the same ``gray_alpha``).
        gray_alpha: as for :func:`colour_planes`.

    Returns:
        (H, W) float32.
    """
    return peak_of(colour_planes(img, gray_alpha=gray_alpha) - reference)


def peak_of(deltas: np.ndarray) -> np.ndarray:
    """(H, W, c) channel changes -> (H, W) the largest |change| of each pixel, signed."""
    h, w, c = deltas.shape
    channels = [np.ascontiguousarray(deltas[..., i]) for i in range(c)]
    return peak_into(channels, lambda name, dtype: np.empty((h, w), dtype))


def peak_into(
    channels: Sequence[np.ndarray], scratch: Callable[[str, Any], np.ndarray]
) -> np.ndarray:
    """Of the (H, W) float32 channel changes ``channels``, each pixel's largest in size, signed
    (the first of equals, as the compiled pass picks it).

    Args:
        channels: the changes of each colour channel.
        scratch: ``scratch(name, dtype)`` gives an (H, W) array to write (reused or new).

    Returns:
        The ``scratch("delta", float32)`` array holding them.
    """
    out, best, size = (scratch(n, np.float32) for n in ("delta", "best", "size"))
    mask, flip = (scratch(n, np.uint32) for n in ("mask", "flip"))
    larger = scratch("larger", np.bool_)
    bits = out.view(np.uint32)
    np.copyto(out, channels[0])
    np.abs(out, out=best)
    for channel in channels[1:]:  # (selected by bits: numpy's copyto where= branches per value,
        np.abs(channel, out=size)  # 7x as slow on noise)
        np.greater(size, best, out=larger)
        np.subtract(0, larger, out=mask, dtype=np.uint32)  # all ones where larger
        np.bitwise_xor(bits, channel.view(np.uint32), out=flip)
        flip &= mask
        bits ^= flip
        np.maximum(best, size, out=best)
    return out


def nice_floor(x: float) -> float:
    """``x`` rounded down to two significant digits (so the auto range never clips the end)."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    e = math.floor(math.log10(x)) - 1
    return max(math.floor(x / 10**e) * 10**e, 1e-12)


def ladder_floor(x: float) -> float:
    """``x`` rounded down to 1, 2 or 5 times a power of ten."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    e = math.floor(math.log10(x))
    step = next(m for m in (5, 2, 1) if m * 10**e <= x * (1 + 1e-12))
    return max(step * 10**e, 1e-12)


def auto_amplification(run: RunLike) -> float:
    """Amplification mapping the final step's largest |perturbation| to the end of the colours.

    For a running run (``status == "running"``) it is rounded down to 1, 2 or 5 x 10^k: its
    final step moves on with every step, and a gain that changed as often would change every
    frame of its video (a live render appends frames only while the gain stays)."""
    delta = final_perturbation(run)
    if delta is None:
        return 1.0
    return amplification_for(delta, running=getattr(run, "status", None) == "running")


def final_perturbation(run: RunLike) -> np.ndarray | None:
    """The final step's perturbation (:func:`peak_delta` against the original); None without
    an original or a step."""
    original = run.original
    if original is None or len(run) == 0:
        return None
    return peak_delta(run.images[len(run) - 1], colour_planes(original))


def shared_amplification(runs: Sequence[RunLike]) -> float | None:
    """One amplification for the perturbation panels of compared runs: the smallest of their
    automatic ones (the largest perturbation fills the colours, none is clipped), so that their
    perturbations read alike (each row's own gain showed x120 beside x500); None when no run
    has an original.

    A run whose final step equals its original (no perturbation: one step, an eps=0 baseline)
    has no say: its panel is blank at any gain, and its x1 made every other row blank too. With
    no perturbation in any run the gain is 1."""
    gains, any_original = [], False
    for run in runs:
        delta = final_perturbation(run)
        if delta is None:
            continue
        any_original = True
        m = float(np.max(np.abs(delta)))
        if math.isfinite(m) and m > 0:
            gains.append(
                amplification_for(delta, running=getattr(run, "status", None) == "running")
            )
    if not any_original:
        return None
    if not gains:
        return 1.0
    return min(gains) if min(gains) <= MAX_SHARED else None


MAX_SHARED = 1e6  # (the largest amplification option: beyond, each row keeps its own)


def amplification_for(delta: np.ndarray, *, running: bool = False) -> float:
    """The amplification mapping the largest |``delta``| to the end of the colours.

    Args:
        delta: a perturbation (:func:`peak_delta`).
        running: it is the final step of a running run: round down to 1, 2 or 5 x 10^k (the
            gain then changes rarely while the run grows).

    Returns:
        The amplification (1.0 for no or a non-finite perturbation), rounded down to two
        significant digits (so the end is never clipped).
    """
    m = float(np.max(np.abs(delta)))
    if not math.isfinite(m) or m <= 0:
        return 1.0
    if running:
        return ladder_floor(1.0 / m)
    return nice_floor(1.0 / m)


@functools.lru_cache(maxsize=4)
def lut(name: str) -> np.ndarray:
    """The colormap ``name`` as 256 RGBA uint8 entries."""
    return (colormaps[name](np.linspace(0.0, 1.0, 256)) * 255.0 + 0.5).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def lut32(name: str) -> np.ndarray:
    """:func:`lut` with each RGBA entry packed in one uint32 (one gather per pixel)."""
    return np.ascontiguousarray(lut(name)).view(np.uint32).reshape(256)


def perturbation_rgba(delta: np.ndarray, amplification: float) -> np.ndarray:
    """Diverging colours for ``delta * amplification`` in [-1, 1]; 0 is the white centre."""
    x = np.multiply(delta, np.float32(amplification * 127.5), dtype=np.float32)
    x += np.float32(127.5)
    np.rint(x, out=x)
    np.clip(x, 0, 255, out=x)
    return lut("RdBu_r")[x.astype(np.uint8)]


def to_rgba(img: np.ndarray) -> np.ndarray:
    """(H, W, C) image (uint8 or float in [0, 1]) -> (H, W, 4) uint8; gray via the gray colormap."""
    d = as_display(img)
    if d.ndim == 2:
        return lut("gray")[d]
    h, w, c = d.shape
    out = np.empty((h, w, 4), np.uint8)
    out[..., :c] = d
    if c == 3:
        out[..., 3] = 255
    return out


class StepImages:
    """One step's image -> the adversarial and perturbation bitmaps, reusing buffers.

    The arithmetic is exactly that of :func:`to_rgba` and :func:`perturbation_rgba` (the pixels
    are identical), but no megabyte-sized array is allocated per frame (fresh pages cost more
    than the arithmetic), channels are copied one at a time (interleaved numpy writes are slow)
    and colours are looked up as packed uint32. Every operation is per pixel, so converting a
    subset of the pixels (those a panel shows) gives exactly those pixels of the whole.
    """

    def __init__(self) -> None:
        self._bufs: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def _buf(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        key = (name, shape)
        buf = self._bufs.get(key)
        if buf is None or buf.dtype != dtype:
            buf = self._bufs[key] = np.empty(shape, dtype)
            if name == "rgba":
                buf[..., 3] = 255
        return buf

    def prepare(self, image: Any) -> np.ndarray:
        """The image as (H, W, C) uint8, or float32 clipped to [0, 1] with NaN -> 0."""
        a = self._gathered(np.asarray(image))
        if a.ndim == 2:
            a = a[:, :, None]
        if a.dtype == np.uint8:
            return a
        f = self._buf("float", a.shape, np.float32)
        np.clip(a, 0.0, 1.0, out=f, casting="unsafe")
        if math.isnan(float(f.max())):  # clip keeps NaN only; max propagates it
            np.nan_to_num(f, copy=False, nan=0.0)
        return f

    def _gathered(self, a: np.ndarray) -> np.ndarray:
        """A strided view of whole pixels (a sampling of an image) copied into a contiguous
        buffer, a pixel at a time: numpy loops over a view's channels one pixel at a time, so
        every later pass over the view would cost 3-5x a pass over a contiguous array."""
        if a.dtype != np.float32 or a.ndim != 3 or a.flags.c_contiguous or not a.size:
            return a  # (uint8 pixels copy slower than numpy's loop over them)
        if a.strides[2] != a.itemsize or a.strides[1] == a.shape[2] * a.itemsize:
            return a  # (whole rows in a row, e.g. only reversed: numpy loops over each row)
        pixel = f"V{a.shape[2] * a.itemsize}"
        out = self._buf(f"gathered-{a.dtype}", a.shape, a.dtype)
        np.copyto(out.view(pixel), a.view(pixel))
        return out

    def rgba(self, a: np.ndarray) -> np.ndarray:
        """Display RGBA (H, W, 4) uint8 of a prepared image (a reused buffer)."""
        h, w, c = a.shape
        if a.dtype != np.uint8:  # float_to_u8
            x = self._buf("scaled", a.shape, np.float32)
            np.multiply(a, np.float32(255.0), out=x)
            x += np.float32(0.5)
            u8 = self._buf("u8", a.shape, np.uint8)
            np.copyto(u8, x, casting="unsafe")
            a = u8
        out = self._buf("rgba", (h, w, 4), np.uint8)
        if c == 1:
            np.take(lut32("gray"), a[:, :, 0], out=out.view(np.uint32).reshape(h, w))
            return out
        for i in range(c):
            out[..., i] = a[..., i]
        if c != 4:
            out[..., 3] = 255
        return out

    def perturbation(
        self, a: np.ndarray, amplification: float, reference: np.ndarray | None
    ) -> np.ndarray:
        """Perturbation colours (H, W, 4) uint8 of a prepared image against the original's
        :func:`colour_planes` ``reference`` (H, W, c) (None: against 0), in a reused buffer:
        :func:`peak_delta`'s values, as the compiled pass computes them."""
        h, w, c = a.shape
        c = min(c, 3)
        planes = self._buf("planes", (c, h, w), np.float32)  # (a plane a channel: contiguous)
        for i in range(c):
            if a.dtype == np.uint8:
                np.multiply(a[..., i], np.float32(1.0 / 255.0), out=planes[i], dtype=np.float32)
            else:
                np.copyto(planes[i], a[..., i])
            if reference is not None:
                planes[i] -= reference[..., i]
        d = peak_into(planes, lambda name, dtype: self._buf(name, (h, w), dtype))
        d *= np.float32(amplification * 127.5)  # perturbation_rgba
        d += np.float32(127.5)
        np.rint(d, out=d)
        np.clip(d, 0, 255, out=d)
        idx = self._buf("index", (h, w), np.intp)
        with np.errstate(invalid="ignore"):  # NaN (of an original holding it): clipped to 0
            np.copyto(idx, d, casting="unsafe")
        out = self._buf("pert", (h, w, 4), np.uint8)
        np.take(lut32("RdBu_r"), idx, out=out.view(np.uint32).reshape(h, w), mode="clip")
        return out
