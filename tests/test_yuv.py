"""Frames piped as YUV 4:2:0 planes: the compiled conversion equals numpy's, only the changed
parts are converted (and that is enough), and the videos show the same frames as RGBA pipes."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest
from helpers import write_run
from hypothesis import given, settings
from hypothesis import strategies as st

import animlib
from animlib import kernels
from animlib.frames import FrameRenderer
from animlib.movie_writers import get_writer
from animlib.movie_writers.yuv import YuvFrame, _boxes, convert

pytest.importorskip("numba")


def planes(h, w):
    return (
        np.zeros((h, w), np.uint8),
        np.zeros((h // 2, w // 2), np.uint8),
        np.zeros((h // 2, w // 2), np.uint8),
    )


def test_known_colours_in_limited_range():
    frame = np.zeros((2, 8, 4), np.uint8)
    frame[:, 0:2, :3] = 255  # white
    frame[:, 2:4, :3] = 0  # black
    frame[:, 4:6, :3] = (255, 0, 0)  # red
    frame[:, 6:8, :3] = (0, 0, 255)  # blue
    y, u, v = planes(2, 8)
    convert(frame, y, u, v, 0, 2, 0, 8)
    assert y[0].tolist() == [235, 235, 16, 16, 82, 82, 41, 41]
    assert u[0].tolist() == [128, 128, 90, 240]
    assert v[0].tolist() == [128, 128, 240, 110]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    h=st.integers(1, 12).map(lambda n: 2 * n),
    w=st.integers(1, 20).map(lambda n: 2 * n),
    box=st.tuples(*(st.floats(0, 1) for _ in range(4))),
    writeable=st.booleans(),
)
def test_compiled_conversion_equals_numpy(seed, h, w, box, writeable):
    kernel = kernels.yuv420(wait=True)
    assert kernel is not None
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    frame[rng.random((h, w)) < 0.2] = rng.choice([0, 255], 4)  # extremes
    frame.flags.writeable = writeable
    a0, a1 = sorted(int(x * h) // 2 * 2 for x in box[:2])
    b0, b1 = sorted(int(x * w) // 2 * 2 for x in box[2:])
    expected, got = planes(h, w), planes(h, w)
    convert(frame, *expected, a0, a1, b0, b1)
    flat = frame.reshape(h, w * 4)
    kernel(flat.view(np.uint32), flat.view(np.uint64), *got, np.array([[a0, a1, b0, b1]]))
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g, e)


def test_boxes_widen_to_even_edges_inside_the_frame():
    changed = [(slice(3, 8), slice(5, 9)), (slice(0, 0), slice(0, 4)), (slice(9, 20), slice(1, 2))]
    assert _boxes(changed, 10, 10) == [(2, 8, 4, 10), (8, 10, 0, 2)]


@pytest.mark.parametrize("compiled", [True, False])
def test_updating_the_changed_parts_gives_the_planes_of_the_whole_frame(compiled):
    rng = np.random.default_rng(0)
    h, w = 30, 40
    frame = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    yuv = YuvFrame((w, h), kernels.yuv420(wait=True) if compiled else None)
    yuv.update(frame, [(slice(0, 1), slice(0, 1))])  # the first frame is converted whole
    for _ in range(5):
        r0, c0 = rng.integers(0, h - 5), rng.integers(0, w - 5)
        part = (slice(r0, r0 + 5), slice(c0, c0 + 5))  # odd edges too
        frame[part] = rng.integers(0, 256, (5, 5, 4), dtype=np.uint8)
        got = yuv.update(frame, [part]).copy()
        expected = planes(h, w)
        convert(frame, *expected, 0, h, 0, w)
        np.testing.assert_array_equal(got, np.concatenate([p.ravel() for p in expected]))


def test_a_renderers_changed_parts_hold_every_changed_pixel(tmp_path):
    run = animlib.open_run(tmp_path / write_run(tmp_path, steps=8, shape=(20, 20, 3)))
    frames = FrameRenderer(run)
    previous = frames.frame_rgba(0).copy()
    assert frames.changed is None  # (nothing before it)
    for i in range(1, len(frames)):
        frame = frames.frame_rgba(i)
        assert frames.changed
        outside = np.ones(frame.shape[:2], bool)
        for part in frames.changed:
            outside[part] = False
        moved = (frame != previous).any(axis=2)
        assert moved.any() and not (moved & outside).any()
        previous = frame.copy()
    frames.full_frame(0)
    frames.frame_rgba(1)
    assert frames.changed is None  # after a full redraw: anywhere


def test_writers_pipe_planes_only_where_they_can(tmp_path, monkeypatch):
    assert kernels.yuv420(wait=True) is not None
    seen = []

    def command(self):
        cmd = real(self)
        seen.append(cmd[cmd.index("-pix_fmt") + 1])
        return cmd

    real = animlib.movie_writers.FFmpegWriter.command
    monkeypatch.setattr(animlib.movie_writers.FFmpegWriter, "command", command)
    cases = [((64, 48), 4, {}), ((64, 48), 3, {}), ((63, 48), 4, {})]
    cases += [((64, 48), 4, {"extra_args": ["-pix_fmt", "yuv444p"]})]
    for size, channels, options in cases:
        writer = get_writer("mp4", **options)
        with writer.saving(tmp_path / "a.mp4", size, 10, channels=channels):
            writer.grab_frame(np.zeros((size[1], size[0], channels), np.uint8))
    assert seen == ["yuv420p", "rgb24", "rgba", "rgba"]
    monkeypatch.setenv(kernels.DISABLE_ENV, "1")
    writer = get_writer("mp4")
    with writer.saving(tmp_path / "a.mp4", (64, 48), 10, channels=4):
        writer.grab_frame(np.zeros((48, 64, 4), np.uint8))
    assert seen[-1] == "rgba"


def decoded(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader])


def test_videos_from_planes_show_the_frames_as_videos_from_rgba(tmp_path, monkeypatch):
    run = animlib.open_run(tmp_path / write_run(tmp_path, steps=10, shape=(40, 40, 3)))
    assert kernels.yuv420(wait=True) is not None
    with FrameRenderer(run) as frames:
        drawn = np.stack([frames.frame(i) for i in range(len(frames))])
    planes_mp4 = animlib.render(run, tmp_path / "planes.mp4", fps=10)
    monkeypatch.setattr(YuvFrame, "available", classmethod(lambda cls: None))
    rgba_mp4 = animlib.render(run, tmp_path / "rgba.mp4", fps=10)
    a, b = decoded(planes_mp4).astype(float), decoded(rgba_mp4).astype(float)
    assert a.shape == b.shape == drawn.shape
    # as close to the drawn frames as ffmpeg's own conversion (4:2:0 loses the colour detail
    # of these random pixels either way), and exact but for rounding elsewhere
    err_planes, err_rgba = np.abs(a - drawn), np.abs(b - drawn)
    assert err_planes.mean() <= err_rgba.mean() + 0.2
    assert np.median(err_planes) <= 1.0
