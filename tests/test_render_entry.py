"""Entry points of drawing and rendering: one RenderOptions check, lazy global settings, the
glyph cache and its fallback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import write_run  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

import animlib  # noqa: E402
from animlib import glyphs, rendering  # noqa: E402
from animlib.errors import Code, RenderLimitError, RenderOptionError  # noqa: E402
from animlib.fontlookup import LOOKUP_SIZE, font_lookup  # noqa: E402
from animlib.frames import FrameRenderer, iter_frames  # noqa: E402
from animlib.options import RenderOptions  # noqa: E402
from animlib.snapshot import frame_at, frame_png  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    return [animlib.open_run(root / write_run(root, name)) for name in ("a", "b")]


BAD = [
    ({"fps": 0}, RenderOptionError, "fps", Code.INVALID),
    ({"fps": 500}, RenderOptionError, "fps", Code.INVALID),
    ({"dpi": -1}, RenderOptionError, "dpi", Code.INVALID),
    ({"dpi": 999}, RenderLimitError, "dpi", Code.LIMIT),
    ({"stride": 0}, RenderOptionError, "stride", Code.INVALID),
    ({"top_k": 2.5}, RenderOptionError, "top_k", Code.INVALID),
    ({"amplification": float("nan")}, RenderOptionError, "amplification", Code.INVALID),
    ({"strid": 2}, RenderOptionError, "strid", Code.UNKNOWN_OPTION),
    ({"fsp": 10}, RenderOptionError, "fsp", Code.UNKNOWN_OPTION),
]


@pytest.mark.parametrize(("bad", "error", "field", "code"), BAD)
def test_an_invalid_option_is_the_same_error_from_every_entry_point(
    runs, tmp_path, bad, error, field, code
):
    run, other = runs
    out = tmp_path / "out"
    calls = {
        "animate": lambda: animlib.animate(run, **bad),
        "animate(options=)": lambda: animlib.animate(run, options=bad),
        "render": lambda: animlib.render(run, out / "x.mp4", **bad),
        "render(options=)": lambda: animlib.render(run, out / "x.gif", options=bad),
        "render_compare": lambda: animlib.render_compare([run, other], out / "y.mp4", **bad),
        "iter_frames": lambda: iter_frames(run, **bad),
        "FrameRenderer": lambda: FrameRenderer(run, bad),
        "frame_at": lambda: frame_at(run, 3, **bad),
        "frame_png": lambda: frame_png([run, other], 3, options=bad),
        "RenderOptions": lambda: RenderOptions(**bad),  # (an unknown one was a TypeError)
    }
    figures = plt.get_fignums()
    seen = {}
    for name, call in calls.items():
        with pytest.raises(error) as err:
            call()
        assert type(err.value) is error, name
        seen[name] = (str(err.value), err.value.field, err.value.code)
    assert len(set(seen.values())) == 1, seen
    assert seen["render"][1:] == (field, code)
    assert plt.get_fignums() == figures  # refused before a figure was made
    assert not out.exists() or not list(out.iterdir())


def test_comparisons_need_two_to_six_runs_everywhere(runs, tmp_path):
    run = runs[0]
    for call in (
        lambda: animlib.render_compare([run], tmp_path / "x.mp4"),
        lambda: animlib.render([run] * 7, tmp_path / "x.mp4"),
        lambda: animlib.animate([run] * 7),
        lambda: iter_frames([run] * 7),
        lambda: frame_at([run] * 7, 0),
    ):
        with pytest.raises(RenderOptionError, match="2 to 6 runs") as err:
            call()
        assert err.value.field == "runs"


def test_a_run_folder_path_works_where_a_run_does(runs, tmp_path):
    """As the CLI takes them: a str or a Path of a run folder (a user's first try in Python)."""
    run, other = runs
    folder = Path(run.url)
    one = animlib.render(str(folder), tmp_path / "a.gif")
    same = animlib.render(run, tmp_path / "b.gif")
    assert one.read_bytes() == same.read_bytes()
    pair = animlib.render_compare([folder, Path(other.url)], tmp_path / "c.gif")
    assert pair.read_bytes() == animlib.render_compare(runs, tmp_path / "d.gif").read_bytes()
    anim = animlib.animate(folder)
    anim.save(tmp_path / "f.gif", writer="pillow")  # (saved: an unused one warns when deleted)
    assert (tmp_path / "f.gif").stat().st_size > 0
    plt.close("all")
    with pytest.raises(animlib.RunFormatError) as err:  # a wrong path: the run and the problem
        animlib.render(tmp_path / "runs" / "nope", tmp_path / "e.gif")
    assert err.value.run == "nope" and err.value.code == Code.NOT_FOUND


def test_run_metrics_takes_a_run_folder_path_as_render_does(runs):
    """run_metrics('runs/ID') raised AttributeError: 'str' object has no attribute
    'true_label'."""
    run = runs[0]
    assert animlib.run_metrics(run.url) == animlib.run_metrics(run)
    assert animlib.run_metrics(Path(run.url)) == animlib.run_metrics(run)


def test_a_generator_of_runs_works_where_a_list_does(runs, tmp_path):
    """render((r for r in runs), ...) raised AttributeError: 'generator' object has no
    attribute 'name'."""
    pair = animlib.render((r for r in runs), tmp_path / "g.gif")
    assert pair.read_bytes() == animlib.render(list(runs), tmp_path / "l.gif").read_bytes()
    anim = animlib.animate(iter(runs))
    assert len(anim.panels.runs) == 2
    anim.save(tmp_path / "a.gif", writer="pillow")  # (saved: an unused one warns when deleted)
    plt.close("all")


@pytest.mark.parametrize("bad", [None, 3, {"a": 1}, b"runs/a", np.zeros(3), [None]])
def test_what_is_not_a_run_is_refused_naming_the_argument(runs, tmp_path, bad):
    """animate(None) / animate(3) raised a bare TypeError (object of type 'NoneType' has no
    len())."""
    figures = plt.get_fignums()
    for name, call, field in (
        ("animate", lambda: animlib.animate(bad), "run"),
        ("render", lambda: animlib.render(bad, tmp_path / "x.mp4"), "run"),
        (
            "render_compare",
            lambda: animlib.render_compare([runs[0], bad], tmp_path / "x.mp4"),
            "runs",
        ),
        ("run_metrics", lambda: animlib.run_metrics(bad), "run"),
    ):
        with pytest.raises(animlib.RunInputError, match="run folder's path") as err:
            call()
        assert (err.value.field, err.value.code) == (field, Code.INVALID), name
    assert plt.get_fignums() == figures
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("cache", [False, True])
def test_an_output_folder_is_made_or_refused_before_any_frame(runs, tmp_path, monkeypatch, cache):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    out = animlib.render(runs[0], tmp_path / "new" / "x.mp4", cache=cache)
    assert out.stat().st_size > 0  # the folder made, with or without the cache
    (tmp_path / "file").write_text("")
    frames = []
    with pytest.raises(RenderOptionError, match="cannot make folder") as err:
        animlib.render(runs[0], tmp_path / "file" / "x.mp4", cache=cache, progress=frames.append)
    assert (err.value.field, err.value.code, frames) == ("path", Code.STORAGE, [])


def test_render_compare_is_render_after_the_count_check(runs, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(rendering, "render", lambda *a, **kw: seen.append((a, kw)) or a[1])
    pair = tuple(runs)
    kw = {"options": {"fps": 5}, "progress": print, "format": "gif", "cache": True, "dpi": 50}
    assert rendering.render_compare(pair, tmp_path / "p.gif", **kw) == tmp_path / "p.gif"
    assert seen == [((list(pair), tmp_path / "p.gif"), kw)]  # every keyword goes to render
    with pytest.raises(RenderOptionError, match="2 to 6 runs"):
        rendering.render_compare(pair[:1], tmp_path / "x.gif", **kw)
    with pytest.raises(TypeError):  # options are keywords, as they always were
        rendering.render_compare(pair, tmp_path / "x.gif", {"fps": 5})
    assert len(seen) == 1


def test_the_package_names_are_the_functions():
    assert animlib.render is rendering.render
    assert animlib.render_compare is rendering.render_compare
    assert animlib.animate.__module__ == "animlib.animation"


def _python(code: str) -> str:
    env = {"PYTHONPATH": str(REPO), "MPLBACKEND": "", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_importing_animlib_leaves_matplotlib_settings_alone(tmp_path):
    run_id = write_run(tmp_path, "lazy", steps=3)
    out = _python(
        f"""
        import json, sys
        import matplotlib
        before = {{k: repr(v) for k, v in matplotlib.rcParams.copy().items()}}
        import animlib, animlib.animation, animlib.rendering, animlib.frames, animlib.glyphs
        import animlib.figure, animlib.movie_writers, animlib.snapshot, animlib.cache
        import animlib.bulk, animlib.cli
        after = {{k: repr(v) for k, v in matplotlib.rcParams.copy().items()}}
        changed = sorted(k for k in before if before[k] != after[k])
        pyplot = "matplotlib.pyplot" in sys.modules
        matplotlib.use("Agg")
        anim = animlib.animate(animlib.open_run({str(tmp_path / run_id)!r}))
        ffmpeg = matplotlib.rcParams["animation.ffmpeg_path"]
        print(json.dumps({{"changed": changed, "pyplot": pyplot, "ffmpeg": ffmpeg}}))
        """
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result["changed"] == [] and result["pyplot"] is False
    assert result["ffmpeg"] != "ffmpeg"  # set when an animation is created: the bundled binary


def test_logging_and_listing_load_no_plotting_library(tmp_path):
    """``import animlib`` binds the rendering API on first use, and the run index builds its
    Arrow columns itself: a script that logs runs, or ``animlib ls``, does not pay for importing
    matplotlib or pandas (pyarrow's conversion of Python lists imports pandas)."""
    out = _python(
        f"""
        import json, sys
        import numpy as np
        import animlib
        with animlib.RunWriter({str(tmp_path)!r}, name="plain") as w:
            w.log(np.zeros((4, 4, 3), np.uint8), confidences=[0.5, 0.5])
        ids = [i.id for i in animlib.list_runs({str(tmp_path)!r})]
        loaded = sorted(m for m in ("matplotlib", "pandas", "streamlit") if m in sys.modules)
        print(json.dumps({{"ids": ids, "loaded": loaded, "render": callable(animlib.render)}}))
        """
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"ids": ["plain"], "loaded": [], "render": True}


def test_the_glyph_cache_is_gated_by_the_matplotlib_version(monkeypatch):
    version = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
    assert glyphs.AVAILABLE is (version in glyphs.TESTED_VERSIONS)
    monkeypatch.setattr(matplotlib, "__version__", "9.1.0")
    assert glyphs._detect() is False


def test_without_the_glyph_cache_frames_are_still_right(runs, monkeypatch):
    """The plain RendererAgg path: the same frames, equal to a full redraw."""
    run = runs[0]
    order = [0, 3, 3, 11, 5, 0]
    cached = FrameRenderer(run)
    if glyphs.AVAILABLE:
        assert type(cached.canvas) is not FigureCanvasAgg
    with_cache = [cached.frame(i) for i in order]
    monkeypatch.setattr(glyphs, "AVAILABLE", False)
    plain = FrameRenderer(run)
    assert type(plain.canvas) is FigureCanvasAgg
    without = [plain.frame(i) for i in order]
    for i, frame in zip(order, without, strict=True):
        assert np.array_equal(frame, plain.full_frame(i)), f"frame {i}"
    assert all(np.array_equal(a, b) for a, b in zip(with_cache, without, strict=True))
    assert len(list(iter_frames(run, stride=4))) == 4  # steps 0, 4, 8 and 11


@pytest.mark.skipif(not glyphs.AVAILABLE, reason="the glyph cache is off for this matplotlib")
@pytest.mark.parametrize(
    "pieces,overlap",
    [
        ((("0.7341", 41.3), (" ", 4.0), ("cat", 20.6), ("(86.4%)", 48.2), ("dog", 22.0)), False),
        ((("W", 4.0), ("W", 4.0), ("Ag", 30.0), ("0.1", 2.0), ("78", 20.0)), True),
    ],
)
def test_a_line_is_drawn_merged_with_the_pixels_of_draw_text(pieces, overlap):
    """draw_line blends a line glyph by glyph the first time, in fewer bitmaps than glyphs from
    its second drawing (glyphs that ink the same pixel in different ones): every drawing equals
    plain draw_text of each piece where line_origins says."""
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    glyphs.clear_caches()
    prop = FontProperties(size=11)

    def canvas(caching: bool):
        fig = Figure(figsize=(3, 0.5), dpi=100)
        c = glyphs.agg_canvas(fig) if caching else FigureCanvasAgg(fig)
        r = c.get_renderer()
        r.clear()
        return r

    plain = canvas(False)
    gc = plain.new_gc()
    origins = glyphs.line_origins(plain, 3.4, 30.6, pieces)
    for (s, _), (x, y) in zip(pieces, origins, strict=True):
        if not s.isspace():
            plain.draw_text(gc, x, y, s, prop, 0)
    want = np.asarray(plain.buffer_rgba()).copy()
    assert want[..., 3].any()
    for drawing in range(3):
        r = canvas(True)
        glyphs.draw_line(r, r.new_gc(), 3.4, 30.6, pieces, prop)
        (line,) = (glyphs._LINES if drawing else glyphs._ONCE).values()  # merged from the 2nd
        assert np.array_equal(np.asarray(r.buffer_rgba()), want), f"drawing {drawing + 1}"
    unmerged = sum(len(glyphs._piece(r, s, prop, True, glyphs.get_hinting_flag()))
                   for s, _ in pieces if not s.isspace())  # fmt: skip
    assert len(line) < unmerged
    assert len(line) > 1 or not overlap  # glyphs that ink the same pixels: in different ones


@pytest.mark.skipif(not glyphs.AVAILABLE, reason="the glyph cache is off for this matplotlib")
def test_fonts_are_looked_up_once_per_weight_and_text_is_laid_out_as_matplotlib_does():
    """The glyph-caching renderer looks fonts up at one size (matplotlib's lookup ignores the
    size of scalable fonts but caches per size, and each miss scores every installed font),
    and Text lays lines out with it exactly as with plain Agg (to the last bit: with 1000 font
    units per em, the order of the scaling's operations shows)."""
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontManager
    from matplotlib.text import Text

    props = [
        FontProperties(size=size, weight=weight, family=family)
        for size in (7.0, 8.5, 11.0, 13.3)
        for weight in ("normal", "bold")
        for family in ("sans-serif", "DejaVu Serif", "STIXGeneral")  # STIX: 1000 units per em
    ]
    FontManager._findfont_cached.cache_clear()
    mine = glyphs._GlyphCachingRenderer(8, 8, 100.0)
    fonts = [mine._prepare_font(p).fname for p in props]
    assert FontManager._findfont_cached.cache_info().misses == 6  # 2 weights x 3 families
    plain = RendererAgg(8, 8, 100.0)
    assert fonts == [plain._prepare_font(p).fname for p in props]
    fig = Figure(dpi=100)
    for p in props:
        text = Text(0, 0, "step 7 of 119\nlp (86.4%)", fontproperties=p, figure=fig)
        (box, lines, descent), (want_box, want_lines, want_descent) = (
            text._get_layout(mine),
            text._get_layout(plain),
        )
        assert (box.bounds, lines, descent) == (want_box.bounds, want_lines, want_descent)
    for p in props[:2]:
        assert glyphs.font_of(p) is plain._prepare_font(p)


def test_the_font_lookup_keeps_the_size_when_a_font_is_not_scalable(monkeypatch):
    import dataclasses

    from matplotlib.font_manager import fontManager

    prop = FontProperties(size=13.0)
    assert font_lookup(prop).get_size() == LOOKUP_SIZE
    assert prop.get_size() == 13.0  # a copy is changed, never the caller's
    fixed = dataclasses.replace(fontManager.ttflist[0], size="12.0")
    monkeypatch.setattr(fontManager, "ttflist", [*fontManager.ttflist, fixed])
    assert font_lookup(prop) is prop


def _freetype_layout(prop, text):
    font = RendererAgg(8, 8, 100.0)._prepare_font(prop)
    items = font._layout(text, flags=glyphs.get_hinting_flag())
    return [(i.ft_object, i.glyph_index, i.x, i.y) for i in items]


def _same_layout(got, want):
    return [(id(f), g, x, y) for f, g, x, y in got] == [(id(f), g, x, y) for f, g, x, y in want]


@pytest.mark.skipif(not glyphs.AVAILABLE, reason="the glyph cache is off for this matplotlib")
@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=sorted(glyphs._SHAPED_ONE_TO_ONE), min_size=1, max_size=30),
    size=st.sampled_from([7.0, 8.0, 8.5, 10.0, 11.0, 13.3]),
    bold=st.booleans(),
)
def test_a_layout_taken_from_the_measurement_is_freetypes(text, size, bold):
    """The glyph positions of measuring a string (set_text) give the layout drawing it needs
    (font, glyph, x, y per glyph) exactly as FreeType's _layout does, or nothing."""
    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    font = RendererAgg(8, 8, 100.0)._prepare_font(prop)
    xys = font.set_text(text, 0.0, flags=glyphs.get_hinting_flag())
    got = glyphs._layout_of(font, text, xys)
    assert got is not None or len(xys) != len(text)  # (a ligature: laid out by FreeType)
    if got is not None:
        assert _same_layout(got, _freetype_layout(prop, text))


@pytest.mark.skipif(not glyphs.AVAILABLE, reason="the glyph cache is off for this matplotlib")
def test_a_measured_string_is_drawn_from_its_measurement_and_others_are_laid_out():
    r = RendererAgg(8, 8, 100.0)
    flags = glyphs.get_hinting_flag()
    normal, serif = FontProperties(size=10), FontProperties(size=10, family="DejaVu Serif")
    glyphs.clear_caches()
    for text in ("perturbation ×6.6  (±0.15)", "pred: cat (86.4%)", "7", "%"):
        glyphs._GlyphCachingRenderer.get_text_width_height_descent(r, text, normal, False)
        key = glyphs._layout_key(r, text, normal, flags)
        assert _same_layout(glyphs._LAYOUTS[key], _freetype_layout(normal, text)), text
        assert glyphs._METRICS[(text, hash(normal), 100.0, False)] == (
            RendererAgg.get_text_width_height_descent(r, text, normal, False)
        )
    for c in sorted(glyphs._SHAPED_ONE_TO_ONE):  # one character: at the pen's start
        font = r._prepare_font(normal)
        assert _same_layout(
            glyphs._layout_of(font, c, glyphs._AT_ORIGIN), _freetype_layout(normal, c)
        )
    # another font, or a character outside the checked set: nothing taken from the measurement
    glyphs.clear_caches()
    for text, prop in (("plain text", serif), ("naïve", normal), ("fi", normal)):
        glyphs._GlyphCachingRenderer.get_text_width_height_descent(r, text, prop, False)
        assert not glyphs._LAYOUTS, text


def test_an_aborted_write_reports_its_own_error_on_a_read_only_disk(tmp_path, monkeypatch):
    """abort() on a disk that refuses the temporary file's removal (EROFS) does not replace
    the error that made the render stop."""
    import errno

    from animlib.movie_writers.gif import GIFWriter

    writer = GIFWriter()
    frame = np.zeros((8, 8, 3), np.uint8)

    def refuse(self, missing_ok=False):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    with pytest.raises(RuntimeError, match="drawing failed"):
        with writer.saving(tmp_path / "out.gif", (8, 8), 10.0):
            writer.grab_frame(frame)
            monkeypatch.setattr(Path, "unlink", refuse)
            raise RuntimeError("drawing failed")
    monkeypatch.undo()
    assert not (tmp_path / "out.gif").exists()


def test_a_failed_animate_leaves_no_figure_behind(runs, tmp_path):
    """A run whose image chunk is damaged: animate raised a clear error but left an empty
    pyplot figure each time (a blank figure per failed notebook cell)."""
    run, _ = runs
    chunk = next(p for p in (Path(run.url) / "images").iterdir() if p.name.startswith("c"))
    chunk.write_bytes(b"garbage")
    figures = plt.get_fignums()
    for _ in range(3):
        with pytest.raises(animlib.AnimlibError):
            animlib.animate(animlib.open_run(run.url))
    assert plt.get_fignums() == figures


def test_a_whole_number_given_as_a_float_for_an_integer_option_says_so():
    """stride=1.0 said "must be an integer in [1, 1000000]; got 1": it read as fine."""

    with pytest.raises(RenderOptionError) as err:
        RenderOptions.of(stride=1.0)
    assert str(err.value) == (
        "stride: must be an integer in [1, 1000000]; got 1 as a float (give an int)"
    )
    with pytest.raises(RenderOptionError, match=r"got 0$"):
        RenderOptions.of(fps=0.0)  # a number option: 0 and 0.0 read alike
