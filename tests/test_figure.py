"""The figure package: rows built from public pieces, redraw regions, the prediction status line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import write_run  # noqa: E402

import animlib  # noqa: E402
from animlib.errors import Code, RunFormatError  # noqa: E402
from animlib.figure import RedrawRegion, RunFigure, make_figure  # noqa: E402
from animlib.frames import FrameRenderer  # noqa: E402
from animlib.options import RenderOptions  # noqa: E402


class MemoryRun:
    """A run held in memory: anything with the ``RunLike`` attributes can be drawn."""

    def __init__(self, images, confidences=None, original=None, class_names=None, **labels):
        self.id = self.name = labels.pop("name", "memory")
        self.attack = self.model = None
        self.images = np.asarray(images)
        self.image_shape = self.images.shape[1:]
        self.confidences = confidences
        self.original = original
        self.class_names = class_names
        self.true_label = labels.get("true_label")
        self.target_label = labels.get("target_label")

    def __len__(self):
        return len(self.images)


def _many_classes(root, pattern: str, steps: int = 3):
    """A 1,000-class run whose prediction moves to class 500 after the first step."""
    names = [pattern.format(i=i) for i in range(1000)]
    with animlib.RunWriter(root, name="imagenet-like", class_names=names, true_label=3) as w:
        for i in range(steps):
            p = np.full(1000, 0.1 / 999, np.float32)
            p[500 if i else 3] = 0.9
            w.log(image=np.full((32, 32, 3), 0.5, np.float32), confidences=p / p.sum())
    return animlib.open_run(root / w.run_id), names


@pytest.mark.parametrize("pattern", ["class number {i}", "ILSVRC synset of class number {i}"])
@pytest.mark.parametrize(
    ("dpi", "width_px"), [(100, 1280), (50, 1280), (37, 1280), (150, 1280), (100, 720), (72, 720)]
)
def test_a_cut_class_name_never_reads_as_another_class(tmp_path, pattern, dpi, width_px):
    """Issue 10, point 9: class 500 of "class number {i}" was shown as "class number 5"."""
    run, names = _many_classes(tmp_path, pattern)
    frames = FrameRenderer(run, RenderOptions(dpi=dpi, width_px=width_px))
    frames.frame(2)
    status = frames.figure.rows[0].status
    text = status.prediction_text.get_text()
    name, pct = text.rsplit(" (", 1)
    assert pct == "90.0%)"
    if name != names[500]:  # cut: numbered, an ellipsis between the real name's start and end
        assert name.startswith("500: "), text
        head, tail = name.removeprefix("500: ").split("…")
        assert names[500].startswith(head) and names[500].endswith(tail), text
        assert 4 <= len(head) + len(tail) < len(names[500])  # (never "…" alone)
    assert name not in set(names) - {names[500]}
    # the whole text is drawn: inside its redraw region and inside the frame
    extent = status.prediction_text.get_window_extent()
    x0, _, x1, _ = status.prediction_region.region()
    assert x0 <= extent.x0 and extent.x1 <= min(x1, frames.size[0]), (text, extent, x1)


def test_the_full_name_is_shown_when_it_fits(tmp_path):
    run, names = _many_classes(tmp_path, "class number {i}")
    fig = RunFigure(run)
    fig.update(2)
    assert fig.rows[0].status.prediction_text.get_text() == "class number 500 (90.0%)"


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@pytest.mark.parametrize("name", ["cat 猫", "dog 🐶 b", "猫", "נמר x", "a\u00a0ø 🐶"])
def test_class_names_with_characters_the_font_lacks_render(tmp_path, name):
    """A character the font lacks, alone between spaces, was measured with ``load_char``, which
    raised "No glyphs have been loaded": every render of such a run failed. It is drawn as the
    fallback draws it (a box), and measured as drawn."""
    from animlib.figure.textmetrics import advance, readout_width

    names = [f"c{i}" for i in range(10)]
    names[1] = name
    with animlib.RunWriter(tmp_path, name="m", class_names=names, true_label=1) as w:
        for _ in range(3):
            c = np.full(10, 0.05, np.float32)
            c[1] = 0.55
            w.log(image=np.zeros((8, 8, 3), np.uint8), confidences=c)
    run = animlib.open_run(tmp_path / w.run_id)
    out = animlib.render(run, tmp_path / "m.mp4")
    assert out.stat().st_size > 0
    frames = FrameRenderer(run)
    frames.frame(2)
    status = frames.figure.rows[0].status
    assert status.prediction_text.get_text() == f"{name} (55.0%)"
    assert advance("猫", 10.0, "normal", 100.0) > 0 and readout_width(name, 10.0, "bold", 100.0) > 0


def test_every_piece_of_a_row_is_defined_and_owns_its_regions(tmp_path):
    root = tmp_path / "runs"
    full = animlib.open_run(root / write_run(root, "full"))
    no_conf = animlib.open_run(root / write_run(root, "edit", confidences=False))
    no_orig = animlib.open_run(root / write_run(root, "plain", original=False))
    for run in (full, no_conf, no_orig):
        row = RunFigure(run).rows[0]
        images = row.images
        assert images.adversarial_image is not None and images.adversarial_region is not None
        assert (images.original_image is None) == (run is no_orig)
        assert (images.perturbation_image is None) == (run is no_orig)
        assert (images.amplification is None) == (run is no_orig)
        assert (row.bars is None) == (run is no_conf)
        assert (row.status.prediction_text is None) == (run is no_conf)
        assert all(isinstance(r, RedrawRegion) for r in row.regions)
        owned = [a for region in row.regions for a in region.artists]
        assert len(owned) == len(set(owned)) == len(row.changed_artists)  # one owner each
        for region in row.regions:
            x0, y0, x1, y1 = region.region()
            assert x0 < x1 and y0 < y1


def test_a_row_marks_only_what_changed():
    steps, k = 4, 3
    conf = np.tile(np.array([0.7, 0.2, 0.1], np.float32), (steps, 1))
    images = np.zeros((steps, 8, 8, 3), np.float32)
    run = MemoryRun(images, conf, images[0], ["a", "b", "c"], true_label=0)
    figure = make_figure(run)
    row = figure.rows[0]
    for region in figure.regions:
        region.dirty = False
    figure.update(1)  # same confidences, new step number, new image
    dirty = {id(r) for r in figure.regions if r.dirty}
    assert id(row.status.step_region) in dirty and id(row.images.adversarial_region) in dirty
    assert id(row.status.prediction_region) not in dirty
    assert row.bars is not None and id(row.bars.bars_region) not in dirty
    assert k == len(row.classes)


def test_an_image_source_replaces_the_run_reads_and_can_be_reset():
    images = np.random.default_rng(0).random((3, 8, 8, 3), dtype=np.float32)
    row = make_figure(MemoryRun(images)).rows[0]
    seen = []
    row.set_image_source(lambda step: seen.append(step) or images[step])
    row.update(2)
    assert seen == [2]
    row.set_image_source(None)
    row.update(1)
    assert seen == [2]
    assert row.step == 1


def test_a_run_without_steps_is_an_empty_run_error():
    run = MemoryRun(np.zeros((0, 8, 8, 3), np.float32), name="nothing")
    builds = (lambda: RunFigure(run), lambda: make_figure([run, run]), lambda: FrameRenderer(run))
    for build in builds:
        with pytest.raises(RunFormatError) as err:
            build()
        assert err.value.code == Code.EMPTY and err.value.run == "nothing"


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_a_figure_saves_with_renderers_other_than_agg(tmp_path, fmt):
    """The lean artists (PixelImage, Readout, BarSet) draw on vector backends too, through the
    plain drawing paths rather than the Agg shortcuts (an image and paths in the SVG)."""
    rng = np.random.default_rng(0)
    images = rng.random((4, 8, 8, 3)).astype(np.float32)
    conf = np.tile(np.array([[0.7, 0.2, 0.1]], np.float32), (4, 1))
    run = MemoryRun(images, conf, images[0], ["cat", "dog", "emu"], true_label=0)
    figure = RunFigure(run)
    figure.update(2)
    out = tmp_path / f"frame.{fmt}"
    figure.fig.savefig(out)
    data = out.read_bytes()
    assert len(data) > 1000
    if fmt == "svg":
        assert b"<image" in data and b"path" in data


@pytest.mark.parametrize(
    "rows, cols", [(slice(None, None, -2), slice(1, None, 2)), (slice(None, None, -1), slice(None))]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_step_pixels_of_a_strided_sampling_equal_those_of_its_copy(dtype, channels, rows, cols):
    """StepImages gathers a strided sampling (every other pixel, rows reversed, as a zoom of
    1/2 draws them) before converting it: the same pixels as converting a contiguous copy."""
    from animlib.figure.pixels import StepImages, colour_planes

    rng = np.random.default_rng(channels)
    image = rng.uniform(-0.2, 1.2, (40, 30, channels))
    image[3, 4, 0] = np.nan
    if dtype == np.uint8:
        image = np.clip(image * 255, 0, 255)
    image = np.nan_to_num(image).astype(dtype) if dtype == np.uint8 else image.astype(dtype)
    view = image[rows, cols]
    orig = colour_planes(image)[rows, cols].copy()
    got, want = StepImages(), StepImages()
    a, b = got.prepare(view), want.prepare(np.ascontiguousarray(view))
    assert np.array_equal(a, b, equal_nan=False)
    assert np.array_equal(got.rgba(a), want.rgba(b))
    assert np.array_equal(got.perturbation(a, 8.0, orig), want.perturbation(b, 8.0, orig))
    again = image[rows, cols] * 0 if dtype == np.uint8 else image[rows, cols] * 0.5
    assert np.array_equal(got.rgba(got.prepare(again)), want.rgba(want.prepare(again.copy())))


@pytest.mark.parametrize(
    "source,room,drawn",
    [
        ((224, 224), (227, 227), (224, 224)),  # 1:1, not 3 rows and columns doubled
        ((28, 28), (227, 227), (224, 224)),  # 8x
        ((100, 100), (227, 227), (200, 200)),  # 2x: 88 % of the room
        ((130, 130), (227, 227), (227, 227)),  # 1x would be 57 %: zoomed to fit
        ((32, 32), (256.0000001, 255.9999999), (256, 256)),  # float room: still 8x
        ((300, 300), (227, 227), (227, 227)),  # shrunk: picked down to fit
        ((28, 56), (227, 227), (112, 224)),  # aspect kept
    ],
)
def test_an_enlarged_image_is_drawn_at_a_whole_zoom_when_that_nearly_fills_its_panel(
    source, room, drawn
):
    from animlib.figure.artists import zoom

    z = zoom(source, room)
    assert (round(source[0] * z), round(source[1] * z)) == drawn


def test_every_source_pixel_is_the_same_square_of_drawn_pixels(tmp_path):
    """A 28x28 image in a panel of about 227 pixels: each pixel an 8x8 square in the frame."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 28, 28, 3)).astype(np.uint8)
    with animlib.RunWriter(tmp_path, name="z", original=images[0]) as w:
        for image in images:
            w.log(image=image)
    run = animlib.open_run(tmp_path / w.run_id)
    with FrameRenderer(run) as frames:
        x, y, ow, oh = frames.figure.rows[0].images.adversarial_image.placement()
        height = frames.size[1]
        for i in range(len(frames)):
            frame = frames.frame(i)
            k = ow // 28
            assert (ow, oh) == (28 * k, 28 * k) and k >= 2
            top = height - (y + oh)
            shown = frame[top : top + oh, x : x + ow]
            assert np.array_equal(shown, images[i].repeat(k, 0).repeat(k, 1)), f"frame {i}"


def test_class_names_sharing_a_long_start_stay_told_apart_and_the_target_stays(tmp_path):
    """Names that differ only at their end all read "a-long-common…" in the bars, and the
    header, cut as one line at its end, dropped "target:" (a targeted run read as untargeted)."""
    names = [f"a-long-common-prefix-shared-by-every-class-of-this-set-{v}" for v in
             ("alpha", "beta", "gamma", "delta", "epsilon")]  # fmt: skip
    with animlib.RunWriter(tmp_path, name="r", attack="PGD", model="resnet", class_names=names,
                           true_label=0, target_label=1) as w:  # fmt: skip
        for i in range(3):
            p = np.linspace(1, 2, 5)
            p[1] += i
            w.log(image=np.full((16, 16, 3), 0.5, np.float32), confidences=p / p.sum())
    fig = RunFigure(animlib.open_run(tmp_path / "r"))
    fig.update(2)
    row = fig.rows[0]
    labels = [t.get_text() for t in row.bars.class_labels]
    assert len(set(labels)) == 5 and all("…" in t for t in labels)
    assert sorted(t.rsplit("-", 1)[1] for t in labels) == sorted(n.rsplit("-", 1)[1] for n in names)
    header = row.header.texts[1].get_text()
    assert "true: a-long" in header and "target: a-long" in header and header.endswith("-beta")
    assert row.status.prediction_text.get_text().endswith("-beta (34.2%)")


def test_classes_sharing_a_name_or_a_cut_are_told_apart_in_the_header(tmp_path):
    """ImageNet's two cranes read "true: crane · target: crane ... pred: crane" in the video
    header (only the bars numbered them), and a predicted name cut in its middle read as any
    class whose name differs there ("pred: Staffordshi…name here")."""
    names = ["crane", "heron", "crane"]
    with animlib.RunWriter(tmp_path, name="r", attack="PGD", class_names=names,
                           true_label=0, target_label=2) as w:  # fmt: skip
        for p in ([0.8, 0.1, 0.1], [0.1, 0.1, 0.8]):
            w.log(image=np.full((16, 16, 3), 0.5, np.float32), confidences=p)
    fig = RunFigure(animlib.open_run(tmp_path / "r"))
    fig.update(1)
    row = fig.rows[0]
    header = row.header.texts[1].get_text()
    assert "true: crane [0]" in header and "target: crane [2]" in header, header
    assert row.status.prediction_text.get_text() == "crane [2] (80.0%)"
    long = [f"Staffordshire bull terrier, synset {k:02d}, a long tail of the class name here"
            for k in range(10)]  # fmt: skip
    with animlib.RunWriter(tmp_path, name="s", class_names=long, true_label=3) as w:
        for pred in (3, 7):
            p = np.full(10, 0.4 / 9)
            p[pred] = 0.6
            w.log(image=np.full((16, 16, 3), 0.5, np.float32), confidences=p)
    fig = RunFigure(animlib.open_run(tmp_path / "s"))
    fig.update(1)
    shown = fig.rows[0].status.prediction_text.get_text()
    assert shown.startswith("7: ") and "…" in shown and shown.endswith(" (60.0%)"), shown


def test_a_failed_run_says_so_in_its_frames(tmp_path):
    """A run whose writer stopped on an error rendered exactly like a finished one: its last
    step read as the attack's result."""
    with pytest.raises(RuntimeError):
        with animlib.RunWriter(tmp_path, name="crashed", class_names=["a", "b"]) as w:
            for _ in range(3):
                w.log(image=np.zeros((8, 8), np.uint8), confidences=[0.6, 0.4])
            raise RuntimeError("out of memory")
    fig = RunFigure(animlib.open_run(tmp_path / "crashed"))
    fig.update(2)
    assert "of 2 (failed)" in [t.get_text() for t in fig.rows[0].status.texts]


def test_a_height_bound_too_small_for_the_rows_is_said(tmp_path):
    """render_compare(max_height_px=600) of 6 runs made a 1398 px tall video without a word."""
    from animlib.figure.layout import plan, spec_of

    runs = [animlib.open_run(tmp_path / write_run(tmp_path, f"r{i}", steps=2)) for i in range(6)]
    specs = [spec_of(run) for run in runs]
    with pytest.warns(UserWarning, match="max_height_px=600 cannot hold 6 rows"):
        tall = plan(specs, RenderOptions(max_height_px=600))
    assert tall.size_px(100)[1] > 600
    fits = plan(specs[:2], RenderOptions(max_height_px=600))  # (no warning: it fits)
    assert fits.size_px(100)[1] <= 600


def test_a_large_gain_is_written_as_a_number():
    """``amplification=1000`` was labelled "×1e+03"; the player writes 1000."""
    from animlib.figure.images import _amp_text

    assert [_amp_text(x) for x in (1000, 14.96, 0.0667, 33.33, 12345)] == [
        "1000", "15", "0.0667", "33.3", "12300"
    ]  # fmt: skip


def test_the_predicted_class_always_has_a_bar(tmp_path):
    """With more classes leading some step than bars fit (1,000 classes near the decision
    boundary), a frame named "pred: class-212" over bars none of which was class 212. The last
    row now shows such a frame's argmax (numbered), and frames still equal a full redraw."""
    rng = np.random.default_rng(1)
    names = [f"class-{k:03d}" for k in range(1000)]
    with animlib.RunWriter(tmp_path, name="many", class_names=names, true_label=0) as w:
        for s in range(30):
            z = rng.normal(0, 0.01, 1000)
            z[0] += 0.02
            z[100 + 7 * s] += 0.05 if s else 0
            p = np.exp(z)
            w.log(image=np.zeros((16, 16, 3), np.float32), confidences=(p / p.sum()))
    run = animlib.open_run(tmp_path / "many")
    preds = np.argmax(run.confidences, axis=1)
    with FrameRenderer(run) as frames:
        bars = frames.figure.rows[0].bars
        assert bars.floating == len(bars.classes) - 1  # (more leaders than rows)
        left_out = [i for i, p in enumerate(preds) if p not in bars.classes]
        assert left_out
        for i in [*left_out[:3], 0, left_out[-1], len(preds) - 1]:
            got = frames.frame(i)
            shown = bars.shown_classes(int(preds[i]))
            label = bars.class_labels[-1].get_text()
            assert preds[i] in shown and shown[:-1] == bars.classes[:-1]
            if i in left_out:
                assert label == f"{preds[i]}: class-{preds[i]:03d}", label
            assert np.array_equal(got, frames.full_frame(i)), f"frame {i}"


def test_the_last_rows_own_argmax_redraws_exactly_in_a_comparison(tmp_path):
    """The last row's changing name has its own redraw region: in a comparison's short rows it
    must not reach the tick labels or the next run's header (a frame then differs from a full
    redraw)."""
    rng = np.random.default_rng(1)
    names = [f"class-{k:03d}" for k in range(40)]
    for r in range(6):
        with animlib.RunWriter(tmp_path, name=f"m{r}", class_names=names, true_label=0) as w:
            for s in range(20):
                z = rng.normal(0, 0.01, 40)
                z[0] += 0.02
                z[(3 + 7 * s + r) % 40] += 0.05 if s else 0
                p = np.exp(z)
                w.log(image=np.zeros((16, 16, 3), np.float32), confidences=p / p.sum())
    runs = [animlib.open_run(tmp_path / f"m{r}") for r in range(6)]
    with FrameRenderer(runs) as frames:
        assert all(row.bars.floating is not None for row in frames.figure.rows)
        for i in [*range(20), 3, 0, 19]:
            got = frames.frame(i)
            assert np.array_equal(got, frames.full_frame(i)), f"frame {i}"
