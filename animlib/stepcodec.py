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

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numcodecs import Blosc, Zstd, blosc

from .stepsplit import CODEC_NAME, GRID, RAW, U8, Prepared, on_grid, prepare_batch, quantize
from .stepsplit import scratch as _buffer

MAGIC = b"AST1"
LEVEL = 1  # zstd level of parts stored with zstd (readers decode them; the writer uses Blosc)
ZSTD, BLOSC = 0, 1  # compressors of a frame's main part
_FRAME = struct.Struct("<BBBIII")
_ZSTD_MAGIC = 0xFD2FB528
_BLOSC = Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE)  # decodes any Blosc part
_ZSTD = Zstd()  # decodes parts stored with zstd


ONE_BITS = 0x3F800000  # the bits of 1.0: no float in [0, 1] but -0.0 has larger ones


def value_problem(values: np.ndarray) -> str | None:
    """What is wrong with float32 ``values`` (any shape) for an image step (NaN/inf or outside
    [0, 1], worded as :func:`animlib.validation.validate` words it), None if nothing: one pass
    over their bits when nothing is."""
    bits = values.view(np.uint32)
    if not bits.size or int(bits.max()) <= ONE_BITS:
        return None
    if not np.isfinite(values).all():
        return "contains NaN/inf"
    out = values[(values < 0) | (values > 1)]
    return f"has float values outside [0, 1] ({out[0]:.4g})" if out.size else None


def chunk_problems(steps: np.ndarray) -> dict[int, str]:
    """:func:`value_problem` of each float32 step of ``steps`` (S, ...) that has one."""
    if value_problem(steps) is None:
        return {}
    found = {i: value_problem(step) for i, step in enumerate(steps)}
    return {i: p for i, p in found.items() if p is not None}


def _compress(values: np.ndarray, shuffle: int) -> bytes:
    """LZ4 in Blosc at level 5: uint8 ``q`` and its deltas, and the float bits' deltas, with bit
    planes (``blosc.BITSHUFFLE``); 32-bit words (the residual, a RAW frame's own float bits) with
    byte planes (``blosc.SHUFFLE``: within a few % of bit planes there, and 2-3x faster to decode:
    1.8 -> 0.7 ms for a 512x512 RGB step). Called directly: ``Blosc.encode`` adds ~25 us."""
    return blosc.compress(values, b"lz4", 5, shuffle)


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
    if declared is not None and declared != nbytes:
        raise ChunkShapeError(declared // itemsize, shape)
    if out is None:
        out = np.empty(nbytes, np.uint8)
    (_BLOSC if codec == BLOSC else _ZSTD).decode(data, out=out)  # Blosc: any shuffle
    return out


class ChunkShapeError(ValueError):
    """A stored chunk of another image shape than its array's (``values`` where ``shape``
    needs another number), or a forged one: the reader says which (it used to parse this from
    an error worded as numpy's)."""

    def __init__(self, values: int, shape: tuple[int, ...]) -> None:
        super().__init__(f"a stored chunk holds {values} values where shape {shape} needs more")
        self.values, self.shape = values, tuple(shape)


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


def _apply_residual(bits: np.ndarray, frame: _Frame, shape: tuple[int, ...]) -> np.ndarray:
    """XOR the residual of a GRID frame into its grid values' bits (flat uint32); the positions
    it changed."""
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
    return idx


# A decoded step, as the next frame of its chunk needs it: its flat values (uint8 or float32) and,
# for U8 and GRID frames, its uint8 grid values ``q`` (a GRID delta adds to them; RAW: None).
_Step = tuple[np.ndarray, np.ndarray | None]


def _decode_frame(
    view: memoryview,
    prev: _Step | None,
    spec: tuple[tuple[int, ...], np.dtype],
    into: np.ndarray,
    q_out: np.ndarray | None = None,
    problems: list[str] | None = None,
) -> _Step:
    """One frame decoded into ``into`` (flat, of the array's dtype), given the previous step of
    its chunk; a GRID frame's ``q`` goes to ``q_out`` (flat uint8 scratch) if given. With
    ``problems``, the values that can be out of range (a RAW frame's, a GRID frame's residual)
    are checked and what is wrong appended (grid values are in [0, 1] by construction)."""
    shape, dtype = spec
    count = math.prod(shape)
    frame = _parse_frame(view, prev is not None, dtype, count)
    if frame.kind == RAW:
        bits = _inflate(frame.main, frame.codec, 4 * count, shape, 4, into.view(np.uint8))
        bits = bits.view(np.uint32)
        if frame.delta:
            bits += prev[0].view(np.uint32)
        if problems is not None and (problem := value_problem(bits.view(np.float32))):
            problems.append(problem)
        return bits.view(np.float32), None
    q = _inflate(frame.main, frame.codec, count, shape, out=into if frame.kind == U8 else q_out)
    if frame.delta:
        # the writer subtracted the previous step's q (a RAW step's: its values quantized)
        q += prev[1] if prev[1] is not None else quantize(prev[0])
    if frame.kind == U8:
        return q, q
    bits = on_grid(q, out=into).view(np.uint32)
    if frame.n_res:
        idx = _apply_residual(bits, frame, shape)
        if problems is not None and (problem := value_problem(bits[idx].view(np.float32))):
            problems.append(problem)
    return bits.view(np.float32), q


def decode_chunk(
    data: Any,
    shape: tuple[int, ...],
    dtype: Any,
    fill: Any = 0,
    out: np.ndarray | None = None,
    *,
    problems: dict[int, str] | None = None,
) -> np.ndarray:
    """Decode a chunk.

    Args:
        data: The chunk's bytes (any buffer; read in place).
        shape: (S, H, W, C), the array's chunk shape.
        dtype: uint8 or float32.
        fill: The value of steps the chunk does not hold yet.
        out: A C-contiguous array of ``shape`` and ``dtype`` to decode into (reused between
            chunks: no fresh pages), or None for a new one.
        problems: Receives ``{step in the chunk: what is wrong}`` for float steps holding NaN/inf
            or values outside [0, 1] (the writers store none); only the values that can be
            are looked at (raw float frames, residuals). None: not checked.

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
        found: list[str] | None = [] if problems is not None else None
        prev = _decode_frame(view[pos : pos + n], prev, spec, steps[i], q_out, found)
        if found:
            problems[i] = found[0]  # type: ignore[index]
        pos += n
    return out
