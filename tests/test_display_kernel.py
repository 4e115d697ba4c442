"""The compiled panel pixels (animlib.kernels.display_rgb) equal the numpy reference's pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import uint8_image, write_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_kernels import assert_prints_ok

import animlib
from animlib import kernels
from animlib.figure.artists import Sampling
from animlib.figure.pixels import StepImages, colour_planes, lut32
from animlib.frames import FrameRenderer

pytest.importorskip("numba")

SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -0.25, 1.5, 0.5 / 255], np.float32)


def numpy_pixels(src, sampling, orig_mean, amp):
    """What the numpy code shows in the adversarial and perturbation panels."""
    si = StepImages()
    if sampling.shrinks:  # picked first, then converted (as ImagePanels does)
        prepared = si.prepare(sampling.apply(src))
        orig = None if orig_mean is None else sampling.apply(orig_mean)
        return si.rgba(prepared).copy(), si.perturbation(prepared, amp, orig).copy()
    prepared = si.prepare(src)
    img = sampling.apply(si.rgba(prepared))
    return img, sampling.apply(si.perturbation(prepared, amp, orig_mean))


def kernel_pixels(src, sampling, orig_mean, amp):
    kernel = kernels.display_rgb(wait=True)
    assert kernel is not None
    (oh, ow), w = sampling.size, sampling.source[1]
    cols = np.arange(w) if sampling.cols is None else sampling.cols
    orig = np.zeros((oh, ow, 3), np.float32) if orig_mean is None else sampling.apply(orig_mean)
    orig = kernels.planar(orig)
    img, pert = np.empty((oh, ow, 4), np.uint8), np.empty((oh, ow), np.uint32)
    src = np.ascontiguousarray(src)
    src.flags.writeable = False
    scale = np.float32(1 if src.dtype == np.float32 else 1 / 255)
    kernel(
        src,
        np.array(sampling.rows, np.int64),
        np.array(cols, np.int64),
        np.array(orig, np.float32, order="C"),
        np.float32(amp * 127.5),
        scale,
        lut32("RdBu_r"),
        img,
        pert,
    )
    return img, pert.view(np.uint8).reshape(oh, ow, 4)


@st.composite
def cases(draw):
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    oh, ow = draw(st.integers(1, 60)), draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        src = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    else:
        src = rng.random((h, w, 3), dtype=np.float32)
        if draw(st.booleans()):  # 8-bit values, then some far off [0, 1] or not numbers
            src = np.round(src * 255) / np.float32(255)
        picks = rng.random(src.shape) < draw(st.sampled_from([0.0, 0.05, 0.5]))
        src[picks] = rng.choice(SPECIAL, int(picks.sum()))
    orig = None
    if draw(st.booleans()):
        original = rng.random((h, w, 3), dtype=np.float32)
        if draw(st.booleans()):  # not numbers (a run whose original holds them)
            original[rng.random(original.shape) < 0.2] = rng.choice(SPECIAL[:3])
        orig = colour_planes(original)
    amp = draw(st.sampled_from([1.0, 3.7, 32.0, 1e4, 1e-3]))
    return src, Sampling.of((h, w), (oh, ow)), orig, amp


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_compiled_pixels_equal_numpy_for_any_values_and_sizes(case):
    src, sampling, orig, amp = case
    want_img, want_pert = numpy_pixels(src, sampling, orig, amp)
    got_img, got_pert = kernel_pixels(src, sampling, orig, amp)
    assert np.array_equal(got_img, want_img)
    assert np.array_equal(got_pert, want_pert)


def frames_both_ways(run, monkeypatch, options=None):
    """Every frame with numpy only, then with the compiled pixels (and how often they ran)."""
    with monkeypatch.context() as m:
        m.setenv(kernels.DISABLE_ENV, "1")
        with FrameRenderer(run, options) as frames:
            reference = [frames.frame(i).copy() for i in range(len(frames))]
    compiled = kernels.display_rgb(wait=True)
    assert compiled is not None
    calls = []

    def kernel(*args):
        calls.append(1)
        return compiled(*args)

    def counted(*, start=True, wait=False):
        return kernel

    with monkeypatch.context() as m:
        m.setattr(kernels, "display_rgb", counted)
        with FrameRenderer(run, options) as frames:
            got = [frames.frame(i).copy() for i in range(len(frames))]
    return reference, got, len(calls)


@pytest.mark.parametrize(
    "shape,dtype", [((16, 12, 3), "float32"), ((300, 280, 3), "float32"), ((40, 40, 3), "uint8")]
)
def test_frames_are_the_same_with_and_without_the_compiled_pixels(
    tmp_path, monkeypatch, shape, dtype
):
    """Images smaller and larger than their panels (zoomed in, picked down), float and 8-bit."""
    if dtype == "uint8":
        rid = write_run(tmp_path, steps=6, shape=shape, original=False)
        with animlib.RunWriter(tmp_path, name="u8", original=uint8_image(0, shape)) as w:
            for i in range(6):
                w.log(image=uint8_image(i, shape))
        rid = w.run_id
    else:
        rid = write_run(tmp_path, steps=6, shape=shape)
    run = animlib.open_run(tmp_path / rid)
    reference, got, calls = frames_both_ways(run, monkeypatch)
    assert calls > 0, "the compiled pixels were not used"
    for i, (a, b) in enumerate(zip(reference, got, strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs"


def test_a_comparison_and_gray_or_rgba_steps_render_the_same_either_way(tmp_path, monkeypatch):
    """Steps the compiled loop does not take (gray, RGBA) are converted by numpy, in the same
    video as RGB ones."""
    ids = [
        write_run(tmp_path, name="rgb", steps=5, shape=(20, 20, 3)),
        write_run(tmp_path, name="gray", steps=4, shape=(20, 20, 1)),
        write_run(tmp_path, name="rgba", steps=3, shape=(20, 20, 4)),
    ]
    runs = [animlib.open_run(tmp_path / rid) for rid in ids]
    reference, got, calls = frames_both_ways(runs, monkeypatch)
    assert calls > 0
    for i, (a, b) in enumerate(zip(reference, got, strict=True)):
        assert np.array_equal(a, b), f"frame {i} differs"


def test_only_a_second_render_starts_loading_the_compiled_pixels():
    """A one-off render (the CLI's) never imports Numba; a process's second render starts
    loading it in the background, and the render after that uses it (the same frames)."""
    code = f"""if True:
        import sys, tempfile
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from helpers import write_run
        import animlib
        from animlib import kernels
        from animlib.frames import FrameRenderer

        root = tempfile.mkdtemp()
        run = animlib.open_run(root + "/" + write_run(root, steps=4, shape=(64, 64, 3)))
        first = [f.copy() for f in FrameRenderer(run)]
        assert "numba" not in sys.modules, "a first render loaded Numba"
        second = [f.copy() for f in FrameRenderer(run)]
        assert kernels.display_rgb(start=False, wait=True) is not None, "not loaded"
        third = [f.copy() for f in FrameRenderer(run)]
        assert all(np.array_equal(a, b) for a, b in zip(first, third))
        assert all(np.array_equal(a, b) for a, b in zip(first, second))
        print("ok")
    """
    assert_prints_ok(code)
