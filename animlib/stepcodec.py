"""The ``animlib.steps`` codec: image steps stored compactly and exactly (grid, residual, delta)."""

# A chunk holds a few consecutive steps of one run's ``images`` array. Each step is one *frame*:
#
# - uint8 images: the pixels, or (after the chunk's first step) their difference to the previous
#   step (mod 256), bit-shuffled and LZ4-compressed (Blosc);
# - float32 images mostly on the ``k/255`` grid (uint8-origin images under sign-gradient attacks):
#   ``q = rint(255 x)`` as uint8 like above, plus an exact *residual*: the positions where ``x`` is
#   not bit for bit ``float32(q) / 255`` and the XOR of the two bit patterns there (byte planes);
# - other float32 images: the float bits (byte planes), or their difference to the previous
#   step's bits (mod 2**32, bit planes), LZ4-compressed.
#
# Decoding gives back exactly what was logged (float32 bit for bit, NaN and -0.0 included). Frames
# are encoded one at a time, so a writer appending to a chunk encodes only the new steps.
#
# Chunk layout (little endian): ``MAGIC``, the frame count ``m`` (uint32), ``m`` frame lengths
# (uint32), then the frames; steps past ``m`` read as the fill value. A frame: kind (U8, GRID,
# RAW), delta flag, compressors (low 4 bits: the main part's, high 4: the residual's; ZSTD or
# BLOSC), the main part's length, the residual count and its compressed length (uint32 each),
# then the two parts.

from __future__ import annotations

import functools
import math
import struct
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from numcodecs import Blosc, Zstd, blosc

from . import kernels

CODEC_NAME = "animlib.steps"  # the name in zarr.json; readers accept arrays using it
MAGIC = b"AST1"
LEVEL = 1  # zstd level of parts stored with zstd (readers decode them; the writer uses Blosc)
BLOCK_VALUES = 2**17  # values prepared at once (the scratch arrays stay in the CPU cache)
SPLIT_SCRATCH = 16 * 2**20  # residual scratch bytes per compiled call (27 images of 224x224x3)
GRID_SHARE = 0.5  # float steps with more values off the grid than this are stored as raw bits
SAMPLE = kernels.SAMPLE  # every SAMPLE-th value tells first whether a step is far from the grid
LUT = np.arange(256, dtype=np.float32) / np.float32(255)
LUT_BITS = LUT.view(np.uint32)
U8, GRID, RAW = 0, 1, 2  # frame kinds
ZSTD, BLOSC = 0, 1  # compressors of a frame's main part
_FRAME = struct.Struct("<BBBIII")
_ZSTD_MAGIC = 0xFD2FB528
_BLOSC = Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE)  # decodes any Blosc part
_ZSTD = Zstd()  # decodes parts stored with zstd
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
    f = _buffer("quantize", values.shape, np.float32)
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


def _buffer(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A scratch array of this thread, reused between calls (no fresh pages per step)."""
    buf = getattr(_scratch, name, None)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
        setattr(_scratch, name, buf)
    return buf


def _compress(values: np.ndarray, shuffle: int) -> bytes:
    """LZ4 in Blosc at level 5: uint8 ``q`` and its deltas, and the float bits' deltas, with bit
    planes (``blosc.BITSHUFFLE``); 32-bit words (the residual, a RAW frame's own float bits) with
    byte planes (``blosc.SHUFFLE``: within a few % of bit planes there, and 2-3x faster to decode:
    1.8 -> 0.7 ms for a 512x512 RGB step). Called directly: ``Blosc.encode`` adds ~25 us."""
    return blosc.compress(values, b"lz4", 5, shuffle)


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
    grid = on_grid(q, out=_buffer("quantize", x.shape, np.float32))
    grid = grid.view(np.uint32)
    off = _buffer("off", x.shape, np.bool_)
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
    where = near[rows] * n + cols  # in the whole block
    starts = np.zeros(len(near) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    gaps = np.diff(cols, prepend=-1)  # each image's first: its position + 1
    firsts = starts[:-1][counts > 0]
    gaps[firsts] = cols[firsts] + 1
    xval = x.reshape(-1)[where]
    xor = bits.reshape(-1)[where] ^ grid.reshape(-1)[where]
    both = np.concatenate([gaps.astype(np.uint32), xor])
    total = len(cols)
    rows = near[rows]
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
    res = _buffer("res", (rows, 2 * limit + 2), np.uint32)
    counts, oks = np.empty(n, np.int64), np.empty(n, np.bool_)
    out: list[Prepared] = []
    for a in range(0, n, rows):
        b = min(a + rows, n)
        split(x[a:b], q[a:b], res[: b - a], counts[a:b], oks[a:b], LUT_BITS, limit)
        for i in range(a, b):
            count, r = int(counts[i]), res[i - a]
            if count > limit:
                ok = checked or _in_range(x[i])
                out.append(Prepared(RAW, shape, bits=x[i].view(np.uint32).copy(), in_range=ok))
                continue
            both = np.concatenate([r[:count], r[limit : limit + count]])
            out.append(Prepared(GRID, shape, q=q[i], res=both, in_range=checked or bool(oks[i])))
    return out


def _rows_in_range(x: np.ndarray) -> np.ndarray:
    """(n,) bool: every value of the row is finite and in [0, 1] (NaN compares false)."""
    return (x.min(axis=1) >= 0.0) & (x.max(axis=1) <= 1.0)


def _in_range(values: np.ndarray) -> bool:
    """Every value is finite and in [0, 1] (NaN compares false)."""
    if not values.size:
        return True
    lo, hi = values.min(), values.max()
    return bool(lo >= 0.0 and hi <= 1.0)


# -- frames ----------------------------------------------------------------------------------------
def _unshuffle(planes: np.ndarray) -> np.ndarray:
    """4 byte planes (low bytes first; older writers' zstd residuals) as uint32 words."""
    return np.ascontiguousarray(planes.reshape(4, -1).T).view(np.uint32).ravel()


def encode_frame(step: Prepared, prev: Prepared | None) -> bytes:
    """Encode one step as a frame.

    Args:
        step: The step.
        prev: The step before it in the same chunk (the frame is then a difference), or None
            for the chunk's first step.

    Returns:
        The frame's bytes.
    """
    res, n_res = b"", 0
    if step.kind == RAW:
        if prev is None:
            main = _compress(step.bits, blosc.SHUFFLE)
        else:  # differences of float bits: bit planes are 10-20% smaller here
            diff = _buffer("diff_bits", step.bits.shape, np.uint32)
            main = _compress(np.subtract(step.bits, prev.float_bits(), out=diff), blosc.BITSHUFFLE)
    else:
        q = step.q
        if prev is not None:  # (into scratch: no fresh pages for each frame)
            q = np.subtract(q, prev.quantized(), out=_buffer("diff_q", q.shape, np.uint8))
        main = _compress(q, blosc.BITSHUFFLE)
        if step.kind == GRID and step.res.size:
            n_res = int(step.res.size // 2)
            res = _compress(step.res, blosc.SHUFFLE)
    codecs = BLOSC | BLOSC << 4  # main part | residual
    head = _FRAME.pack(step.kind, prev is not None, codecs, len(main), n_res, len(res))
    return b"".join((head, bytes(main), bytes(res)))


def pack_chunk(frames: list[bytes]) -> bytes:
    """The chunk holding ``frames``.

    Args:
        frames: One frame per step, in order (from :func:`encode_frame`).

    Returns:
        The chunk's bytes, as stored in the chunk file.
    """
    head = MAGIC + struct.pack(f"<I{len(frames)}I", len(frames), *(len(f) for f in frames))
    return head + b"".join(frames)


def encode_chunk(chunk: np.ndarray) -> bytes:
    """Encode a whole chunk (what Zarr hands the codec when someone writes through Zarr).

    Args:
        chunk: (S, H, W, C) uint8 or float32, any values (NaN too).

    Returns:
        The chunk's bytes.
    """
    steps = prepare_batch(chunk)
    frames = [encode_frame(s, steps[i - 1] if i else None) for i, s in enumerate(steps)]
    return pack_chunk(frames)


def _declared_size(data: memoryview, codec: int) -> int | None:
    """The decompressed size a zstd or Blosc frame declares (None: zstd without one)."""
    if codec == BLOSC:
        if len(data) < 16 or struct.unpack_from("<I", data, 12)[0] != len(data):
            raise ValueError("blosc frame is truncated or corrupt")
        return struct.unpack_from("<I", data, 4)[0]
    if codec != ZSTD or len(data) < 6 or struct.unpack_from("<I", data)[0] != _ZSTD_MAGIC:
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


def _inflate(
    data: memoryview,
    codec: int,
    nbytes: int,
    shape: tuple[int, ...],
    itemsize: int = 1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decompress exactly ``nbytes`` bytes (a chunk of another image shape is refused), into
    ``out`` (flat uint8 of ``nbytes`` bytes) if given. ``data`` is read in place (no copy)."""
    declared = _declared_size(data, codec)
    if declared is not None and declared != nbytes:  # worded as numpy words it, for the reader
        raise ValueError(f"cannot reshape array of size {declared // itemsize} into shape {shape}")
    if out is None:
        out = np.empty(nbytes, np.uint8)
    (_BLOSC if codec == BLOSC else _ZSTD).decode(data, out=out)  # Blosc: any shuffle
    return out


@dataclass
class _Frame:
    """A frame's header and parts, checked against the array (see :func:`_decode_frame`)."""

    kind: int
    delta: bool
    codec: int
    res_codec: int
    n_res: int
    main: memoryview
    res: memoryview


def _parse_frame(view: memoryview, has_prev: bool, dtype: np.dtype, count: int) -> _Frame:
    if len(view) < _FRAME.size:
        raise ValueError("frame header is truncated")
    kind, delta, codecs, n_main, n_res, n_resb = _FRAME.unpack_from(view)
    body = view[_FRAME.size :]
    if len(body) != n_main + n_resb or (delta and not has_prev) or kind not in (U8, GRID, RAW):
        raise ValueError("frame is truncated or corrupt")
    if (kind == U8) != (dtype == np.uint8) or n_res > count:
        raise ValueError(f"frame of kind {kind} does not fit a {dtype} array")
    main, res = body[:n_main], body[n_main:]
    return _Frame(kind, bool(delta), codecs & 15, codecs >> 4, n_res, main, res)


def _apply_residual(bits: np.ndarray, frame: _Frame, shape: tuple[int, ...]) -> None:
    """XOR the residual of a GRID frame into its grid values' bits (flat uint32)."""
    n_res = frame.n_res
    raw = _inflate(frame.res, frame.res_codec, 8 * n_res, shape)
    if frame.res_codec == ZSTD:  # byte planes shuffled by hand
        gaps, xor = _unshuffle(raw[: 4 * n_res]), _unshuffle(raw[4 * n_res :])
    else:
        gaps, xor = raw.view(np.uint32)[:n_res], raw.view(np.uint32)[n_res:]
    idx = np.cumsum(gaps, dtype=np.int64) - 1
    if idx[-1] >= bits.size or (gaps == 0).any():
        raise ValueError("frame residual is corrupt (positions out of range)")
    bits[idx] ^= xor


# A decoded step, as the next frame of its chunk needs it: its flat values (uint8 or float32) and,
# for U8 and GRID frames, its uint8 grid values ``q`` (a GRID delta adds to them; RAW: None).
_Step = tuple[np.ndarray, np.ndarray | None]


def _decode_frame(
    view: memoryview,
    prev: _Step | None,
    spec: tuple[tuple[int, ...], np.dtype],
    into: np.ndarray,
    q_out: np.ndarray | None = None,
) -> _Step:
    """One frame decoded into ``into`` (flat, of the array's dtype), given the previous step of
    its chunk; a GRID frame's ``q`` goes to ``q_out`` (flat uint8 scratch) if given."""
    shape, dtype = spec
    count = math.prod(shape)
    frame = _parse_frame(view, prev is not None, dtype, count)
    if frame.kind == RAW:
        bits = _inflate(frame.main, frame.codec, 4 * count, shape, 4, into.view(np.uint8))
        bits = bits.view(np.uint32)
        if frame.delta:
            bits += prev[0].view(np.uint32)
        return bits.view(np.float32), None
    q = _inflate(frame.main, frame.codec, count, shape, out=into if frame.kind == U8 else q_out)
    if frame.delta:
        # the writer subtracted the previous step's q (a RAW step's: its values quantized)
        q += prev[1] if prev[1] is not None else quantize(prev[0])
    if frame.kind == U8:
        return q, q
    bits = on_grid(q, out=into).view(np.uint32)
    if frame.n_res:
        _apply_residual(bits, frame, shape)
    return bits.view(np.float32), q


def decode_chunk(
    data: Any, shape: tuple[int, ...], dtype: Any, fill: Any = 0, out: np.ndarray | None = None
) -> np.ndarray:
    """Decode a chunk.

    Args:
        data: The chunk's bytes (any buffer; read in place).
        shape: (S, H, W, C), the array's chunk shape.
        dtype: uint8 or float32.
        fill: The value of steps the chunk does not hold yet.
        out: A C-contiguous array of ``shape`` and ``dtype`` to decode into (reused between
            chunks: no fresh pages), or None for a new one.

    Returns:
        The (S, H, W, C) array (``out`` if given), exactly as written.

    Raises:
        ValueError: the bytes are not such a chunk (truncated, corrupt, another shape).
    """
    dtype = np.dtype(dtype)
    view = memoryview(data).cast("B")
    if len(view) < 8 or view[:4] != MAGIC:
        raise ValueError(f"not an {CODEC_NAME} chunk (truncated or corrupt)")
    (m,) = struct.unpack_from("<I", view, 4)
    if m > shape[0] or len(view) < 8 + 4 * m:
        raise ValueError(f"{CODEC_NAME} chunk is truncated or corrupt ({m} frames)")
    lengths = struct.unpack_from(f"<{m}I", view, 8)
    pos, prev = 8 + 4 * m, None
    if pos + sum(lengths) != len(view):
        raise ValueError(f"{CODEC_NAME} chunk is truncated or corrupt (size)")
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"cannot decode a {dtype} chunk of shape {shape} into {out.shape}")
    out[m:] = fill
    steps = out.reshape(shape[0], -1)  # each frame is decoded straight into its step
    spec = (tuple(shape[1:]), dtype)
    scratch = None
    if dtype == np.float32:  # GRID frames' q, in turn (a delta adds the previous one's)
        scratch = _buffer("grid_q", (2, steps.shape[1]), np.uint8)
    for i, n in enumerate(lengths):
        q_out = scratch[i % 2] if scratch is not None else None
        prev = _decode_frame(view[pos : pos + n], prev, spec, steps[i], q_out)
        pos += n
    return out
