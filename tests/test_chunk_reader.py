"""ChunkReader: images chunks read straight from the store give Zarr's pixels, or nothing."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
from helpers import chunk_file, image_for, steps_chunk_bomb, uint8_image, write_run

import animlib
import animlib.writer
from animlib.chunk_reader import ChunkReader
from animlib.errors import Code, RunFormatError
from animlib.frames import BlockReader, FrameRenderer
from animlib.options import RenderOptions
from animlib.stepcodec import encode_chunk


def steps_run(tmp_path, monkeypatch, dtype: str, steps: int = 11, name: str = "r"):
    """A run written today (animlib.steps), 4 steps per chunk, the last chunk partly filled."""
    one = image_for(0) if dtype == "float32" else uint8_image(0)
    monkeypatch.setattr(animlib.writer, "CHUNK_TARGET_BYTES", 4 * one.nbytes)
    make = image_for if dtype == "float32" else uint8_image
    with animlib.RunWriter(tmp_path, name=name, original=make(0)) as w:
        for i in range(steps):
            image = make(i)
            if dtype == "float32" and i in (5, 6):  # on the k/255 grid, but for a few values
                image = np.round(image * 255) / np.float32(255)
                image[0, 0] = [0.123456, -0.0, 0.5]
            w.log(image=image)
    return animlib.open_run(tmp_path / w.run_id)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_steps_chunks_read_straight_equal_the_zarr_read(tmp_path, monkeypatch, dtype):
    run = steps_run(tmp_path, monkeypatch, dtype)
    reader = ChunkReader.of(run)
    assert reader is not None and reader.steps_per_chunk == 4 and reader.n_steps == 11
    got = reader.steps(0, 11, range(11))
    want = run.images[0:11]  # through Zarr and the checked store
    assert sorted(got) == list(range(11))
    for i in range(11):
        assert got[i].dtype == want.dtype and got[i].tobytes() == want[i].tobytes(), i
        assert not got[i].flags.writeable
    assert reader.steps(4, 8, range(4, 8, 3)).keys() == {4, 7}


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_frames_are_the_same_with_and_without_the_direct_read(tmp_path, monkeypatch, dtype):
    run = steps_run(tmp_path, monkeypatch, dtype)
    options = RenderOptions(dpi=50)
    with FrameRenderer(run, options) as direct:
        assert all(r._chunks is not None for r in direct._readers)  # noqa: SLF001
        fast = [direct.frame(i) for i in range(len(direct))]
    monkeypatch.setattr(ChunkReader, "of", classmethod(lambda cls, run: None))
    with FrameRenderer(run, options) as through_zarr:
        slow = [through_zarr.frame(i) for i in range(len(through_zarr))]
    assert all(np.array_equal(a, b) for a, b in zip(fast, slow, strict=True))


def test_a_render_decodes_its_first_chunk_once_while_the_figure_is_built(tmp_path, monkeypatch):
    run = steps_run(tmp_path, monkeypatch, "float32")
    reads: list[tuple[int, str]] = []
    original = ChunkReader.read

    def counting(self, index, wanted=None):
        reads.append((index, threading.current_thread().name))
        return original(self, index, wanted)

    monkeypatch.setattr(ChunkReader, "read", counting)
    with FrameRenderer(run, RenderOptions(dpi=50)) as frames:
        [frames.frame_rgba(i) for i in range(len(frames))]
    # chunk 0 once, in the reader's thread (the figure shows step 0 from it); the last chunk is
    # read once more for the perturbation's automatic amplification (from the last step)
    assert sorted(i for i, _ in reads) == [0, 1, 2, 2]
    assert [name for i, name in reads if i == 0] == ["animlib-read_0"]


def _refusal(run, step: int) -> RunFormatError:
    reader = BlockReader(run, 1)
    try:
        with pytest.raises(RunFormatError) as info:
            for i in range(step + 1):
                reader(i)
    finally:
        reader.close()
    return info.value


def test_a_cut_short_steps_chunk_is_an_error_never_zeros(tmp_path, monkeypatch):
    """A chunk holding frames for fewer steps than run.json counts in it is left to the checked
    read, which reports it (its missing steps would decode as the fill value)."""
    run = steps_run(tmp_path, monkeypatch, "float32")
    path = chunk_file(run.url, "images", 1)
    path.write_bytes(encode_chunk(np.stack([image_for(i) for i in (4, 5)])))
    reader = ChunkReader.of(run)
    assert reader.read(1) is None and reader.steps(0, 8, range(8)) is None
    assert reader.read(0) is not None
    err = _refusal(run, 6)
    assert err.code == Code.MISSING and err.field == "images", err
    assert "chunk c.1.0.0.0 (steps 6..7) is cut short" in str(err), err
    # the last chunk holds 3 of its 4 steps: the run's steps, all there
    assert reader.read(2) is not None
    short = ChunkReader.at(run.store)  # step count unknown: every step of a chunk is needed
    assert short.read(2) is None and short.read(0) is not None


@pytest.mark.parametrize("damage", ["missing", "magic", "truncated", "bomb", "oversized"])
def test_a_damaged_steps_chunk_is_never_read_here(tmp_path, monkeypatch, damage):
    run = steps_run(tmp_path, monkeypatch, "float32")
    path = chunk_file(run.url, "images", 1)
    good = path.read_bytes()
    reader = ChunkReader.of(run)
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(
            {
                "magic": b"XXXX" + good[4:],
                "truncated": good[:-7],
                "bomb": steps_chunk_bomb(10**9, frames=4),
                "oversized": good + bytes(reader._rule.max_stored),  # noqa: SLF001
            }[damage]
        )
    tracemalloc.start()
    try:
        assert reader.read(1) is None
        assert tracemalloc.get_traced_memory()[1] < 64 * 2**20
    finally:
        tracemalloc.stop()
    err = _refusal(run, 5)
    expected = Code.MISSING if damage == "missing" else Code.CORRUPT
    assert err.code == expected and err.field == "images", err


def test_other_runs_get_no_direct_reader(tmp_path):
    run = animlib.open_run(tmp_path / write_run(tmp_path, "plain", steps=3))
    assert ChunkReader.of(run) is not None
    assert ChunkReader.of(list(run.images)) is None  # not a stored run
