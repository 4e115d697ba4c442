"""Display pixels for the browser player, computed from the stored arrays (never from a video)."""

# The arithmetic is the figure's (see the renderer): a float image is clipped to [0, 1] (NaN -> 0)
# and rounded to uint8; the perturbation is, per pixel, the change ``image - original`` of the
# colour channel that changed most, signed (alpha ignored; ``figure.pixels.peak_delta``), times
# ``gain * 127.5`` plus 127.5, rounded and clipped to an index into the diverging
# ``RdBu_r`` colours (white = no change). Sent as a palette PNG, the index is lossless, so a 1/255
# perturbation reaches the browser exactly.

from __future__ import annotations

import functools
import hashlib
import struct
import zlib
from typing import Any

import numpy as np

from .. import kernels
from ..figure import pixels as figure_pixels
from ..figure.pixels import as_display

PALETTE = "RdBu_r"
_IDENTITY = np.arange(256, dtype=np.uint32)  # the compiled pass's "colours": palette indices


def display_u8(image: Any) -> np.ndarray:
    """(H, W) uint8 for gray, (H, W, 3|4) uint8 otherwise, as the figure shows the image."""
    a = as_display(image)
    if a.ndim == 2:
        return a
    if a.shape[2] == 2:  # gray + alpha: show it as RGBA
        return np.concatenate([a[:, :, :1], a[:, :, :1], a[:, :, :1], a[:, :, 1:]], axis=2)
    return a[:, :, :4]


def colour_planes(image: Any) -> np.ndarray:
    """The colour channels a perturbation is measured on (alpha ignored) as (H, W, c) float32
    in [0, 1]; a 2-channel image is gray + alpha."""
    return figure_pixels.colour_planes(image, gray_alpha=True)


def perturbation_index(image: Any, reference: np.ndarray, gain: float) -> np.ndarray:
    """(H, W) uint8 index into :func:`palette` of the amplified perturbation (127/128 = none)
    against the original's :func:`colour_planes` ``reference``."""
    d = figure_pixels.peak_delta(image, reference, gray_alpha=True)
    d *= np.float32(gain * 127.5)
    d += np.float32(127.5)
    np.rint(d, out=d)
    np.clip(d, 0, 255, out=d)
    return d.astype(np.uint8)


def auto_gain(last_image: Any, original: Any, *, running: bool = False) -> float:
    """The figure's automatic amplification: the last step's largest |perturbation| maps to the
    end of the colours (for a ``running`` run rounded to 1, 2 or 5 x 10^k, as the figure does:
    it then changes rarely while the run grows)."""
    delta = figure_pixels.peak_delta(last_image, colour_planes(original), gray_alpha=True)
    return figure_pixels.amplification_for(delta, running=running)


@functools.lru_cache(maxsize=1)
def palette() -> bytes:
    """The 256 RGB colours of the perturbation panel (768 bytes, a PNG palette)."""
    return figure_pixels.lut(PALETTE)[:, :3].tobytes()


def png(pixels: np.ndarray, *, indexed: bool = False) -> bytes:
    """Lossless PNG of (H, W) / (H, W, 3|4) uint8 pixels; ``indexed``: (H, W) palette indices.

    Written here rather than by Pillow (same pixels, 2.5x as fast: 7 ms instead of 18 for a
    512x1536 RGB strip, the most of a strip's time): every row of colour pixels with PNG's "Up"
    filter (one numpy subtraction, also reading the renderer's RGBA buffer as RGB without a copy;
    Pillow tries each filter per row) and palette indices unfiltered, then zlib level 1 (higher
    levels take 1.5-3x as long; these images are mostly noise). Sizes, measured: 21 KB instead
    of Pillow's 28 KB for that smooth strip, 1.62 MB for both on a 224x224 strip of +-8/255
    noise. A text chunk before the pixels holds the SHA-256 of the compressed pixels (which
    only the same pixels give): Streamlit's media store names a file over 1 MiB by its length
    and three 64 KiB samples only, so two strips differing elsewhere could otherwise share a URL.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        pixels = pixels.astype(np.uint8)
    if indexed or pixels.ndim == 2:
        h, w = pixels.shape
        channels, colour = 1, 3 if indexed else 0
    else:
        h, w, channels = pixels.shape
        colour = {3: 2, 4: 6}[channels]
    rows = np.empty((h, 1 + w * channels), np.uint8)
    if channels == 1:  # (gray or indices: no filter)
        rows[:, 0] = 0
        rows[:, 1:] = pixels
    else:  # "Up": each byte minus the one above it (mod 256); the first row as it is
        rows[:, 0] = 2
        body = rows[:, 1:].reshape(h, w, channels)
        for c in range(channels):  # (a channel at a time: 5x as fast as (..., 3) at once)
            body[:1, :, c] = pixels[:1, :, c]
            np.subtract(pixels[1:, :, c], pixels[:-1, :, c], out=body[1:, :, c])
    idat = zlib.compress(rows, 1)
    digest = hashlib.sha256(repr((pixels.shape, indexed)).encode())
    digest.update(idat)
    out = [
        _PNG_SIGNATURE,
        _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)),
        _chunk(b"PLTE", palette()) if indexed else b"",
        _chunk(b"tEXt", b"animlib-sha256\0" + digest.hexdigest().encode()),
        _chunk(b"IDAT", idat),
        _chunk(b"IEND", b""),
    ]
    return b"".join(out)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def compiled_strip(
    images: list[np.ndarray], reference: np.ndarray | None, gain: float | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The display pixels ((n H, W, 3) uint8) and the perturbation indices ((n H, W) uint8) of
    RGB ``images`` stacked, from the renderer's compiled pass
    (:func:`animlib.kernels.display_rgb`): the pixels of :func:`display_u8` and
    :func:`perturbation_index` in one pass per step (1.7x as fast). None where it does not apply
    (not float32 or uint8 RGB steps of one size; the kernel still loading, or no Numba): the
    numpy functions then give the same pixels."""
    kernel = kernels.display_rgb(start=True)
    if kernel is None or not images:
        return None
    h, w = images[0].shape[:2]
    if any(im.shape != (h, w, 3) or im.dtype not in (np.float32, np.uint8) for im in images):
        return None
    if reference is None:
        orig = np.zeros((3, h, w), np.float32)
    elif reference.shape == (h, w, 3) and reference.dtype == np.float32:
        orig = kernels.planar(reference)
    else:
        return None
    rows, cols = np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64)
    img = np.empty((len(images) * h, w, 4), np.uint8)
    index = np.empty((len(images) * h, w), np.uint32)
    try:
        for i, im in enumerate(images):
            part, src = slice(i * h, (i + 1) * h), np.ascontiguousarray(im)
            kernels.display_step(
                kernel, src, rows, cols, orig, gain or 1.0, _IDENTITY, img[part], index[part]
            )
    except TypeError:  # a layout it was not compiled for: numpy gives the same pixels
        return None
    return img[:, :, :3], index.astype(np.uint8)
