"""Display pixels for the browser player, computed from the stored arrays (never from a video).

The arithmetic is the figure's (see the renderer): a float image is clipped to [0, 1] (NaN -> 0)
and rounded to uint8; the perturbation is the channel mean of ``image - original`` (alpha
ignored), times ``gain * 127.5`` plus 127.5, rounded and clipped to an index into the diverging
``RdBu_r`` colours (white = no change). Sent as a palette PNG, the index is lossless, so a 1/255
perturbation reaches the browser exactly.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
from typing import Any

import numpy as np

PALETTE = "RdBu_r"


def display_u8(image: Any) -> np.ndarray:
    """(H, W) uint8 for gray, (H, W, 3|4) uint8 otherwise, as the figure shows the image."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.dtype != np.uint8:
        f = np.clip(a, 0.0, 1.0, dtype=np.float32)
        np.nan_to_num(f, copy=False, nan=0.0)
        f *= np.float32(255.0)
        f += np.float32(0.5)
        a = f.astype(np.uint8)
    if a.shape[2] == 1:
        return a[:, :, 0]
    if a.shape[2] == 2:  # gray + alpha: show it as RGBA
        return np.concatenate([a[:, :, :1], a[:, :, :1], a[:, :, :1], a[:, :, 1:]], axis=2)
    return a[:, :, :4]


def channel_mean(image: Any) -> np.ndarray:
    """Mean of the colour channels (alpha ignored) as (H, W) float32 in [0, 1]."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    c = min(a.shape[2], 3) if a.shape[2] != 2 else 1
    if a.dtype == np.uint8:
        total = a[..., 0].astype(np.float32)
        for i in range(1, c):
            total += a[..., i]
        total *= np.float32(1.0 / (255.0 * c))
        return total
    f = np.clip(a[..., :c], 0.0, 1.0, dtype=np.float32)
    np.nan_to_num(f, copy=False, nan=0.0)
    total = f[..., 0].copy()
    for i in range(1, c):
        total += f[..., i]
    if c > 1:
        total *= np.float32(1.0 / c)
    return total


def perturbation_index(image: Any, original_mean: np.ndarray, gain: float) -> np.ndarray:
    """(H, W) uint8 index into :func:`palette` of the amplified perturbation (127/128 = none)."""
    d = channel_mean(image)
    d -= original_mean
    d *= np.float32(gain * 127.5)
    d += np.float32(127.5)
    np.rint(d, out=d)
    np.clip(d, 0, 255, out=d)
    return d.astype(np.uint8)


def _nice_floor(x: float) -> float:
    """``x`` rounded down to two significant digits (so the auto range never clips the end)."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    e = math.floor(math.log10(x)) - 1
    return max(math.floor(x / 10**e) * 10**e, 1e-12)


def auto_gain(last_image: Any, original: Any, *, running: bool = False) -> float:
    """The figure's automatic amplification: the last step's largest |perturbation| maps to the
    end of the colours (for a ``running`` run rounded to 1, 2 or 5 x 10^k, as the figure does:
    it then changes rarely while the run grows)."""
    m = float(np.max(np.abs(channel_mean(last_image) - channel_mean(original))))
    if not math.isfinite(m) or m <= 0:
        return 1.0
    if running:
        from ..figure.pixels import ladder_floor

        return ladder_floor(1.0 / m)
    return _nice_floor(1.0 / m)


@functools.lru_cache(maxsize=1)
def palette() -> bytes:
    """The 256 RGB colours of the perturbation panel (768 bytes, a PNG palette)."""
    from matplotlib import colormaps

    lut = (colormaps[PALETTE](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)
    return lut.tobytes()


def png(pixels: np.ndarray, *, indexed: bool = False) -> bytes:
    """Lossless PNG of (H, W) / (H, W, 3|4) uint8 pixels; ``indexed``: (H, W) palette indices.

    Written with zlib level 1: these images are mostly noise, where higher levels take 3x as
    long for under 10% less. A text chunk before the pixels holds their SHA-256: Streamlit's
    media store names a file over 1 MiB by its length and three 64 KiB samples only, so two
    strips differing elsewhere could otherwise share a URL.
    """
    from PIL import Image, PngImagePlugin

    data = np.ascontiguousarray(pixels, dtype=np.uint8)
    img = Image.fromarray(data)
    if indexed:
        img.putpalette(palette())  # an "L" image becomes "P": the bytes are the indices
    info = PngImagePlugin.PngInfo()
    digest = hashlib.sha256(data.tobytes())
    digest.update(repr((data.shape, indexed)).encode())
    info.add_text("animlib-sha256", digest.hexdigest())
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1, pnginfo=info)
    return out.getvalue()
