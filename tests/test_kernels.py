"""The compiled split of float steps (animlib.kernels) gives exactly the numpy reference's steps."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from test_writer_properties import SETTINGS, step_chunks

from animlib import kernels, stepcodec, stepsplit

pytest.importorskip("numba")


def both_ways(images: np.ndarray, monkeypatch, **kw) -> tuple[list, list]:
    """``prepare_batch`` with numpy only, then with the compiled split."""
    with monkeypatch.context() as m:
        m.setenv(kernels.DISABLE_ENV, "1")
        assert kernels.split_grid(wait=True) is None
        reference = stepsplit.prepare_batch(images, **kw)
    assert kernels.split_grid(wait=True) is not None
    return reference, stepsplit.prepare_batch(images, **kw)


def assert_same_steps(images: np.ndarray, reference: list, compiled: list) -> None:
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    for i, (ref, got) in enumerate(zip(reference, compiled, strict=True)):
        assert got.kind == ref.kind, f"image {i}: kind {got.kind}, numpy {ref.kind}"
        assert got.in_range == ref.in_range, f"image {i}: in_range"
        assert got.image().reshape(-1).tobytes() == flat[i].tobytes(), f"image {i}: bits"
        if got.kind == stepsplit.GRID and ref.in_range:  # (numpy leaves q unclipped then)
            assert np.array_equal(got.q, ref.q), f"image {i}: q"
            assert np.array_equal(got.res, ref.res), f"image {i}: residual"
        encoded = stepcodec.encode_chunk(images[i : i + 1])
        back = stepcodec.decode_chunk(encoded, images[i : i + 1].shape, images.dtype)
        assert back.tobytes() == images[i : i + 1].tobytes()


@SETTINGS
@given(step_chunks())
def test_the_compiled_split_matches_numpy_for_any_bits(chunk):
    if chunk.dtype != np.float32:
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        for kw in ({}, {"validate": True}):
            reference, compiled = both_ways(chunk, monkeypatch, **kw)
            assert_same_steps(chunk, reference, compiled)


@pytest.mark.parametrize(
    "size", [1, 7, 8, 9, 63, 64, 65, 127, 4095, 4096, 4097, 4096 + 64, 8192 + 5, 3 * 50 * 50]
)
def test_values_off_the_grid_are_found_at_every_position(monkeypatch, size):
    """Block, flag-word and 64-value mask edges: the first and last value, both sides of each
    4096 block, both sides of a 64-value mask."""
    rng = np.random.default_rng(size)
    x = rng.integers(0, 256, (2, size)).astype(np.float32) / np.float32(255)
    edges = {0, size - 1, min(4095, size - 1), min(4096, size - 1), size // 2}
    marks = sorted(edges | {min(p, size - 1) for p in (62, 63, 64, 4096 + 63)})
    for j, pos in enumerate(marks):
        x[0, pos] = np.nextafter(x[0, pos], np.float32(2))  # one ulp up: off the grid
        x[1, pos] = [np.float32(-0.0), np.float32(np.nan), np.float32(1.5)][j % 3]
    x[1, -1] = np.float32(np.inf)  # (out of range at any size)
    images = x.reshape(2, size, 1, 1)
    for kw in ({}, {"validate": True}):
        reference, compiled = both_ways(images, monkeypatch, **kw)
        assert_same_steps(images, reference, compiled)
        if size > 1000:  # (smaller: value 0, off the grid, is most of the values sampled first)
            assert compiled[0].kind == stepsplit.GRID and compiled[0].res.size == 2 * len(marks)
    assert compiled[0].in_range and not compiled[1].in_range


@pytest.mark.parametrize("share", [0.0, 0.05, 0.45, 0.55, 1.0])
def test_a_step_mostly_off_the_grid_is_stored_as_raw_bits_either_way(monkeypatch, share):
    rng = np.random.default_rng(1)
    x = rng.integers(1, 255, (3, 64, 64, 3)).astype(np.float32) / np.float32(255)
    off = rng.random(x.shape) < share
    x[off] = np.nextafter(x[off], np.float32(2))
    reference, compiled = both_ways(x, monkeypatch, validate=True)
    assert_same_steps(x, reference, compiled)
    want = stepsplit.RAW if share > stepsplit.GRID_SHARE else stepsplit.GRID
    assert [s.kind for s in compiled] == [want] * 3


def test_an_image_mostly_off_the_grid_where_the_sample_is_not_is_stored_as_raw_bits(monkeypatch):
    """The sample of every 61st value says "near the grid", the whole count says otherwise: that
    image alone is raw bits, its neighbours in the batch keep their residuals."""
    rng = np.random.default_rng(7)
    x = rng.integers(1, 255, (4, 30, 30, 3)).astype(np.float32) / np.float32(255)
    flat = x.reshape(4, -1)
    hidden = np.ones(flat.shape[1], bool)
    hidden[:: stepsplit.SAMPLE] = False
    flat[1, hidden] = np.nextafter(flat[1, hidden], np.float32(0.5))
    flat[2, ::97] = np.nextafter(flat[2, ::97], np.float32(2))  # a few off, in range
    flat[3, 5] = np.float32(np.nan)
    for kw in ({}, {"validate": True}):
        reference, compiled = both_ways(x, monkeypatch, **kw)
        assert_same_steps(x, reference, compiled)
        kinds = [s.kind for s in reference]
        assert kinds == [stepsplit.GRID, stepsplit.RAW, stepsplit.GRID, stepsplit.GRID]
        assert [s.in_range for s in reference] == [True, True, True, False]
        assert reference[2].res.size == 2 * len(range(0, flat.shape[1], 97))


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_a_batch_larger_than_the_scratch_is_split_over_several_calls(monkeypatch, rows):
    """Images of every kind on both sides of each call's boundary, the last call shorter."""
    rng = np.random.default_rng(rows)
    x = rng.integers(0, 256, (7, 40, 40, 3)).astype(np.float32) / np.float32(255)
    x[1] = rng.random(x[1].shape, np.float32)  # far off the grid: raw bits
    x[2, 5, 5, 0] = np.float32(np.nan)  # off the grid at one value, out of range
    x[4, ::3] = np.nextafter(x[4, ::3], np.float32(0.5))  # a third off the grid, in [0, 1]
    x[6, 0, 0, 0] = np.float32(-0.0)
    limit = int(stepsplit.GRID_SHARE * x[0].size)
    monkeypatch.setattr(stepsplit, "SPLIT_SCRATCH", rows * 4 * (2 * limit + 2))
    for kw in ({}, {"validate": True}):
        reference, compiled = both_ways(x, monkeypatch, **kw)
        assert_same_steps(x, reference, compiled)
    assert [s.kind for s in compiled] == [stepsplit.GRID, stepsplit.RAW] + [stepsplit.GRID] * 5
    assert [s.in_range for s in compiled] == [True, True, False, True, True, True, True]


def assert_prints_ok(code: str) -> None:
    """Run ``code`` in a fresh Python (Numba not loaded yet, the compiled code allowed); it
    must print "ok"."""
    env = {k: v for k, v in os.environ.items() if k != kernels.DISABLE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_only_a_large_batch_starts_loading_the_compiled_code_in_the_background():
    """A short experiment on small images never imports Numba; a large batch starts loading it
    and is prepared with numpy meanwhile (exactly the same steps)."""
    code = """if True:
        import sys
        import numpy as np
        from animlib import kernels, stepcodec, stepsplit

        rng = np.random.default_rng(0)
        small = rng.integers(0, 256, (16, 32, 32, 1)).astype(np.float32) / np.float32(255)
        stepsplit.prepare_batch(small, validate=True)
        assert "numba" not in sys.modules, "a small batch loaded Numba"
        assert kernels.split_grid(start=False) is None
        big = np.repeat(small, 7, axis=1).repeat(7, axis=2).repeat(3, axis=3)  # 224x224x3
        big[:, ::5] = np.nextafter(big[:, ::5], np.float32(2))
        first = stepsplit.prepare_batch(big, validate=True)
        assert kernels.split_grid(wait=True) is not None, "the large batch did not load it"
        again = stepsplit.prepare_batch(big, validate=True)
        for a, b, x in zip(first, again, big):
            assert a.kind == b.kind == stepsplit.GRID
            assert np.array_equal(a.q, b.q) and np.array_equal(a.res, b.res)
            assert a.image().tobytes() == x.tobytes()
        print("ok")
    """
    assert_prints_ok(code)


def test_without_numba_the_numpy_code_prepares_every_batch():
    code = """if True:
        import sys
        sys.modules["numba"] = None  # as if Numba were not installed: its import fails
        import numpy as np
        from animlib import kernels, stepcodec, stepsplit

        x = np.random.default_rng(1).random((16, 224, 224, 3), dtype=np.float32)
        steps = stepsplit.prepare_batch(x, validate=True)
        assert kernels.split_grid(wait=True) is None
        assert all(s.kind == stepsplit.RAW and s.image().tobytes() == i.tobytes()
                   for s, i in zip(steps, x))
        print("ok")
    """
    assert_prints_ok(code)


def test_a_process_exits_while_the_compiled_code_still_loads(tmp_path):
    """A script ending right after its second render (which starts loading Numba in the
    background) hung at exit (in 1 to 4 of 4 runs) when it held an animation it never saved:
    matplotlib's Animation.__del__ imports while the interpreter finalizes, and the loader,
    frozen mid-import, held the import lock for ever. The exit now waits for the loader."""
    from helpers import write_run

    run_id = write_run(tmp_path, "r", steps=3)
    code = f"""if True:
        import animlib

        run = animlib.open_run({str(tmp_path / run_id)!r})
        anim = animlib.animate(run)  # never saved
        animlib.render(run, {str(tmp_path / "a.mp4")!r})
        animlib.render(run, {str(tmp_path / "b.mp4")!r})  # starts loading Numba
        print("ok")
    """
    env = {k: v for k, v in os.environ.items() if k != kernels.DISABLE_ENV}
    for _ in range(3):
        try:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  env=env, timeout=60)  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail("the process did not exit (it printed its last line)")
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
