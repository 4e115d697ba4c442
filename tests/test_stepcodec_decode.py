"""Decoding ``animlib.steps`` chunks: every stored layout, into reused arrays, never in use."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from numcodecs import Blosc, Zstd

from animlib import stepcodec
from animlib.chunk_reader import ChunkReader, _Buffers

H, W, C = 9, 7, 3


def _grid(rng: np.random.Generator) -> np.ndarray:
    return (rng.integers(0, 256, (H, W, C)).astype(np.float32) / np.float32(255)).astype(np.float32)


def mixed_chunk() -> np.ndarray:
    """Float steps on the grid with residuals (NaN, -0.0, out of range), then off the grid (raw
    bits), then on it again: every kind of delta between two frames."""
    rng = np.random.default_rng(3)
    steps = []
    for s in range(6):
        x = _grid(rng)
        if s % 2:
            x[0, 0] = [0.123456, -0.0, np.nan]
            x[2, 3, 1] = 2.5
        if s in (2, 3):
            x = rng.random((H, W, C), dtype=np.float32)
        steps.append(x)
    return np.stack(steps)


def uint8_chunk() -> np.ndarray:
    return np.random.default_rng(4).integers(0, 256, (4, H, W, C), dtype=np.uint8)


FRAME = struct.Struct("<BBBIII")  # a frame's header (see animlib.stepcodec)


def _planes(words: np.ndarray) -> np.ndarray:
    """uint32 words as 4 byte planes, low bytes first (the hand shuffle of zstd residuals)."""
    return words.view(np.uint8).reshape(-1, 4).T.ravel()


def as_zstd_frames(data: bytes) -> bytes:
    """The same chunk with its parts stored as earlier writers stored them: zstd, the residual's
    words as byte planes shuffled by hand."""
    view = memoryview(data)
    (m,) = struct.unpack_from("<I", view, 4)
    pos, frames = 8 + 4 * m, []
    for n in struct.unpack_from(f"<{m}I", view, 8):
        frame, pos = view[pos : pos + n], pos + n
        kind, delta, _, n_main, n_res, _ = FRAME.unpack_from(frame)
        body = bytes(frame[FRAME.size :])
        main = Zstd(level=1).encode(Blosc().decode(body[:n_main]))  # Blosc reads any shuffle
        res = b""
        if n_res:
            words = np.frombuffer(Blosc().decode(body[n_main:]), np.uint32)
            res = Zstd(level=1).encode(
                np.concatenate([_planes(words[:n_res]), _planes(words[n_res:])])
            )
        codecs = stepcodec.ZSTD | stepcodec.ZSTD << 4
        head = FRAME.pack(kind, delta, codecs, len(main), n_res, len(res))
        frames.append(head + bytes(main) + bytes(res))
    return stepcodec.pack_chunk(frames)


@pytest.mark.parametrize("make", [mixed_chunk, uint8_chunk])
@pytest.mark.parametrize("zstd", [False, True])
def test_chunks_decode_exactly_into_a_reused_array(make, zstd):
    chunk = make()
    data = stepcodec.encode_chunk(chunk)
    if zstd:
        data = as_zstd_frames(data)
    shape = (len(chunk) + 2, H, W, C)  # two steps not written yet: the fill value
    fresh = stepcodec.decode_chunk(data, shape, chunk.dtype, fill=7)
    dirty = np.full(shape, 99, chunk.dtype)
    again = stepcodec.decode_chunk(memoryview(data), shape, chunk.dtype, fill=7, out=dirty)
    assert again is dirty
    for got in (fresh, again):
        assert got[: len(chunk)].tobytes() == chunk.tobytes()
        assert (got[len(chunk) :] == 7).all()


def test_decoding_into_an_array_of_another_shape_is_refused():
    chunk = uint8_chunk()
    data = stepcodec.encode_chunk(chunk)
    for out in (np.empty((5, H, W, C), np.uint8), np.empty(chunk.shape, np.float32)):
        with pytest.raises(ValueError):
            stepcodec.decode_chunk(data, chunk.shape, chunk.dtype, out=out)
    transposed = np.empty((C, W, H, len(chunk)), np.uint8).T
    with pytest.raises(ValueError):
        stepcodec.decode_chunk(data, chunk.shape, chunk.dtype, out=transposed)


def test_an_array_still_in_use_is_never_handed_out_again():
    buffers = _Buffers((2, 3), np.dtype(np.float32), keep=2)
    a = buffers.take()
    b = buffers.take()
    assert a is not b
    step = a[1]  # a view keeps its array in use
    del a
    c = buffers.take()
    assert c is not step.base and c is not b
    del b
    assert buffers.take() is not c  # ``c`` is in use: the free one is the other
    del step, c
    kept = {id(buffers.take()), id(buffers.take())}
    assert len(kept) == 1  # free again, and handed out again


def test_steps_held_by_the_caller_stay_as_read(tmp_path):
    from helpers import write_run

    import animlib

    run = animlib.open_run(tmp_path / write_run(tmp_path, steps=12))
    reader = ChunkReader.of(run)
    assert reader is not None
    n = reader.steps_per_chunk
    want = run.images[0:12]
    held = reader.steps(0, 12, range(12))
    for _ in range(3):  # more chunks read while the first steps are kept
        reader.steps(0, 12, range(0, 12, n))
    for i in range(12):
        assert held[i].tobytes() == want[i].tobytes() and not held[i].flags.writeable
    reader.release()
    assert reader.steps(0, 12, range(12))[11].tobytes() == want[11].tobytes()
