"""Figures, animate(), fast rendering and output writers, on tiny runs written via the API."""

from __future__ import annotations

import base64
import html
import itertools
import math
import re
import tracemalloc

import imageio_ffmpeg
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import chunk_file, zstd_zeros  # noqa: E402
from matplotlib.animation import AbstractMovieWriter  # noqa: E402
from PIL import Image  # noqa: E402

import animlib  # noqa: E402
from animlib import movie_writers  # noqa: E402
from animlib.errors import RenderError, RenderOptionError  # noqa: E402
from animlib.figure import CompareFigure, RunFigure  # noqa: E402
from animlib.figure.pixels import shared_amplification  # noqa: E402
from animlib.figure.rundata import choose_classes, top_count  # noqa: E402
from animlib.frames import FrameRenderer, iter_frames  # noqa: E402
from animlib.options import RenderOptions  # noqa: E402
from animlib.rendering import render, render_compare  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)>"
CLASSES = ["cat", "dog", "frog", "ship", "$x^2$ dollar", HOSTILE]


def _probs(step: int, steps: int, k: int) -> np.ndarray:
    t = step / max(steps - 1, 1)
    logits = np.linspace(0.0, -1.0, k)
    logits[0] = 3.0 - 5.0 * t
    logits[1] = 5.0 * t - 1.0
    p = np.exp(logits)
    return (p / p.sum()).astype(np.float32)


def make_run(
    root,
    name="pgd",
    *,
    steps=12,
    shape=(16, 12, 3),
    dtype="float32",
    confidences=True,
    original=True,
    class_names=CLASSES,
    target_label=None,
):
    """Write a small deterministic run (an L-inf-style perturbation that grows) and open it."""
    rng = np.random.default_rng(len(name) + steps)
    h, w, c = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    x0 = np.stack([(np.sin(5 * xx + i) + 1) / 2 * 0.8 + 0.1 * yy for i in range(c)], -1)
    sign = np.sign(rng.standard_normal(shape))

    def as_dtype(x):
        x = np.clip(x, 0, 1)
        return (x * 255 + 0.5).astype(np.uint8) if dtype == "uint8" else x.astype(np.float32)

    k = len(class_names)
    with animlib.RunWriter(
        root,
        name=name,
        attack="PGD",
        model="tiny",
        class_names=list(class_names) if confidences else None,
        true_label=0 if confidences else None,
        target_label=target_label,
        params={"eps": 8 / 255},
        original=as_dtype(x0) if original else None,
    ) as wr:
        for i in range(steps):
            x = x0 + (8 / 255) * sign * (i / max(steps - 1, 1))
            if c == 4:
                x[..., 3] = x0[..., 3]
            wr.log(image=as_dtype(x), confidences=_probs(i, steps, k) if confidences else None)
    return animlib.open_run(root / wr.run_id)


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path, "pgd-eps8")


def mp4_info(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    return meta, frames


class CaptureWriter(AbstractMovieWriter):
    """A matplotlib movie writer that keeps the frames ``Animation.save`` draws."""

    def __init__(self):
        super().__init__(fps=10)
        self.frames = []

    def setup(self, fig, outfile, dpi=None):
        super().setup(fig, outfile, dpi)

    def grab_frame(self, **savefig_kwargs):
        self.fig.canvas.draw()
        self.frames.append(np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy())

    def finish(self):
        pass


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


# ------------------------------------------------------------------------------------------ MP4


@pytest.mark.parametrize(("stride", "expected"), [(1, 12), (5, 4), (11, 2), (12, 2), (20, 2)])
def test_mp4_has_one_frame_per_strided_step_and_the_last_step(run, tmp_path, stride, expected):
    """Steps 0, stride, 2*stride, ... and the last step (11): a stride never drops the final,
    adversarial image."""
    out = render(run, tmp_path / "out" / "run.mp4", fps=8, stride=stride)
    assert out == tmp_path / "out" / "run.mp4" and out.stat().st_size > 0
    meta, frames = mp4_info(out)
    assert frames == expected
    w, h = meta["size"]
    assert (w, h) == FrameRenderer(run).size
    assert w == 1280 and w % 2 == 0 and h % 2 == 0
    assert meta["fps"] == pytest.approx(8)
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == frames
    assert not [p for p in out.parent.iterdir() if p.name != "run.mp4"]  # no temp files left


def test_mp4_metadata_and_dpi_scaling(run, tmp_path):
    out = render(run, tmp_path / "big.mp4", dpi=150, bitrate=800)
    meta, frames = mp4_info(out)
    assert meta["size"][0] == 1920 and frames == len(run)
    assert meta["codec"].startswith("h264")


def test_progress_is_reported(run, tmp_path):
    calls = []
    render(
        run, tmp_path / "p.mp4", stride=2, progress=lambda done, total: calls.append((done, total))
    )
    assert calls[0] == (0, 7) and calls[-1] == (7, 7) and len(calls) == 8  # 0, 2, ..., 10, 11


# ------------------------------------------------------------------------------------- GIF, HTML


def test_gif_frame_count_and_timing(run, tmp_path):
    out = render(run, tmp_path / "run.gif", fps=5, stride=3)
    with Image.open(out) as im:
        assert im.format == "GIF"
        assert im.n_frames == 5  # steps 0, 3, 6, 9 and the last (11)
        assert im.size == FrameRenderer(run).size
        assert im.info["duration"] == 200
        assert im.info.get("loop") == 0


@pytest.mark.parametrize(("fps", "frames"), [(30, 12), (60, 10), (120, 5)])
def test_a_gif_plays_as_long_as_its_fps_says(run, tmp_path, fps, frames):
    """GIF delays are centiseconds and players hold a frame 20 ms at least: 30 fps played
    at 33 fps, 60 and 120 fps both at 50. Delays alternate now, and frames are dropped above
    50 fps (never the last), so the GIF lasts its 12 steps / fps."""
    out = render(run, tmp_path / "run.gif", fps=fps)
    durations = []
    with Image.open(out) as im:
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        assert im.n_frames == frames
    assert min(durations) >= 20 and all(d % 10 == 0 for d in durations)
    assert abs(sum(durations) - 12 * 1000 / fps) <= 20, durations


def test_gif_keeps_a_frame_of_few_colours_exact_and_dithers_only_rich_ones(tmp_path):
    """A flat gray of a digit must not turn into a checkerboard of two other grays."""
    rng = np.random.default_rng(0)
    few = np.repeat(rng.integers(0, 52, (48, 64, 1), dtype=np.uint8) * 5, 3, axis=2)
    few[:8] = 143  # a flat area of a gray that a coarse palette would not hold
    rich = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    w = movie_writers.get_writer("gif")
    w.setup(tmp_path / "x.gif", (64, 48), 10)
    for frame in (few, rich):
        w.grab_frame(frame)
    with Image.open(w.finish()) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), few)
        im.seek(1)
        back = np.asarray(im.convert("RGB")).astype(int)
        assert np.abs(back - rich).mean() < 24  # quantized, but close on average


def test_html_embeds_a_seekable_mp4_and_escapes_strings(tmp_path):
    run = make_run(tmp_path, HOSTILE + " run", class_names=CLASSES)
    out = render(run, tmp_path / "run.html", stride=2)
    text = out.read_text(encoding="utf-8")
    assert "<video" in text and "controls" in text
    m = re.search(r'src="data:video/mp4;base64,([A-Za-z0-9+/=]+)"', text)
    assert m, "no base64 mp4 source"
    video = base64.b64decode(m.group(1))
    assert video[4:8] == b"ftyp"
    (tmp_path / "embedded.mp4").write_bytes(video)
    assert mp4_info(tmp_path / "embedded.mp4")[1] == 7  # steps 0, 2, ..., 10 and 11
    # every string from the run is escaped; no live markup from the run name
    assert HOSTILE not in text
    assert html.escape(HOSTILE) in text
    assert "onerror=alert(1)>" not in text
    assert 'id="prev"' in text and 'id="next"' in text and 'id="readout"' in text


def test_webm_when_offered(run, tmp_path):
    if "webm" not in movie_writers.available_formats():
        pytest.skip("this ffmpeg has no libvpx-vp9")
    out = render(run, tmp_path / "run.webm", stride=4)
    meta, frames = mp4_info(out)
    assert frames == 4 and meta["codec"].startswith("vp9")  # steps 0, 4, 8 and 11


def test_unknown_format_is_a_clear_error(run, tmp_path):
    with pytest.raises(RenderOptionError, match="unsupported output format") as err:
        render(run, tmp_path / "run.avi")
    assert err.value.code == "unsupported" and err.value.field == "format"
    with pytest.raises(RenderOptionError, match="suffix"):
        render(run, tmp_path / "run")


# --------------------------------------------------------------------------------- animate()


def test_animate_to_html5_video_and_jshtml(run):
    anim = animlib.animate(run, fps=5, stride=4)
    try:
        assert isinstance(anim, matplotlib.animation.FuncAnimation)
        assert plt.fignum_exists(anim._fig.number)  # a pyplot figure: plt.show() works
        video = anim.to_html5_video()
        assert "<video" in video and "base64," in video
        js = anim.to_jshtml()
        assert "<script" in js and js.count("data:image/png;base64") == 4  # 0, 4, 8, 11
    finally:
        plt.close(anim._fig)


def test_animate_save_gif_with_pillow_and_mp4(run, tmp_path):
    anim = animlib.animate(run, interval=100, stride=3)
    try:
        anim.save(tmp_path / "a.gif", writer="pillow")
        with Image.open(tmp_path / "a.gif") as im:
            assert im.n_frames == 5  # steps 0, 3, 6, 9 and 11
        anim.save(tmp_path / "a.mp4")
        assert mp4_info(tmp_path / "a.mp4")[1] == 5
    finally:
        plt.close(anim._fig)


def test_animate_rejects_fps_and_interval(run):
    with pytest.raises(RenderOptionError, match="fps or interval"):
        animlib.animate(run, fps=5, interval=100)
    with pytest.raises(RenderOptionError, match="fps or interval"):
        animlib.animate(run, options={"fps": 5}, interval=100)
    with pytest.raises(RenderOptionError, match="interval"):
        animlib.animate(run, interval=0)


def _animate_frames(run_or_runs, **kw):
    anim = animlib.animate(run_or_runs, **kw)
    try:
        cap = CaptureWriter()
        anim.save("unused.null", writer=cap)
        return cap.frames
    finally:
        plt.close(anim._fig)


@pytest.mark.parametrize("stride", [1, 4])
def test_fast_frames_equal_animate_frames(run, stride):
    expected = _animate_frames(run, stride=stride)
    got = list(iter_frames(run, stride=stride))
    assert len(got) == len(expected) == {1: 12, 4: 4}[stride]  # 0, 4, 8 and the last (11)
    assert np.array_equal(got[-1], list(iter_frames(run))[-1])  # the final step is shown
    for a, b in zip(expected, got, strict=True):
        assert a.shape == b.shape
        assert psnr(a, b) >= 35
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))


def test_fast_compare_frames_equal_animate_frames(tmp_path):
    runs = [
        make_run(tmp_path, "long", steps=12),
        make_run(tmp_path, "short", steps=5, original=False, target_label=1),
        make_run(tmp_path, "edit", steps=8, confidences=False),
    ]
    expected = _animate_frames(runs, stride=2)
    got = list(iter_frames(runs, stride=2))
    assert len(got) == len(expected) == 7  # steps 0, 2, ..., 10 and 11 of the longest
    for a, b in zip(expected, got, strict=True):
        assert psnr(a, b) >= 35
        assert np.array_equal(a, b)


def test_renderer_figures_have_no_axes_and_animate_figures_one(run):
    # an Axes costs a render ~5 ms and ~3,000 Python objects: frames drawn by animlib go without
    # it (the tests above check the pixels are those of the animation, which needs it for blit)
    frames = FrameRenderer(run)
    assert frames.fig.axes == []
    assert frames.fig.artists  # the panels' artists are the figure's own
    anim = animlib.animate(run, blit=True)
    try:
        (host,) = anim._fig.axes
        assert all(a.axes is host for a in anim.panels.changed_artists)
    finally:
        plt.close(anim._fig)


def test_changed_only_drawing_equals_full_redraw_in_any_order(run):
    frames = FrameRenderer(run)
    order = [3, 3, 0, 11, 5, 6, 0]
    fast = [frames.frame(i) for i in order]
    for i, got in zip(order, fast, strict=True):
        assert np.array_equal(got, frames.full_frame(i)), f"frame {i}"


@pytest.mark.parametrize("dpi", [30, 40, 50])
def test_changed_only_drawing_equals_full_redraw_at_a_low_dpi(run, dpi):
    """At dpi 30-50 the bars' redraw area reached 3 px into the values, which start 3 % of the
    panel right of a full bar: each bar redraw wiped their left edge ("0.00" read "3.00")."""
    frames = FrameRenderer(run, {"dpi": dpi})
    order = [0, 1, 2, 5, 11, 4]
    fast = [frames.frame(i) for i in order]
    for i, got in zip(order, fast, strict=True):
        assert np.array_equal(got, frames.full_frame(i)), f"frame {i}"


def _full_size_reference(frames, index, images):
    """Frame ``index`` redrawn completely with each row's image panels converted the plain way:
    the whole image through ``to_rgba`` / ``perturbation_rgba``, scaled when drawn."""
    from animlib.figure.pixels import colour_planes, peak_delta, perturbation_rgba, to_rgba

    frames.figure.update(index)
    for row, steps in zip(frames.figure.rows, images, strict=True):
        image, panels = steps[row.step], row.images
        panels.adversarial_image.set_data(to_rgba(image))
        if panels.perturbation_image is not None:
            delta = peak_delta(image, colour_planes(row.data.original))
            panels.perturbation_image.set_data(perturbation_rgba(delta, panels.amplification))
    return frames.full_frame(index)


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_large_images_are_converted_at_panel_size_exactly(tmp_path, dtype):
    """A 512x512 image shown at ~283 px is picked down before conversion: the pixels equal a
    conversion of the whole image (NaN, infinities and values outside [0, 1] included)."""
    run = make_run(tmp_path, f"big-{dtype}", steps=4, shape=(512, 512, 3), dtype=dtype)
    rng = np.random.default_rng(3)
    images = np.asarray(run.images[0:4])
    if dtype == "float32":
        images = images + rng.normal(0, 0.3, images.shape).astype(np.float32)
        images[:, ::7, ::5, 0] = np.nan
        images[:, 3::11, ::3, 1] = np.inf
        images[:, 5::13, 1::4, 2] = -np.inf
    with FrameRenderer(run) as frames:
        frames.figure.rows[0].set_image_source(images.__getitem__)
        panel = frames.figure.rows[0].images.adversarial_image
        assert panel.sampling().shrinks  # the path under test
        order = (1, 3, 0, 2, 2, 0)  # step 0, shown when built, is read again from `images`
        fast = [frames.frame(i) for i in order]
        for i, got in zip(order, fast, strict=True):
            assert np.array_equal(got, frames.full_frame(i)), f"frame {i}"
            assert np.array_equal(got, _full_size_reference(frames, i, [images])), f"frame {i}"


def _varied_run(root, name, steps, dtype, **kw):
    """A 224x224 run whose confidences jump about (many distinct values, the argmax moves)."""
    rng = np.random.default_rng(steps)
    x0 = rng.random((224, 224, 3), np.float32)
    k = len(CLASSES)
    with animlib.RunWriter(
        root, name=name, class_names=CLASSES, true_label=0, original=_as(x0, dtype), **kw
    ) as w:
        for i in range(steps):
            x = np.clip(x0 + rng.normal(0, 0.03, x0.shape).astype(np.float32) * i, 0, 1)
            p = rng.dirichlet(np.full(k, 0.4)).astype(np.float32)
            w.log(image=_as(x, dtype), confidences=p)
    return animlib.open_run(root / w.run_id)


def _as(x, dtype):
    return (x * 255 + 0.5).astype(np.uint8) if dtype == "uint8" else x.astype(np.float32)


@pytest.mark.parametrize("dpi", [60, 100, 150])
def test_six_run_compare_changed_only_equals_full_redraw(tmp_path, dpi):
    """Six rows: images picked down to the panels, a redraw region per value cell, rows whose
    run ended hold their last frame; every frame equals a complete redraw."""
    runs = [
        _varied_run(tmp_path, f"r{i}", steps, "float32" if i % 2 else "uint8")
        for i, steps in enumerate((9, 9, 7, 5, 3, 2))
    ]
    with FrameRenderer(runs, RenderOptions(dpi=dpi)) as frames:
        rows = frames.figure.rows
        assert len(frames) == 9 and frames.size[1] > frames.size[0]
        shrinks = [row.images.adversarial_image.sampling().shrinks for row in rows]
        assert all(shrinks) if dpi <= 100 else not any(shrinks)
        if dpi >= 100:
            assert all(len(row.bars.value_regions) == len(row.bars.values) for row in rows)
        order = [*range(9), 4, 0, 8, 8, 2]
        fast = [frames.frame(i) for i in order]
        for i, got in zip(order, fast, strict=True):
            assert np.array_equal(got, frames.full_frame(i)), f"frame {i}"


def test_the_reader_prefetches_in_order_and_copes_with_jumps(tmp_path):
    from animlib.frames import BlockReader

    run = make_run(tmp_path, "blocks", steps=30, shape=(300, 300, 3))  # a step per chunk
    want = np.asarray(run.images[0:30])
    reader = BlockReader(run, 1, prefetch=True)
    assert reader.block < 30
    for step in [*range(30), 3, 29, 0, 17, 16, 15]:
        assert np.array_equal(reader(step), want[step])
    reader.close()
    assert np.array_equal(reader(5), want[5])  # reading after close works (and restarts)
    reader.close()


class _StoredImages:
    """A run-like holder of an ``images`` array written by zarr with the given compressors."""

    def __init__(self, folder, data, chunk, compressors):
        import zarr

        from animlib.store import open_store

        arr = zarr.create_array(
            store=str(folder),
            name="images",
            shape=data.shape,
            chunks=(chunk, *data.shape[1:]),
            dtype=data.dtype,
            compressors=compressors,
        )
        arr[:] = data
        self.store = open_store(str(folder))


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("zstd", [True, False])
def test_plain_chunks_are_read_straight_and_anything_else_is_left_to_zarr(tmp_path, dtype, zstd):
    from zarr.codecs import GzipCodec, ZstdCodec

    from animlib.chunk_reader import ChunkReader

    scale = 200 if dtype == "uint8" else 1  # (float pixels are in [0, 1]: others are refused)
    data = (np.random.default_rng(0).random((7, 9, 5, 3)) * scale).astype(dtype)
    plain = _StoredImages(tmp_path / "plain", data, 3, [ZstdCodec()] if zstd else None)
    assert ChunkReader.of(plain) is None  # not a stored Run: its steps may be anything
    reader = ChunkReader.at(plain.store)
    assert reader is not None and reader.steps_per_chunk == 3
    got = reader.steps(0, 7, range(7))
    assert all(np.array_equal(got[i], data[i]) for i in range(7))
    assert reader.steps(3, 6, range(4, 6, 2)).keys() == {4}
    # a chunk that is missing or does not decode: None, so the caller reads through zarr
    chunk = chunk_file(tmp_path / "plain", "images", 1)
    good = chunk.read_bytes()
    chunk.write_bytes(good[:-5])
    assert reader.read(1) is None and reader.steps(0, 7, range(7)) is None
    if zstd:  # a frame claiming 1 GB (or a file far larger than a chunk) is never inflated
        for bad in (zstd_zeros(10**9), good + bytes(len(good) + 8192)):
            chunk.write_bytes(bad)
            tracemalloc.start()
            try:
                assert reader.read(1) is None
                assert tracemalloc.get_traced_memory()[1] < len(bad) + 2**20
            finally:
                tracemalloc.stop()
    chunk.unlink()
    assert reader.read(1) is None and np.array_equal(reader.read(2)[0], data[6])
    other = _StoredImages(tmp_path / "gzip", data, 3, [GzipCodec()])
    assert ChunkReader.at(other.store) is None
    if dtype == "float32":  # damaged float pixels: refused for the steps holding them only
        data[4, 1, 2, 0] = np.nan
        damaged = ChunkReader.at(_StoredImages(tmp_path / "nan", data, 3, None).store)
        assert damaged.steps(3, 6, [3, 5]).keys() == {3, 5}
        with pytest.raises(animlib.RunFormatError, match="contains NaN/inf at step 4"):
            damaged.steps(3, 6, [4])


# ------------------------------------------------------------------------------ panel variants


def _axes_count(fig_obj):
    return len(fig_obj.rows[0].boxes)


def test_runs_without_confidences_or_original_get_fewer_panels(tmp_path):
    full = make_run(tmp_path, "full")
    no_conf = make_run(tmp_path, "edit", confidences=False)
    no_orig = make_run(tmp_path, "noorig", original=False)
    panels = {r.id: set(RunFigure(r).rows[0].boxes) - {"header"} for r in (full, no_conf, no_orig)}
    assert panels[full.id] == {"original", "adversarial", "perturbation", "bars"}
    assert panels[no_conf.id] == {"original", "adversarial", "perturbation"}
    assert panels[no_orig.id] == {"adversarial", "bars"}
    for r in (no_conf, no_orig):
        out = render(r, tmp_path / f"{r.id}.mp4")
        assert mp4_info(out)[1] == len(r)
    bare = make_run(tmp_path, "blur", confidences=False, original=False)  # nothing attacked
    titles = {
        r.id: RunFigure(r).rows[0].images.titles["adversarial"].get_text()
        for r in (full, no_orig, bare, no_conf)
    }
    # an edit (no classifier) with an original was "adversarial" too
    expected = {full.id: "adversarial", no_orig.id: "adversarial", bare.id: "image"}
    assert titles == {**expected, no_conf.id: "edited"}


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((16, 16, 1), "uint8"),
        ((16, 16, 1), "float32"),
        ((20, 14, 4), "float32"),
        ((9, 9, 3), "uint8"),
    ],
)
def test_gray_rgba_and_uint8_runs_render(tmp_path, shape, dtype):
    r = make_run(tmp_path, f"img-{shape[2]}-{dtype}", shape=shape, dtype=dtype)
    frames = list(iter_frames(r))
    assert len(frames) == len(r)
    assert frames[0].dtype == np.uint8 and frames[0].shape[2] == 3
    assert frames[0].shape[0] % 2 == 0 and frames[0].shape[1] % 2 == 0
    assert not np.array_equal(frames[0], frames[-1])
    out = render(r, tmp_path / "x.mp4", stride=6)
    assert mp4_info(out)[1] == 3  # steps 0, 6 and 11


def test_gray_panel_shows_gray_pixels(tmp_path):
    r = make_run(tmp_path, "gray", shape=(8, 8, 1), dtype="uint8")
    fig = RunFigure(r)
    im = fig.rows[0].images.adversarial_image.get_array()
    assert im.shape == (8, 8, 4)
    assert np.array_equal(im[..., 0], im[..., 1]) and np.array_equal(im[..., 1], im[..., 2])


def test_class_set_is_fixed_and_includes_true_and_target(tmp_path):
    names = [f"c{i}" for i in range(30)]
    r = make_run(tmp_path, "many", class_names=names, target_label=29)
    fig = RunFigure(r, RenderOptions(top_k=5))
    row = fig.rows[0]
    before = list(row.classes)
    assert before[0] == 0 and before[1] == 29 and len(before) <= 7
    fig.update(len(r) - 1)
    assert row.classes == before
    labels = [t.get_text() for t in row.bars.class_labels]
    assert labels[:2] == ["c0", "c29"]


def test_the_bars_always_show_the_class_each_step_predicts(tmp_path):
    """K=100, top 10 by peak: an attack wandering through 24 classes ended on n23 (83.5% in
    the header) while the bars showed n00..n09 at 0.00, none outlined as the argmax."""
    names = [f"n{i:02d}" for i in range(100)]
    with animlib.RunWriter(tmp_path, name="wander", class_names=names, true_label=0) as w:
        for step in range(24):
            p = np.full(100, 0.1 / 99, np.float32)
            p[step] = 0.9 if step < 23 else 0.84
            w.log(image=np.zeros((8, 8, 3), np.float32), confidences=p / p.sum())
    run = animlib.open_run(tmp_path / "wander")
    fig = RunFigure(run, RenderOptions(top_k=10))
    bars = fig.rows[0].bars
    assert set(range(24)) <= set(bars.classes)  # every step's argmax has a bar
    assert "top 24 of 100" in bars.title.get_text()
    fig.update(23)
    assert [t.get_text() for t in bars.class_labels][bars.classes.index(23)] == "n23"
    conf = np.asarray(run.confidences)  # room for 5 bars: the final prediction keeps its bar
    chosen = choose_classes(conf, top_count(conf, 3, 0, None, rows=5), 0, None)
    assert len(chosen) == 5 and chosen[0] == 0 and chosen[-1] == 23  # (by peak: 23's is lowest)


def test_the_legend_names_only_the_classes_the_run_has(tmp_path):
    """A run without a true label had "true" in its bars' legend (as if a bar were true)."""
    from matplotlib.text import Text

    def legend(run) -> list[str]:
        texts = {t.get_text() for t in RunFigure(run).fig.findobj(Text)}
        return [word for word in ("true", "target", "argmax") if word in texts]

    names = [f"c{i}" for i in range(4)]
    assert legend(make_run(tmp_path, "labelled", class_names=names)) == ["true", "argmax"]
    targeted = make_run(tmp_path, "targeted", class_names=names, target_label=3)
    assert legend(targeted) == ["true", "target", "argmax"]
    with animlib.RunWriter(tmp_path, name="unlabelled") as w:  # no class names, no labels
        for i in range(3):
            w.log(image=np.zeros((8, 8, 3), np.float32), confidences=_probs(i, 3, 4))
    assert legend(animlib.open_run(tmp_path / "unlabelled")) == ["argmax"]


def test_the_bar_title_says_how_many_classes_it_shows(tmp_path):
    few = make_run(tmp_path, "few")  # every class has a bar: no "top 10" over 3 bars
    assert RunFigure(few).rows[0].bars.title.get_text() == "confidence"
    names = [f"c{i}" for i in range(30)]
    many = make_run(tmp_path, "many", class_names=names, target_label=29)
    bars = RunFigure(many, RenderOptions(top_k=5)).rows[0].bars
    assert bars.title.get_text() == "confidence (top 5 of 30)"


def test_the_bars_keep_to_the_rows_their_names_fit_in(tmp_path):
    """At 720 px, top_k=40 of 40 classes drew the class names over each other."""
    names = [f"class number {i}" for i in range(40)]
    r = make_run(tmp_path, "forty", class_names=names, target_label=39)
    fig = RunFigure(r, RenderOptions(top_k=40, width_px=720))
    bars = fig.rows[0].bars
    fig.fig.canvas.draw()
    renderer = fig.fig.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in bars.class_labels), key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 + 1 for a, b in itertools.pairwise(boxes))  # no two names overlap
    shown = len(bars.class_labels)
    assert 5 <= shown < 40 and bars.classes[:2] == [0, 39]  # true and target keep theirs
    # the true class 0 is the top one here, the target 39 no top one: all but it are the top
    assert bars.title.get_text() == f"top {shown - 1} of 40"  # no room for "confidence (...)"
    few = RunFigure(r, RenderOptions(top_k=5, width_px=720)).rows[0].bars  # fits: as asked
    assert few.classes == [0, 39, 1, 2, 3, 4] and few.title.get_text().endswith("top 5 of 40")


def test_the_bars_keep_one_top_class_however_little_room():
    from animlib.figure.rundata import top_count

    conf = np.tile(np.linspace(0.0, 1.0, 1000), (3, 1))
    assert top_count(conf, 40, 0, 1, rows=1) == 1  # (it said "top 0 of 1,000")
    assert top_count(conf, 40, 0, 1, rows=10) == 8 and top_count(conf, 5, None, None) == 5


def _left_edges(fig, bars) -> tuple[float, float]:
    """Left pixel edge of the bar title and of the widest class label, as drawn."""
    fig.fig.canvas.draw()
    renderer = fig.fig.canvas.get_renderer()
    labels = min(t.get_window_extent(renderer).x0 for t in bars.class_labels)
    return bars.title.get_window_extent(renderer).x0, labels


def test_the_bar_title_starts_over_the_class_names(tmp_path):
    # short names: over the names, not far left over the empty part of their column
    digits = make_run(tmp_path, "digits", class_names=[str(i) for i in range(10)])
    fig = RunFigure(digits)
    title, labels = _left_edges(fig, fig.rows[0].bars)
    assert abs(title - labels) <= 2.0
    # long names: over the widest one
    names = [f"a rather long class name {i}" for i in range(10)]
    fig = RunFigure(make_run(tmp_path, "long", class_names=names))
    title, labels = _left_edges(fig, fig.rows[0].bars)
    assert abs(title - labels) <= 2.0
    # a title longer than the room beside short names reaches further left, whole
    many = make_run(tmp_path, "many", class_names=[str(i) for i in range(1000)])
    fig = RunFigure(many, RenderOptions(top_k=3))
    bars = fig.rows[0].bars
    title, labels = _left_edges(fig, bars)
    assert bars.title.get_text() == "confidence (top 3 of 1,000)"
    assert title <= labels


def test_hostile_strings_are_literal_in_figures(tmp_path):
    r = make_run(tmp_path, "$\\alpha$ " + HOSTILE)
    row = RunFigure(r).rows[0]
    labels = [t.get_text() for t in row.bars.class_labels]
    assert any("$x^2$" in lab for lab in labels)
    assert all(not t.get_parse_math() for t in row.bars.class_labels)
    texts = [t.get_text() for t in row.header.texts]
    assert any("$\\alpha$" in t for t in texts)
    assert all(not t.get_parse_math() for t in row.header.texts)
    list(iter_frames(r, stride=6))  # draws without mathtext errors


def test_amplification_label_and_override(run):
    auto = RunFigure(run).rows[0]
    assert auto.amplification == pytest.approx(31, rel=0.05)  # 1 / (8/255), 2 digits
    assert "×31" in auto.images.titles["perturbation"].get_text()
    fixed = RunFigure(run, RenderOptions(amplification=10)).rows[0]
    assert fixed.amplification == 10
    assert "×10" in fixed.images.titles["perturbation"].get_text()
    # the colour range, not the attack's budget (a reader quoted "±0.1" as the eps)
    assert fixed.images.titles["perturbation"].get_text().endswith("(colours ±0.1)")


# ---------------------------------------------------------------------------------- comparison


def test_render_compare_uses_the_longest_run(tmp_path):
    runs = [make_run(tmp_path, "a", steps=12), make_run(tmp_path, "b", steps=5)]
    out = render_compare(runs, tmp_path / "cmp.mp4", stride=1)
    meta, frames = mp4_info(out)
    assert frames == 12
    fig = CompareFigure(runs)
    assert meta["size"] == fig.size_px and meta["size"][1] > RunFigure(runs[0]).size_px[1]
    fig.update(11)  # the short run holds its last step
    assert fig.rows[1].step == 4


def test_compared_perturbations_share_one_amplification(tmp_path):
    """Each row chose its own gain (x120 beside x500): the perturbations of two attacks could
    not be compared. One gain, the smallest (the largest perturbation fills the colours)."""
    x0 = np.full((8, 8, 3), 0.5, np.float32)

    def attack(name, eps):
        with animlib.RunWriter(tmp_path, name=name, original=x0) as w:
            for i in range(3):
                w.log(image=x0 + eps * i / 2 * np.sign(np.sin(np.arange(192))).reshape(8, 8, 3))
        return animlib.open_run(tmp_path / name)

    big, small = attack("big", 0.1), attack("small", 0.01)
    alone = [RunFigure(r).rows[0].amplification for r in (big, small)]
    assert alone == [pytest.approx(10, rel=0.1), pytest.approx(100, rel=0.1)]
    fig = CompareFigure([big, small])
    assert [row.amplification for row in fig.rows] == [alone[0], alone[0]]
    given = CompareFigure([big, small], RenderOptions(amplification=7.0))
    assert [row.amplification for row in given.rows] == [7.0, 7.0]
    plain = make_run(tmp_path, "plain", steps=3, original=False)  # no perturbation panel
    assert [r.amplification for r in CompareFigure([plain, small]).rows] == [None, alone[1]]


def test_a_compared_run_without_perturbation_does_not_blank_the_others(tmp_path):
    """A compared run whose last image equals its original (one step, an eps=0 baseline) made
    the shared gain x1: every other row's perturbation panel came out almost white."""
    x0 = np.full((8, 8, 3), 0.5, np.float32)
    sign = np.sign(np.sin(np.arange(192))).reshape(8, 8, 3).astype(np.float32)
    with animlib.RunWriter(tmp_path, name="attack", original=x0) as w:
        for i in range(3):
            w.log(image=x0 + 0.01 * i * sign)
    with animlib.RunWriter(tmp_path, name="baseline", original=x0) as w:
        w.log(image=x0)
    attack, baseline = (animlib.open_run(tmp_path / n) for n in ("attack", "baseline"))
    alone = RunFigure(attack).rows[0].amplification
    assert alone == pytest.approx(50, rel=0.1)
    assert shared_amplification([attack, baseline]) == alone
    assert [r.amplification for r in CompareFigure([baseline, attack]).rows] == [alone, alone]
    assert shared_amplification([baseline, baseline]) == 1.0  # nothing to show: x1


def test_render_compare_needs_two_to_six_runs(tmp_path, run):
    with pytest.raises(ValueError, match="2 to 6"):
        render_compare([run], tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="2 to 6"):
        render_compare([run] * 7, tmp_path / "x.mp4")


# ----------------------------------------------------------------------------------- writers


def test_a_failed_render_leaves_no_file(tmp_path, run):
    class Broken:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def __len__(self):
            return len(self._inner)

        @property
        def images(self):
            inner = self._inner.images

            class Images:
                def __len__(self):
                    return len(inner)

                def __getitem__(self, i):
                    if i >= 6:
                        raise OSError("disk went away")
                    return inner[i]

            return Images()

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(OSError, match="disk went away"):
        render(Broken(run), out_dir / "x.mp4", amplification=4)
    assert list(out_dir.iterdir()) == []


def test_adding_a_format_is_one_small_class(tmp_path, run):
    @movie_writers.register_writer
    class NpyWriter(movie_writers.MovieWriter):
        name = "npyframes"
        suffixes = (".npyframes",)

        def _open(self):
            self.frames = []

        def _write(self, rgb):
            self.frames.append(rgb[..., :3].copy())

        def _close(self):
            with open(self.tmp_path, "wb") as fh:
                np.save(fh, np.stack(self.frames), allow_pickle=False)

    try:
        out = render(run, tmp_path / "f.npyframes", stride=4)
        arr = np.load(out, allow_pickle=False)
        assert arr.shape[0] == 4 and arr.shape[3] == 3  # steps 0, 4, 8 and 11
    finally:
        movie_writers.unregister_writer(NpyWriter)
    assert "npyframes" not in movie_writers.available_formats()


def test_writer_checks_frames(tmp_path):
    w = movie_writers.get_writer("mp4")
    w.setup(tmp_path / "x.mp4", (64, 48), 10)
    with pytest.raises(RenderError, match="expected a"):
        w.grab_frame(np.zeros((10, 10, 3), np.uint8))
    w.grab_frame(np.zeros((48, 64, 3), np.uint8))
    w.grab_frame(np.full((48, 64, 3), 200, np.uint8))
    assert w.finish() == tmp_path / "x.mp4"
    assert mp4_info(tmp_path / "x.mp4")[1] == 2
    assert "mp4" in movie_writers.available_formats() and "gif" in movie_writers.available_formats()


def test_animate_with_blit_and_a_given_figure(run):
    fig = plt.figure()
    anim = animlib.animate(run, blit=True, fig=fig, stride=6)
    try:
        assert anim._fig is fig
        w, h = fig.get_size_inches() * fig.dpi
        assert (int(w), int(h)) == RunFigure(run).size_px
        assert "<video" in anim.to_html5_video()
    finally:
        plt.close(fig)


def test_bad_options_and_limits_are_clear_errors(run, tmp_path):
    with pytest.raises(RenderOptionError, match="stride"):
        RenderOptions(stride=0)
    with pytest.raises(RenderOptionError, match="amplification"):
        RenderOptions(amplification=float("nan"))
    assert RenderOptions(dpi=np.float32(72), top_k=np.int64(3)).top_k == 3
    with pytest.raises(animlib.RenderLimitError, match="dpi"):
        render(run, tmp_path / "x.mp4", dpi=999)
    assert not list(tmp_path.glob("*.mp4"))


def test_render_cache_key_follows_content_and_options(tmp_path):
    from animlib.cache import render_key
    from animlib.options import RenderOptions as O

    a = make_run(tmp_path, "a")
    b = make_run(tmp_path, "b")
    key = render_key([a], "mp4", O(fps=10, stride=1))
    reopened = animlib.open_run(tmp_path / a.id)
    assert key == render_key([reopened], "mp4", O.of({"stride": 1, "fps": 10}))
    assert key == render_key(reopened, ".MP4", O())  # defaults are the same options
    assert key != render_key([a], "mp4", O(fps=12, stride=1))
    assert key != render_key([a], "gif", O(fps=10, stride=1))
    assert key != render_key([b], "mp4", O(fps=10, stride=1))
    from animlib.cache import keys

    live = keys.live_key([a], "mp4", O())
    with pytest.MonkeyPatch.context() as m:  # a change in how frames are drawn: new keys
        m.setattr(keys, "LOOK", keys.LOOK + 1)
        assert key != render_key([a], "mp4", O(fps=10, stride=1))
        assert keys.live_key([a], "mp4", O()) != live


def test_long_class_names_cut_alike_lead_with_their_class_number(tmp_path):
    """Names that differ only in their middle were cut to the same bar label
    ("class_0…ng_name" for classes 420 and 421): two bars read as one class."""
    names = [f"class_{i:04d}_with_a_really_quite_long_name" for i in range(30)]
    names[7] = names[8] = "twice"  # (the user's own duplicate)
    run = make_run(tmp_path, "long", class_names=names, target_label=29)
    bars = RunFigure(run, RenderOptions(top_k=10)).rows[0].bars
    labels = [t.get_text() for t in bars.class_labels]
    assert len(set(labels)) == len(labels), labels
    cut = [t for t in labels if "…" in t]
    assert cut and all(re.match(r"\d+: ", t) for t in cut), labels
    short = make_run(tmp_path, "short", class_names=[f"c{i}" for i in range(4)])
    assert [t.get_text() for t in RunFigure(short).rows[0].bars.class_labels][:1] == ["c0"]
