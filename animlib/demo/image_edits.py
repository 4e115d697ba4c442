"""Classifier-free image-edit sequences (progressive blur, RGB channel split) as generators."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel with radius ceil(3 sigma); [1.0] for sigma <= 0."""
    if sigma <= 0:
        return np.ones(1, dtype=np.float32)
    radius = int(np.ceil(3 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W, C) image with reflected borders (numpy only)."""
    image = np.asarray(image, dtype=np.float32)
    kernel = gaussian_kernel(sigma)
    r = len(kernel) // 2
    if r == 0:
        return image.copy()
    h, w = image.shape[:2]
    # np.pad "reflect" needs pad < size; fall back to "edge" beyond that.
    mode_h = "reflect" if r < h else "edge"
    mode_w = "reflect" if r < w else "edge"
    padded = np.pad(image, ((r, r), (0, 0), (0, 0)), mode=mode_h)
    out = sum(kernel[i] * padded[i : i + h] for i in range(len(kernel)))
    padded = np.pad(out, ((0, 0), (r, r), (0, 0)), mode=mode_w)
    out = sum(kernel[i] * padded[:, i : i + w] for i in range(len(kernel)))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def progressive_blur(image: np.ndarray, steps: int, max_sigma: float = 3.0) -> Iterator[np.ndarray]:
    """Yield the clean image, then ``steps`` images blurred with sigma rising linearly to max."""
    image = np.asarray(image, dtype=np.float32)
    yield image.copy()
    for i in range(1, steps + 1):
        yield gaussian_blur(image, max_sigma * i / steps)


def _shift(channel: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate a 2-D array by (dy, dx) pixels, repeating edge pixels into the gap."""
    h, w = channel.shape
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return channel[rows][:, cols]


def channel_split(image: np.ndarray, steps: int, max_shift: int = 6) -> Iterator[np.ndarray]:
    """Yield the clean RGB image, then frames where red and blue slide apart from green.

    Red moves left-and-up and blue right-and-down by up to ``max_shift`` pixels (sub-pixel
    offsets are linearly interpolated so the motion is smooth). Grayscale input is replicated to
    three channels.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    yield image.copy()
    for i in range(1, steps + 1):
        offset = max_shift * i / steps
        lo = int(np.floor(offset))
        frac = offset - lo
        out = image.copy()
        for ch, (sy, sx) in ((0, (-1, -1)), (2, (1, 1))):
            a = _shift(image[:, :, ch], sy * lo, sx * lo)
            b = _shift(image[:, :, ch], sy * (lo + 1), sx * (lo + 1))
            out[:, :, ch] = (1 - frac) * a + frac * b
        yield np.clip(out, 0.0, 1.0).astype(np.float32)
