"""Demo datasets: scikit-learn's bundled digits (no download) and procedurally drawn shapes."""

from __future__ import annotations

import numpy as np

DIGIT_CLASSES: list[str] = [str(i) for i in range(10)]
SHAPE_CLASSES: list[str] = ["circle", "square", "triangle", "cross", "ring"]


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch (N, H, W, C) of square images to (N, size, size, C) bilinearly."""
    n, h, w, c = images.shape
    if h == size and w == size:
        return images.astype(np.float32, copy=True)

    def axis(src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Pixel-centre aligned sampling positions in source coordinates.
        pos = (np.arange(size) + 0.5) * src / size - 0.5
        pos = np.clip(pos, 0, src - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, src - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    rows = images[:, y0] * (1 - fy)[None, :, None, None] + images[:, y1] * fy[None, :, None, None]
    out = rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]
    return out.astype(np.float32)


def load_digits_images(size: int = 16) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return sklearn's 8x8 digits as float32 (N, size, size, 1) in [0, 1], labels, class names."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn; never downloads

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[..., None]  # (1797, 8, 8, 1)
    images = np.clip(resize_bilinear(images, size), 0.0, 1.0)
    return images, bunch.target.astype(np.int64), list(DIGIT_CLASSES)


def _inside(k: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Boolean mask of points (dx, dy) relative to the centre inside shape class k of radius r."""
    name = SHAPE_CLASSES[k]
    if name in ("circle", "ring"):
        dist2 = dx**2 + dy**2
        if name == "circle":
            return dist2 <= r**2
        return (dist2 <= r**2) & (dist2 >= (0.55 * r) ** 2)
    if name == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.8 * r
    if name == "triangle":
        # Upward triangle: apex at (0, -r), base at y = 0.6 r, half-width 0.95 r at the base.
        t = (dy + r) / (1.6 * r)  # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (np.abs(dx) <= 0.95 * r * t)
    arm = 0.3 * r  # cross
    return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))


def _shape_masks(labels: np.ndarray, rng: np.random.Generator, size: int, ss: int) -> np.ndarray:
    """Anti-aliased (N, size, size) coverage masks in [0, 1] for the given shape class ids."""
    n = len(labels)
    radius = rng.uniform(0.22, 0.36, n) * size
    margin = radius + 1.0
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    # Supersampled pixel grid (ss x ss samples per pixel), offsets relative to each shape centre.
    grid = ((np.arange(size * ss) + 0.5) / ss).astype(np.float32)
    inside = np.zeros((n, size * ss, size * ss), dtype=bool)
    for k in range(len(SHAPE_CLASSES)):
        idx = np.flatnonzero(labels == k)
        if idx.size:
            dx = grid[None, None, :] - cx[idx, None, None].astype(np.float32)
            dy = grid[None, :, None] - cy[idx, None, None].astype(np.float32)
            inside[idx] = _inside(k, dx, dy, radius[idx, None, None].astype(np.float32))
    coverage = inside.view(np.uint8).reshape(n, size, ss, size, ss).sum(axis=(2, 4), dtype=np.uint8)
    return coverage.astype(np.float32) / np.float32(ss * ss)


def make_shapes(
    n: int, seed: int | np.random.Generator = 0, size: int = 32
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Draw n RGB images (n, size, size, 3) float32 in [0, 1] of coloured shapes; deterministic.

    Each image has a random background colour with a soft gradient and pixel noise, and one shape
    (circle, square, triangle, cross or ring) of random position, size and colour. The shape is
    kept brighter than its background so the class is visible in every colour combination.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPE_CLASSES), n)
    masks = _shape_masks(labels, rng, size, ss=3)[..., None]

    bg = rng.uniform(0.0, 0.45, (n, 1, 1, 3))
    fg = rng.uniform(0.0, 1.0, (n, 1, 1, 3))
    # Make the foreground at least 0.35 brighter (mean over channels) than the background.
    gap = 0.35 - (fg.mean(axis=-1, keepdims=True) - bg.mean(axis=-1, keepdims=True))
    fg = np.clip(fg + np.maximum(gap, 0.0), 0.0, 1.0)
    ramp = np.linspace(-1.0, 1.0, size)
    angle = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    gradient = np.cos(angle) * ramp[None, None, :] + np.sin(angle) * ramp[None, :, None]
    bg_img = bg + 0.06 * gradient[..., None]
    noise = rng.standard_normal((n, size, size, 3), dtype=np.float32)
    noise *= rng.uniform(0.01, 0.05, (n, 1, 1, 1)).astype(np.float32)
    bg_img, fg = bg_img.astype(np.float32), fg.astype(np.float32)
    images = bg_img * (1 - masks) + fg * masks + noise
    return (
        np.clip(images, 0.0, 1.0).astype(np.float32),
        labels.astype(np.int64),
        list(SHAPE_CLASSES),
    )


def train_test_split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle deterministically and split into (x_train, y_train, x_test, y_test)."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
