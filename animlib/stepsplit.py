"""Image steps made ready for the ``animlib.steps`` codec: floats split into grid and residual."""

# A float32 step mostly on the grid (uint8-origin images under sign-gradient attacks) becomes
# ``q = rint(255 x)`` as uint8 plus the positions where ``x`` is not bit for bit
# ``float32(q) / 255`` and the XOR of the two bit patterns there; a step far from the grid keeps
# its float bits; uint8 steps stay as they are. With numpy, or the compiled split once loaded
# (:mod:`animlib.kernels`). :mod:`animlib.stepcodec` encodes the result as frames.

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import kernels

BLOCK_VALUES = 2**17  # values prepared at once (the scratch arrays stay in the CPU cache)
SPLIT_SCRATCH = 16 * 2**20  # residual scratch bytes per compiled call (27 images of 224x224x3)
GRID_SHARE = 0.5  # float steps with more values off the grid than this are stored as raw bits
SAMPLE = kernels.SAMPLE  # every SAMPLE-th value tells first whether a step is far from the grid
LUT = np.arange(256, dtype=np.float32) / np.float32(255)
LUT_BITS = LUT.view(np.uint32)
U8, GRID, RAW = 0, 1, 2  # frame kinds
CODEC_NAME = "animlib.steps"  # the name in zarr.json; readers accept arrays using it
_scratch = threading.local()


@dataclass
class Prepared:
    """One image step ready to encode: uint8 ``q`` (U8, GRID), the residual (GRID) or the float
    bits (RAW); all arrays flat."""

    kind: int
    shape: tuple[int, ...]
    q: np.ndarray | None = None
    # GRID: the values off the grid, as stored: the gaps between their positions (the first:
    # position + 1), then their bits XOR the grid value's bits (uint32, 2 per value)
    res: np.ndarray | None = None
    bits: np.ndarray | None = None  # float bits (RAW), uint32
    in_range: bool = True  # every value is finite and in [0, 1] (uint8: always)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the image."""
        return np.dtype(np.uint8 if self.kind == U8 else np.float32)

    @functools.cached_property
    def nbytes(self) -> int:
        """Memory held by this step (its arrays are never replaced)."""
        parts = (self.q, self.res, self.bits)
        return sum(p.nbytes for p in parts if p is not None)

    def quantized(self) -> np.ndarray:
        """``rint(255 x)`` as flat uint8 (the image itself for uint8 steps)."""
        if self.q is not None:
            return self.q
        return quantize(self.bits.view(np.float32))

    def float_bits(self) -> np.ndarray:
        """The float32 bit patterns of the image (flat uint32)."""
        if self.bits is not None:
            return self.bits
        bits = on_grid(self.q).view(np.uint32)
        if self.res is not None and self.res.size:
            n = self.res.size // 2
            bits[np.cumsum(self.res[:n], dtype=np.int64) - 1] ^= self.res[n:]
        return bits

    def image(self) -> np.ndarray:
        """The image exactly as logged, shaped (H, W, C)."""
        flat = self.q if self.kind == U8 else self.float_bits().view(np.float32)
        return flat.reshape(self.shape)


def quantize(
    values: np.ndarray, *, checked: bool = False, out: np.ndarray | None = None
) -> np.ndarray:
    """``rint(255 x)`` as uint8 (the same for the writer and every reader).

    Args:
        values: float32 values.
        checked: the values are known to be finite and in [0, 1]; otherwise values outside
            are clipped and NaN becomes 0 (the residual keeps them exact).
        out: uint8 array of the same shape to fill, or None.

    Returns:
        ``out``, or a new uint8 array of the same shape.
    """
    f = scratch("quantize", values.shape, np.float32)
    with np.errstate(over="ignore"):  # (huge values become inf, then clipped to 255)
        np.multiply(values, np.float32(255), out=f)
    np.rint(f, out=f)
    if not checked:
        np.clip(f, 0, 255, out=f)
    with np.errstate(invalid="ignore"):
        if out is None:
            return f.astype(np.uint8)
        np.copyto(out, f, casting="unsafe")
    return out


def on_grid(q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The grid values of uint8 ``q``.

    Args:
        q: uint8 values.
        out: float32 array of the same shape to fill, or None.

    Returns:
        ``float32(q) / 255`` -- the same float32 as ``u8.astype(np.float32) / 255`` (``out``
        if given).
    """
    return np.divide(q, np.float32(255), out=out, dtype=np.float32)


def scratch(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A scratch array of this thread, reused between calls (no fresh pages per step)."""
    buf = getattr(_scratch, name, None)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
        setattr(_scratch, name, buf)
    return buf


def prepare(image: np.ndarray, *, checked: bool = False) -> Prepared:
    """One image as a step ready to encode.

    Args:
        image: (H, W, C) uint8 or float32.
        checked: float values are known to be finite and in [0, 1].

    Returns:
        The :class:`Prepared` step (holding copies: ``image`` may change afterwards).

    Raises:
        ValueError: the dtype is neither uint8 nor float32.
    """
    return prepare_batch(image[None], checked=checked)[0]


def prepare_batch(
    images: np.ndarray, *, checked: bool = False, validate: bool = False
) -> list[Prepared]:
    """A (B, H, W, C) batch as B :class:`Prepared` steps (vectorised over the batch; copies).

    Args:
        images: uint8 or float32 images.
        checked: float values are known to be finite and in [0, 1] (saves a pass).
        validate: float values are checked rather than clipped (saves a pass): a step with
            ``in_range`` False must then not be stored.

    Returns:
        One :class:`Prepared` step per image (holding copies).

    Raises:
        ValueError: the dtype is neither uint8 nor float32.
    """
    b, shape = len(images), tuple(images.shape[1:])
    flat = np.ascontiguousarray(images).reshape(b, -1)
    if flat.dtype == np.uint8:
        q = flat.copy()
        return [Prepared(U8, shape, q=q[i]) for i in range(b)]
    if flat.dtype != np.float32:
        raise ValueError(f"{CODEC_NAME} stores uint8 or float32 images, not {flat.dtype}")
    q = np.empty(flat.shape, np.uint8)
    # compiled: a large batch starts loading it (in the background: numpy meanwhile)
    split = kernels.split_grid(start=flat.size >= kernels.WORTH)
    if split is not None:
        return _split_compiled(split, flat, q, shape, checked)
    per = max(1, BLOCK_VALUES // max(1, flat.shape[1]))
    out: list[Prepared] = []
    for start in range(0, b, per):
        block = flat[start : start + per]
        out += _prepare_block(block, q[start : start + per], shape, checked, validate)
    return out


def _prepare_block(
    x: np.ndarray, q: np.ndarray, shape: tuple[int, ...], checked: bool, validate: bool
) -> list[Prepared]:
    """Flat float32 images (n, values) as steps with numpy (the reference for
    :func:`_split_compiled`); ``q`` receives their grid values. Vectorised over the images:
    small images (a batch of 128 32x32 RGB steps) cost a few us each, not 30."""
    quantize(x, checked=checked or validate, out=q)  # validate: out of range is refused
    bits = x.view(np.uint32)
    grid = on_grid(q, out=scratch("quantize", x.shape, np.float32))
    grid = grid.view(np.uint32)
    off = scratch("off", x.shape, np.bool_)
    np.not_equal(grid, bits, out=off)
    # a sample of the values tells a float image far from the grid (no list of positions): more
    # than ``limit`` of ``n`` values, in proportion, off it (the same test as the compiled split)
    n, limit = x.shape[1], int(GRID_SHARE * x.shape[1])
    sample = off[:, ::SAMPLE]
    far = sample.sum(axis=1) * n > limit * sample.shape[1]
    near = np.flatnonzero(~far)
    where = np.flatnonzero(off[near])  # the values off the grid, image by image (row-major)
    rows = where // n
    cols = where - rows * n
    counts = np.bincount(rows, minlength=len(near))
    small = counts <= limit
    if not small.all():  # the others are stored as raw bits too
        keep = small[rows]
        rows, cols = (np.cumsum(small) - 1)[rows[keep]], cols[keep]
        near, counts = near[small], counts[small]
    rows = near[rows]  # (the image of each value in the block)
    where = rows * n + cols  # in the whole block
    starts = np.zeros(len(near) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    gaps = np.diff(cols, prepend=-1)  # each image's first: its position + 1
    firsts = starts[:-1][counts > 0]
    gaps[firsts] = cols[firsts] + 1
    xval = x.reshape(-1)[where]
    xor = bits.reshape(-1)[where] ^ grid.reshape(-1)[where]
    both = np.concatenate([gaps.astype(np.uint32), xor])
    total = len(cols)
    # values on the grid lie in [0, 1]: only those off it can be NaN, inf or out of range
    ok = np.ones(len(x), bool)
    if not checked:
        with np.errstate(invalid="ignore"):
            ok[rows[~((xval >= 0.0) & (xval <= 1.0))]] = False
    out: list[Prepared | None] = [None] * len(x)
    for k, i in enumerate(near.tolist()):
        a, b = int(starts[k]), int(starts[k + 1])
        res = np.concatenate([both[a:b], both[total + a : total + b]])
        out[i] = Prepared(GRID, shape, q=q[i], res=res, in_range=bool(ok[i]))
    if len(near) < len(x):
        rows_ok = np.ones(len(x), bool) if checked else _rows_in_range(x)
        for i in range(len(x)):
            if out[i] is None:
                out[i] = Prepared(RAW, shape, bits=bits[i].copy(), in_range=bool(rows_ok[i]))
    return out  # type: ignore[return-value]


def _split_compiled(
    split: Any, x: np.ndarray, q: np.ndarray, shape: tuple[int, ...], checked: bool
) -> list[Prepared]:
    """:func:`_prepare_block` with the compiled :func:`animlib.kernels.split_grid`, in as few
    calls as ``SPLIT_SCRATCH`` allows (each takes the GIL back once, not once per image)."""
    n, limit = len(x), int(GRID_SHARE * x.shape[1])
    rows = max(1, min(n, SPLIT_SCRATCH // (4 * (2 * limit + 2))))
    res = scratch("res", (rows, 2 * limit + 2), np.uint32)
    counts, oks = np.empty(n, np.int64), np.empty(n, np.bool_)
    out: list[Prepared] = []
    for a in range(0, n, rows):
        b = min(a + rows, n)
        split(x[a:b], q[a:b], res[: b - a], counts[a:b], oks[a:b], LUT_BITS, limit)
        for i in range(a, b):
            count, r = int(counts[i]), res[i - a]
            if count > limit:
                ok = checked or in_unit_range(x[i])
                out.append(Prepared(RAW, shape, bits=x[i].view(np.uint32).copy(), in_range=ok))
                continue
            both = np.concatenate([r[:count], r[limit : limit + count]])
            out.append(Prepared(GRID, shape, q=q[i], res=both, in_range=checked or bool(oks[i])))
    return out


def _rows_in_range(x: np.ndarray) -> np.ndarray:
    """(n,) bool: every value of the row is finite and in [0, 1] (NaN compares false)."""
    return (x.min(axis=1) >= 0.0) & (x.max(axis=1) <= 1.0)


def in_unit_range(values: np.ndarray) -> bool:
    """Every value is finite and in [0, 1] (NaN compares false)."""
    if not values.size:
        return True
    lo, hi = values.min(), values.max()
    return bool(lo >= 0.0 and hi <= 1.0)
