"""The ``animlib.steps`` codec: image steps stored compactly and exactly (uint8, residual, deltas).

A chunk holds a few consecutive steps of one run's ``images`` array. Each step is one *frame*:

- uint8 images: the pixels, or (after the chunk's first step) their difference to the previous
  step (mod 256), zstd-compressed;
- float32 images mostly on the ``k/255`` grid (uint8-origin images under sign-gradient attacks):
  ``q = rint(255 x)`` as uint8 like above, plus an exact *residual*: the positions where ``x`` is
  not bit for bit ``float32(q) / 255``, with the XOR of the two bit patterns there;
- other float32 images: the float bits (or their difference to the previous step's bits, mod
  2**32), byte-shuffled, zstd-compressed.

Decoding gives back exactly what was logged (float32 bit for bit). Frames are encoded one at a
time, so a writer appending to a chunk re-encodes only the new steps. Chunk layout: ``MAGIC``, the
frame count ``m`` and ``m`` frame lengths (uint32, little endian), then the frames; steps past ``m``
read as the fill value. Each frame: kind, delta flag, compressed length of the main part, residual
count, compressed length of the residual, then the two parts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numcodecs import Zstd

CODEC_NAME = "animlib.steps"  # the name in zarr.json; readers accept arrays using it
MAGIC = b"AST1"
LEVEL = 1  # zstd level: the sweet spot for these data (3 is bigger here, 9 is 7x slower)
GRID_SHARE = 0.5  # float steps with more values off the grid than this are stored as raw bits
LUT = np.arange(256, dtype=np.float32) / np.float32(255)
LUT_BITS = LUT.view(np.uint32)
U8, GRID, RAW = 0, 1, 2  # frame kinds
_FRAME = struct.Struct("<BBIII")
_ZSTD_MAGIC = 0xFD2FB528


@dataclass
class Prepared:
    """One image step ready to encode: uint8 ``q`` (U8, GRID), the residual (GRID) or the float
    bits (RAW); all arrays flat."""

    kind: int
    shape: tuple[int, ...]
    q: np.ndarray | None = None
    idx: np.ndarray | None = None  # positions off the grid (GRID), int64
    xor: np.ndarray | None = None  # their bits XOR the grid value's bits (GRID), uint32
    bits: np.ndarray | None = None  # float bits (RAW), uint32

    @property
    def nbytes(self) -> int:
        """Memory held by this step."""
        parts = (self.q, self.idx, self.xor, self.bits)
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
        bits = LUT_BITS[self.q]
        if self.idx is not None and self.idx.size:
            bits[self.idx] ^= self.xor
        return bits

    def image(self) -> np.ndarray:
        """The image exactly as logged, shaped (H, W, C)."""
        flat = self.q if self.kind == U8 else self.float_bits().view(np.float32)
        return flat.reshape(self.shape)


def quantize(values: np.ndarray) -> np.ndarray:
    """``rint(255 x)`` clipped to 0..255, as uint8 (NaN becomes 0; the residual keeps it)."""
    f = np.multiply(values, np.float32(255), dtype=np.float32)
    np.rint(f, out=f)
    np.clip(f, 0, 255, out=f)
    with np.errstate(invalid="ignore"):
        return f.astype(np.uint8)


def prepare(image: np.ndarray) -> Prepared:
    """One (H, W, C) uint8 or float32 image as a :class:`Prepared` step (the data is copied)."""
    return prepare_batch(image[None])[0]


def prepare_batch(images: np.ndarray) -> list[Prepared]:
    """A (B, H, W, C) batch as B :class:`Prepared` steps (vectorised over the batch; copies).

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
    q = quantize(flat)
    bits = flat.view(np.uint32)
    off = np.flatnonzero(LUT_BITS[q] != bits)  # positions in the whole batch
    per = flat.shape[1]
    cuts = np.searchsorted(off, np.arange(b + 1) * per)
    out = []
    for i in range(b):
        where = off[cuts[i] : cuts[i + 1]]
        if where.size > GRID_SHARE * per:
            out.append(Prepared(RAW, shape, bits=bits[i].copy()))
            continue
        xor = bits.ravel()[where] ^ LUT_BITS[q.ravel()[where]]
        out.append(Prepared(GRID, shape, q=q[i], idx=where - i * per, xor=xor))
    return out


# -- frames ----------------------------------------------------------------------------------------
def _shuffle(words: np.ndarray) -> np.ndarray:
    """uint32 words as 4 byte planes (low bytes first): similar bytes end up next to each other."""
    return np.ascontiguousarray(words.view(np.uint8).reshape(-1, 4).T)


def _unshuffle(planes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(planes.reshape(4, -1).T).view(np.uint32).ravel()


def encode_frame(step: Prepared, prev: Prepared | None, zstd: Zstd | None = None) -> bytes:
    """The bytes of one frame: ``step``, as a difference to ``prev`` when given."""
    z = zstd or Zstd(LEVEL)
    delta = prev is not None
    res, n_res = b"", 0
    if step.kind == RAW:
        bits = step.bits if prev is None else step.bits - prev.float_bits()
        main = z.encode(_shuffle(bits))
    else:
        q = step.q if prev is None else step.q - prev.quantized()
        main = z.encode(q)
        if step.kind == GRID and step.idx.size:
            gaps = np.diff(step.idx, prepend=-1).astype(np.uint32)
            n_res = int(step.idx.size)
            res = z.encode(np.concatenate([_shuffle(gaps).ravel(), _shuffle(step.xor).ravel()]))
    head = _FRAME.pack(step.kind, delta, len(main), n_res, len(res))
    return b"".join((head, bytes(main), bytes(res)))


def pack_chunk(frames: list[bytes]) -> bytes:
    """A chunk holding ``frames`` (one per step, in order)."""
    head = MAGIC + struct.pack(f"<I{len(frames)}I", len(frames), *(len(f) for f in frames))
    return head + b"".join(frames)


def encode_chunk(chunk: np.ndarray) -> bytes:
    """A whole (S, H, W, C) chunk (what Zarr hands the codec when someone writes through it)."""
    steps = prepare_batch(chunk)
    frames = [encode_frame(s, steps[i - 1] if i else None) for i, s in enumerate(steps)]
    return pack_chunk(frames)


def _zstd_size(data: bytes | memoryview) -> int | None:
    """The content size a zstd frame declares in its header (None if it declares none)."""
    if len(data) < 6 or struct.unpack_from("<I", data)[0] != _ZSTD_MAGIC:
        raise ValueError("zstd frame is truncated or corrupt (bad magic)")
    fhd = data[4]
    single, fcs_flag, dict_flag = (fhd >> 5) & 1, fhd >> 6, fhd & 3
    pos = 5 + (not single) + (0, 1, 2, 4)[dict_flag]
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if size == 0:
        return None
    if len(data) < pos + size:
        raise ValueError("zstd frame is truncated or corrupt (short header)")
    value = int.from_bytes(data[pos : pos + size], "little")
    return value + 256 if size == 2 else value


def _inflate(data: memoryview, count: int, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Decompress exactly ``count`` values of ``dtype`` (a chunk of another shape is refused)."""
    dt = np.dtype(dtype)
    declared = _zstd_size(data)
    if declared is not None and declared != count * dt.itemsize:
        values = declared // dt.itemsize
        raise ValueError(f"cannot reshape array of size {values} into shape {shape}")
    out = np.empty(count * dt.itemsize, np.uint8)
    Zstd().decode(bytes(data), out=out)
    return out.view(dt)


def _decode_frame(
    view: memoryview, prev: np.ndarray | None, spec: tuple[tuple[int, ...], np.dtype]
) -> np.ndarray:
    """One frame's flat values (uint8 or float32), given the previous step's flat values."""
    shape, dtype = spec
    count = int(np.prod(shape))
    if len(view) < _FRAME.size:
        raise ValueError("frame header is truncated")
    kind, delta, n_main, n_res, n_resb = _FRAME.unpack_from(view)
    body = view[_FRAME.size :]
    if len(body) != n_main + n_resb or (delta and prev is None) or kind not in (U8, GRID, RAW):
        raise ValueError("frame is truncated or corrupt")
    if (kind == U8) != (dtype == np.uint8) or n_res > count:
        raise ValueError(f"frame of kind {kind} does not fit a {dtype} array")
    if kind == RAW:
        bits = _unshuffle(_inflate(body[:n_main], 4 * count, np.uint8, shape))
        if delta:
            bits += prev.view(np.uint32)
        return bits.view(np.float32)
    q = _inflate(body[:n_main], count, np.uint8, shape)
    if delta:
        q += prev if kind == U8 else quantize(prev)
    if kind == U8:
        return q
    bits = LUT_BITS[q]
    if n_res:
        raw = _inflate(body[n_main:], 8 * n_res, np.uint8, shape)
        gaps, xor = _unshuffle(raw[: 4 * n_res]), _unshuffle(raw[4 * n_res :])
        idx = np.cumsum(gaps, dtype=np.int64) - 1
        if idx[-1] >= count or (gaps == 0).any():
            raise ValueError("frame residual is corrupt (positions out of range)")
        bits[idx] ^= xor
    return bits.view(np.float32)


def decode_chunk(data: bytes, shape: tuple[int, ...], dtype: Any, fill: Any = 0) -> np.ndarray:
    """The (S, H, W, C) array a chunk holds (steps it does not hold are ``fill``).

    Raises:
        ValueError: the bytes are not such a chunk (truncated, corrupt, another shape).
    """
    dtype = np.dtype(dtype)
    view = memoryview(data)
    if len(view) < 8 or bytes(view[:4]) != MAGIC:
        raise ValueError(f"not an {CODEC_NAME} chunk (truncated or corrupt)")
    (m,) = struct.unpack_from("<I", view, 4)
    if m > shape[0] or len(view) < 8 + 4 * m:
        raise ValueError(f"{CODEC_NAME} chunk is truncated or corrupt ({m} frames)")
    lengths = struct.unpack_from(f"<{m}I", view, 8)
    out = np.full(shape, fill, dtype=dtype)
    pos, prev = 8 + 4 * m, None
    if pos + sum(lengths) != len(view):
        raise ValueError(f"{CODEC_NAME} chunk is truncated or corrupt (size)")
    for i, n in enumerate(lengths):
        prev = _decode_frame(view[pos : pos + n], prev, (tuple(shape[1:]), dtype))
        out[i] = prev.reshape(shape[1:])
        pos += n
    return out
