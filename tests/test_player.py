"""The player's payload and frame strips (no Streamlit, no browser): values equal the stored
arrays, pixels are lossless, hostile strings stay text, the JS formats numbers as Python does."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import CLASSES, image_for, probs_for, write_run
from PIL import Image

import animlib
from animlib.player import build_payload, image_part, pack, plan_for, strip_files, unpack
from animlib.player.payload import class_rank, top_k
from animlib.player.pixels import (
    auto_gain,
    colour_planes,
    display_u8,
    palette,
    perturbation_index,
    png,
)
from animlib.player.strips import encode_strip

ASSETS = Path(animlib.__file__).parent / "player" / "assets"


class MemRun:
    """An in-memory run with only the public attributes the player reads."""

    def __init__(self, images, confidences=None, original=None, **kw):
        self.images = np.asarray(images)
        self.confidences = confidences
        self.original = original
        self.class_names = kw.get("class_names")
        self.true_label = kw.get("true_label")
        self.target_label = kw.get("target_label")
        self.name = kw.get("name", "mem")
        self.id = kw.get("id", "mem")
        self.image_shape = self.images.shape[1:]

    def __len__(self):
        return len(self.images)


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_pack_roundtrip_keeps_exact_values():
    arrays = {
        "a": np.array([[0.1, 1 / 3], [2.5e-8, 1.0]], np.float32),
        "b": np.arange(7, dtype=np.int32),
        "c": np.float32([0.03125]),
    }
    payload = pack({"x": "ü<b>", "n": [1, None]}, arrays)
    header, out = unpack(payload)
    assert header == {"x": "ü<b>", "n": [1, None]}
    for name, value in arrays.items():
        assert out[name].dtype == value.dtype and np.array_equal(out[name], value)
    with pytest.raises(ValueError):
        unpack(b"XXXX" + payload[4:])


def test_top_k_matches_a_stable_sort_and_ranks_count_stronger_classes():
    rng = np.random.default_rng(1)
    conf = rng.random((40, 30)).astype(np.float32)
    conf[:, 5] = conf[:, 7]  # ties: the lower index first, both with the same rank
    conf /= conf.sum(1, keepdims=True)
    idx, val, rank = top_k(conf, 8)
    order = np.argsort(-conf, axis=1, kind="stable")[:, :8]
    assert np.array_equal(idx, order)
    assert np.array_equal(val, np.take_along_axis(conf, order, 1))
    expected = 1 + (conf[:, None, :] > val[:, :, None]).sum(-1)
    assert np.array_equal(rank, expected)
    value, r = class_rank(conf, 5)
    assert np.array_equal(value, conf[:, 5])
    assert np.array_equal(r, 1 + (conf > conf[:, 5:6]).sum(1))


def test_payload_values_equal_the_stored_arrays(tmp_path):
    run = animlib.open_run(tmp_path / write_run(tmp_path, "p", steps=9, target_label=1))
    header, arrays = unpack(build_payload([run], [None], top_k=3, fps=7))
    assert header["mode"] == "viewer" and header["fps"] == 7.0
    (meta,) = header["runs"]
    assert meta["id"] == run.id and meta["steps"] == 9 and meta["image"] is None
    assert meta["classes"] == CLASSES and meta["true"] == 0 and meta["target"] == 1
    assert meta["k"] == 3
    conf = run.confidences
    for step in range(9):
        assert np.array_equal(arrays["0.topv"][step], np.sort(conf[step])[::-1][:3])
        assert list(arrays["0.topk"][step]) == list(np.argsort(-conf[step], kind="stable")[:3])
        assert f"{arrays['0.topv'][step][0]:.4f}" == f"{probs_for(step).max():.4f}"
    assert np.array_equal(arrays["0.true_v"], conf[:, 0])
    assert np.array_equal(arrays["0.target_v"], conf[:, 1])
    rival = conf.copy()
    rival[:, [0, 1]] = -1
    assert np.array_equal(arrays["0.rival"], rival.max(1))
    assert [c["label"] for c in meta["curves"]] == ["true: cat", "target: dog", "top rival"]


def test_payload_without_confidences_and_for_compare(tmp_path):
    edit = animlib.open_run(tmp_path / write_run(tmp_path, "e", steps=4, confidences=False))
    other = animlib.open_run(tmp_path / write_run(tmp_path, "o", steps=6))
    header, arrays = unpack(build_payload([edit, other], [None, None], mode="compare"))
    assert header["mode"] == "compare"
    assert header["runs"][0]["classes"] is None and header["runs"][0]["curves"] == []
    assert not any(name.startswith("0.") for name in arrays)
    assert header["runs"][1]["steps"] == 6 and arrays["1.topk"].shape == (6, 4)
    assert [r["title"] for r in header["runs"]] == ["e", "o"]  # (the page's titles: text.py)
    again = animlib.open_run(tmp_path / write_run(tmp_path, "o", steps=2))  # a rerun: "o-2"
    header, _ = unpack(build_payload([other, again], [None, None], mode="compare"))
    assert [r["title"] for r in header["runs"]] == ["o", f"o ({again.id})"]


def test_hostile_names_stay_text_in_the_header():
    hostile = ["<img src=x onerror=alert(1)>", "a\nb\x00", '"); alert(2); ("', "\u2028x"]
    run = MemRun(
        np.zeros((2, 4, 4, 3), np.uint8),
        confidences=np.full((2, 4), 0.25, np.float32),
        class_names=hostile,
        true_label=0,
        name="<script>alert(3)</script>",
        id="id<b>",
    )
    header, _ = unpack(build_payload([run], [None]))
    meta = header["runs"][0]
    assert meta["name"] == "<script>alert(3)</script>" and meta["id"] == "id<b>"
    assert meta["classes"][0] == hostile[0]
    assert meta["classes"][1] == "a\\nb\\x00"  # control characters shown as escapes
    assert meta["classes"][3] == "\\u2028x"


def test_player_js_builds_dom_from_text_only():
    """User strings reach the DOM through textContent: no innerHTML & co. in the assets."""
    js = "\n".join(p.read_text() for p in sorted(ASSETS.glob("*.js")))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink
    assert re.search(r"textContent", js)
    assert "http://" not in js.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in js and "https://" not in (ASSETS / "player.css").read_text()


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_strips_are_lossless_and_frame_exact(tmp_path, dtype, compiled, monkeypatch):
    """Strips hold exactly the pixels :func:`display_u8` and :func:`perturbation_index` give,
    from the compiled pass (RGB steps) as from numpy."""
    from animlib import kernels

    if compiled:
        assert kernels.display_rgb(wait=True) is not None
    else:
        monkeypatch.setattr(kernels, "display_rgb", lambda **kw: None)
    rng = np.random.default_rng(3)
    steps, shape = 23, (5, 7, 3)
    if dtype == "uint8":
        images = rng.integers(0, 256, (steps, *shape), dtype=np.uint8)
        original = images[0].copy()
    else:
        images = rng.random((steps, *shape), dtype=np.float32) * 1.2 - 0.1  # (some clipped)
        images[3, 0, 0] = np.nan  # shown as 0, as the figure does
        images[4, 1, :] = [np.inf, -np.inf, 0.5 / 255]
        images[5] = images[0] + np.float32(1 / 255)  # (perturbations of 1/255: exact)
        original = np.clip(images[0], 0, 1)
    run = MemRun(images, original=original)
    plan = plan_for(steps, shape)
    plan = type(plan)(steps, 5, 7, stride=1, per_strip=4)
    gain = 3.0
    mean = colour_planes(original)
    for index in range(plan.count):
        data = encode_strip(run, plan, index, gain, mean)
        pixels = decode_png(data["image"])
        pert = Image.open(io.BytesIO(data["perturbation"]))
        assert pert.mode == "P" and pert.getpalette()[:768] == list(palette())
        for row, step in enumerate(plan.steps_of(index)):
            assert plan.locate(step) == (index, row)
            frame = pixels[row * 5 : (row + 1) * 5]
            assert np.array_equal(frame, display_u8(images[step]))
            want = perturbation_index(images[step], mean, gain)
            assert np.array_equal(np.asarray(pert)[row * 5 : (row + 1) * 5], want)


def test_display_pixels_follow_the_figure():
    f = np.array([[[0.0, 0.5, 1.0], [np.nan, 2.0, -1.0]]], np.float32)
    assert display_u8(f).tolist() == [[[0, 128, 255], [0, 255, 0]]]
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    assert display_u8(gray).shape == (2, 3)
    orig = np.full((2, 2, 3), 100, np.uint8)
    one = orig + 1  # a 1/255 perturbation survives: index moves off the centre
    idx = perturbation_index(one, colour_planes(orig), 20.0)
    assert (idx == np.rint(127.5 + 20 * 127.5 / 255)).all()
    assert auto_gain(one, orig) == pytest.approx(250.0)  # 1 / (1/255), two significant digits


def _old_player_display_u8(image):
    """The player's own arithmetic before it shared the figure's (the reference)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.dtype != np.uint8:
        f = np.clip(a, 0.0, 1.0, dtype=np.float32)
        np.nan_to_num(f, copy=False, nan=0.0)
        f *= np.float32(255.0)
        f += np.float32(0.5)
        a = f.astype(np.uint8)
    if a.shape[2] == 1:
        return a[:, :, 0]
    if a.shape[2] == 2:
        return np.concatenate([a[:, :, :1], a[:, :, :1], a[:, :, :1], a[:, :, 1:]], axis=2)
    return a[:, :, :4]


def _peak_change(image, original, gray_alpha):
    """The perturbation as the figure (gray_alpha False) and the player (True) draw it, written
    out pixel by pixel: the change of the colour channel that changed most, with its sign."""

    def planes(a):
        a = np.asarray(a)
        a = a[:, :, None] if a.ndim == 2 else a
        c = 1 if gray_alpha and a.shape[2] == 2 else min(a.shape[2], 3)
        if a.dtype == np.uint8:
            return a[..., :c].astype(np.float32) * np.float32(1 / 255)
        return np.nan_to_num(np.clip(a[..., :c], 0.0, 1.0, dtype=np.float32), nan=0.0)

    d = planes(image) - planes(original)
    out = np.zeros(d.shape[:2], np.float32)
    for i, j in np.ndindex(*out.shape):
        for v in d[i, j]:
            if abs(v) > abs(out[i, j]):
                out[i, j] = v
    return out


@pytest.mark.parametrize("channels", [None, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_player_and_figure_pixels_keep_their_own_outputs(channels, dtype):
    from animlib.figure import pixels as figure_pixels

    rng = np.random.default_rng(channels or 0)
    shape = (6, 5) if channels is None else (6, 5, channels)
    if dtype == "uint8":
        image = rng.integers(0, 256, shape, dtype=np.uint8)
    else:
        image = (rng.random(shape) * 1.4 - 0.2).astype(dtype)
        image.flat[:4] = [np.nan, np.inf, -np.inf, 0.5]
    assert np.array_equal(display_u8(image), _old_player_display_u8(image))
    original = np.zeros(shape, image.dtype)
    for gray_alpha in (True, False):
        got = figure_pixels.peak_delta(
            image,
            figure_pixels.colour_planes(original, gray_alpha=gray_alpha),
            gray_alpha=gray_alpha,
        )
        want = _peak_change(image, original, gray_alpha)
        assert got.dtype == np.float32 and got.shape == (6, 5)
        assert np.array_equal(got, want), gray_alpha
    if channels == 2:  # gray + alpha: the player ignores alpha, the figure counts both
        assert not np.array_equal(
            _peak_change(image, original, True), _peak_change(image, original, False)
        )
    for running in (False, True):
        m = float(np.max(np.abs(_peak_change(image, original, True))))
        floor = figure_pixels.ladder_floor if running else figure_pixels.nice_floor
        assert auto_gain(image, original, running=running) == floor(1.0 / m)
    assert auto_gain(original, original) == 1.0
    assert figure_pixels.amplification_for(np.array([np.nan])) == 1.0


def test_a_colour_change_is_drawn_whole_not_as_a_channel_mean():
    """Red up and green down by 0.25 (a hue change the eye sees at once) read as no change in
    the perturbation panel (the channel mean was flat), with a gain of 1; sign-gradient noise
    (+e, +e, -e) was drawn at a third of its size. The panel now shows each pixel's largest
    channel change with its sign, and the gain maps the L-infinity distance to the end."""
    from animlib.figure import pixels as figure_pixels

    original = np.full((4, 4, 3), 0.5, np.float32)
    image = original.copy()
    image[1:3, 1:3, 0] += 0.25
    image[1:3, 1:3, 1] -= 0.25
    image[0, 0] += np.float32([0.03, 0.03, -0.03])
    for gray_alpha in (False, True):
        ref = figure_pixels.colour_planes(original, gray_alpha=gray_alpha)
        delta = figure_pixels.peak_delta(image, ref, gray_alpha=gray_alpha)
        assert (delta[1:3, 1:3] == np.float32(0.75) - np.float32(0.5)).all()
        assert abs(delta[0, 0]) == pytest.approx(0.03)  # (not 0.01)
        assert delta[3, 3] == 0
    assert auto_gain(image, original) == 4.0  # 1 / L-infinity
    idx = perturbation_index(image, colour_planes(original), 4.0)
    assert (idx[1:3, 1:3] == 255).all() and idx[3, 3] in (127, 128)


def test_long_runs_get_a_stride_and_steps_map_to_stored_images():
    plan = plan_for(10_000, (512, 512, 3), max_bytes=1 << 30)
    assert plan.stride == 8 and plan.on_stride == 1250 and plan.stored == 1251
    assert plan.locate(7) == plan.locate(0) and plan.locate(8)[1] == 1
    assert plan.locate(9_998) == plan.locate(9_992)  # the step at or before it
    strip, row = plan.locate(9_999)  # the last step: the attack's result, stored too
    assert plan.steps_of(strip)[row] == 9_999 and plan.steps_of(plan.count - 1)[-1] == 9_999
    every = [s for i in range(plan.count) for s in plan.steps_of(i)]
    assert every == [*range(0, 10_000, 8), 9_999]
    even = plan_for(9_993, (512, 512, 3), max_bytes=1 << 30)  # the last step is on the stride
    assert even.stride == 8 and even.stored == even.on_stride == 1250
    assert plan.per_strip * 512 <= 16_384
    small = plan_for(51, (32, 32, 3))
    assert small.stride == 1 and small.count == 1


def test_strip_files_are_cached_and_written_only_into_the_cache(tmp_path):
    root, cache = tmp_path / "runs", tmp_path / "cache"
    cache.mkdir()
    run = animlib.open_run(root / write_run(root, "s", steps=12))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    files = strip_files(run, cache, "key")
    assert files.gain is not None and files.original is not None
    assert all(p.parent == cache for p in [*files.images, *files.perturbations])
    stamp = {p: p.stat().st_ino for p in cache.iterdir()}
    again = strip_files(run, cache, "key")
    assert again.images == files.images
    assert {p: p.stat().st_ino for p in cache.iterdir()} == stamp  # nothing written again
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    strip = decode_png(files.images[0].read_bytes())
    assert np.array_equal(strip[16:32], display_u8(image_for(1)))
    header = image_part(files.plan, files.gain, ["u0"], ["p0"], "o")
    assert header["strips"] == ["u0"] and header["height"] == 16 and header["width"] == 12
    edit = animlib.open_run(root / write_run(root, "e", steps=3, original=False))
    assert strip_files(edit, cache, "k2").perturbations is None


def test_strips_kept_in_memory_are_those_written_to_the_cache(tmp_path):
    """With a cache folder that cannot be written, the player keeps its strips in memory: the
    same bytes as the files, made once, the least recently used going beyond the bound."""
    from animlib.player.strips import MemoryStrips

    root, cache = tmp_path / "runs", tmp_path / "cache"
    cache.mkdir()
    run = animlib.open_run(root / write_run(root, "s", steps=40))
    files = strip_files(run, cache, "key")
    memory = MemoryStrips()
    kept = strip_files(run, memory, "key")
    assert [p.read_bytes() for p in files.images] == kept.images
    assert [p.read_bytes() for p in files.perturbations] == kept.perturbations
    assert files.original.read_bytes() == kept.original
    made = []
    again = strip_files(run, memory, "key", progress=lambda d, t: made.append(t))
    assert again.images == kept.images and made == []  # nothing made again
    small = MemoryStrips(max_bytes=len(kept.images[0]) + 1)
    assert strip_files(run, small, "key").images == kept.images  # (this call's own, all)
    assert small.get(files.images[0].name) is None  # gone beyond the bound


NODE_CHECK = """
const mod = require("fs").readFileSync(process.argv[2], "utf8");
const fn = new Function(mod + "; return {fmt4, fmtConf, parsePayload, withStep};")();
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const values = input.values.map(fn.fmt4);
const confs = input.values.map(fn.fmtConf);
const bytes = Uint8Array.from(Buffer.from(input.payload, "base64"));
const parsed = fn.parsePayload(bytes);
const arrays = {};
for (const [k, v] of Object.entries(parsed.arrays)) arrays[k] = Array.from(v.data);
const urls = input.searches.map((q) => fn.withStep(q, 7));
console.log(JSON.stringify({values, confs, header: parsed.header.runs[0].name, arrays, urls}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_formats_and_decodes_like_python(tmp_path):
    """fmt4 == f"{x:.4f}" (ties round to even, as Python does), fmtConf == confidence_text
    (what would read 0.0000 as 2.6e-9), parsePayload == unpack."""
    from animlib.text import confidence_text

    rng = np.random.default_rng(0)
    values = [0.03125, 0.09375, 0.15625, 0.00005, 0.5, 1.0, 0.0, 1e-9, 0.99995, 0.12345]
    values += [2.57e-9, 4.99e-5, 5.01e-5, 1e-30, 9.96e-7, float(np.float32(1.993814e-09))]
    values += [float(v) for v in rng.random(300).astype(np.float32)]
    values += [k / 32 for k in range(33)]
    payload = pack(
        {"runs": [{"name": "<b>x</b>"}]},
        {"v": np.float32(values[:50]), "i": np.arange(5, dtype=np.int32)},
    )
    (tmp_path / "check.js").write_text(NODE_CHECK)
    out = subprocess.run(
        ["node", str(tmp_path / "check.js"), str(ASSETS / "format.js")],
        input=json.dumps(
            {
                "values": values,
                "payload": base64.b64encode(payload).decode(),
                "searches": ["?runs=a,b", "?run=x&step=3", "?step=1&run=%C3%A9", "", "?step"],
            }
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["values"] == [f"{v:.4f}" for v in values]
    assert got["confs"] == [confidence_text(v) for v in values]
    assert [confidence_text(v) for v in (2.57e-9, 1e-30, 9.96e-7, 0.0, 0.12345)] == [
        "2.6e-9", "1.0e-30", "1.0e-6", "0.0000", "0.1235"
    ]  # fmt: skip
    assert got["header"] == "<b>x</b>"
    assert got["urls"] == [  # the other parameters as written: runs=a,b stays readable
        "?runs=a,b&step=7", "?run=x&step=7", "?step=7&run=%C3%A9", "?step=7", "?step=7"
    ]  # fmt: skip
    assert got["arrays"]["v"] == [float(np.float32(v)) for v in values[:50]]
    assert got["arrays"]["i"] == [0, 1, 2, 3, 4]


def test_png_names_its_pixels_before_them():
    """Streamlit's media store hashes only 3 x 64 KiB of a file over 1 MiB: each strip carries
    the SHA-256 of its pixels in a text chunk ahead of the image data, so no two differ there."""
    a = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    b = a.copy()
    b[350, 350] ^= 1
    pa, pb = png(a), png(b)
    assert len(pa) > 1 << 20
    assert pa.index(b"tEXt") < pa.index(b"IDAT")
    assert pa[: 1 << 16] != pb[: 1 << 16]
    assert (
        Image.open(io.BytesIO(pa)).text["animlib-sha256"]
        != Image.open(io.BytesIO(pb)).text["animlib-sha256"]
    )


@pytest.mark.parametrize(
    ("shape", "indexed"),
    [((37, 23), False), ((37, 23, 3), False), ((37, 23, 4), False), ((1, 1, 3), False),
     ((1, 300), True), ((64, 5), True), ((300, 1, 3), False)],
)  # fmt: skip
def test_png_gives_back_its_pixels_exactly(shape, indexed):
    """The strips' own PNG writer: what a decoder reads is the pixels (and palette) given,
    for gray, RGB, RGBA and palette indices, down to one row or one column."""
    a = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    im = Image.open(io.BytesIO(png(a, indexed=indexed)))
    im.load()
    mode = "P" if indexed else "L" if a.ndim == 2 else {3: "RGB", 4: "RGBA"}[shape[2]]
    assert im.mode == mode
    assert np.array_equal(np.asarray(im), a)
    if indexed:
        assert im.getpalette()[:768] == list(palette())


def test_png_of_an_rgba_buffer_view_is_one_filter_pass_over_its_rgb():
    """The compiled pass writes RGBA; the strip's PNG reads its RGB view without a copy, every
    row "Up"-filtered (one numpy pass; Pillow tried each filter per row: 2.5x as long) into
    one zlib stream, and decodes to exactly those RGB pixels."""
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, (96, 80, 4), dtype=np.uint8)
    data = png(rgba[:, :, :3])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), rgba[:, :, :3])
    assert data.count(b"IDAT") == 1
    at = data.index(b"IDAT")
    rows = zlib.decompress(data[at + 4 : at + 4 + int.from_bytes(data[at - 4 : at], "big")])
    assert {rows[r * (80 * 3 + 1)] for r in range(96)} == {2}


@pytest.mark.parametrize(("bad", "field"), [({"top_k": 0}, "top_k"), ({"fps": 500}, "fps")])
def test_the_player_checks_its_options_as_render_options_do(bad, field):
    from animlib.errors import RenderOptionError
    from animlib.options import RenderOptions
    from animlib.player.component import player

    with pytest.raises(RenderOptionError) as expected:
        RenderOptions(**bad)
    with pytest.raises(RenderOptionError) as got:
        player([], key="k", **bad)  # refused before any run is read
    assert str(got.value) == str(expected.value) and got.value.field == field


def _node(tmp_path: Path, script: str, files: list[str], data: object) -> object:
    """Run ``script`` in node over the player's ``files`` (one scope, as the page loads them;
    player.js's ``export default`` made a plain function); ``data`` on stdin, JSON out."""
    code = "\n".join((ASSETS / f).read_text(encoding="utf-8") for f in files)
    code = code.replace("export default function", "function playerMain")
    (tmp_path / "assets.js").write_text(code)
    (tmp_path / "check.js").write_text(script)
    out = subprocess.run(
        ["node", str(tmp_path / "check.js"), str(tmp_path / "assets.js")],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


SIZES_CHECK = """
const code = require("fs").readFileSync(process.argv[2], "utf8");
const displaySize = new Function(code + "; return displaySize;")();
const asked = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(asked.map(([w, h, t]) => displaySize({ width: w, height: h }, t))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_player_sizes_images_as_the_video_zooms_them(tmp_path):
    """A whole zoom when it fills at least 80 % of the room, else fitted (the video's rule,
    figure.artists.zoom): 151x151 is not shown at 1:1 where 150x150 gets 2x, and a 96x32
    image in a 176-px compare box is fitted, not left at 96x32."""
    from animlib.figure.artists import zoom

    asked = [(150, 150, 300), (151, 151, 300), (96, 32, 176), (32, 96, 176), (8, 8, 176)]
    asked += [(224, 224, 300), (28, 28, 300), (130, 130, 300), (640, 480, 300), (100, 100, 300)]
    got = _node(tmp_path, SIZES_CHECK, ["format.js", "player.js"], asked)
    firsts = [(300, 300), (300, 300), (176, 59), (59, 176)]
    assert got[:4] == [{"w": w, "h": h} for w, h in firsts]
    for (w, h, target), size in zip(asked, got, strict=True):
        scale = zoom((h, w), (target, target))
        assert size == {"w": round(w * scale), "h": round(h * scale)}, (w, h, target)


NAMES_CHECK = """
// a canvas whose text is 7 px a character (bold: 8), the browser's measure
globalThis.document = { createElement: () => ({ getContext: () => ({
  font: "", measureText(t) { return { width: [...t].length * (this.font === "b" ? 8 : 7) }; },
}) }) };
const code = require("fs").readFileSync(process.argv[2], "utf8");
const fn = new Function(code + "; return { tellApart, middleCut };")();
const { labels, names, px, argmax } = JSON.parse(require("fs").readFileSync(0, "utf8"));
const cut = (text, row) => fn.middleCut(text, row >= 0 && labels[row] === argmax ? "b" : "n", px);
console.log(JSON.stringify(fn.tellApart(labels, names, cut)));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_step_table_tells_apart_names_cut_to_the_same_text(tmp_path):
    """Class names that differ in their middle cut to one text: the step table's rows then lead
    with the class number, as the video's bars do ("7: Staff…ame here"); the argmax row (bold,
    cut shorter) too; names that stay apart, or fit, are shown as they were."""
    names = [
        f"Staffordshire bull terrier, synset {k:02d}, a long tail of the class name here"
        for k in range(10)
    ]
    names += ["cat", "dog", "a long name that ends in one", "a long name that ends in two"]
    labels = [7, 3, 0, 1, 2, 10, 11, 12, 13]
    data = {"labels": labels, "names": names, "px": 7 * 24, "argmax": 7}
    shown = _node(tmp_path, NAMES_CHECK, ["format.js", "table.js"], data)
    assert len(set(shown)) == len(shown), shown
    for label, text in zip(labels[:5], shown[:5], strict=True):
        assert text.startswith(f"{label}: Staff") and text.endswith("name here"), text
    assert len(shown[0]) <= 168 // 8 and all(len(t) <= 24 for t in shown)  # (bold: 8 px each)
    assert shown[5:] == ["cat", "dog", "a long name …ends in one", "a long name …ends in two"]


def _counting_encoder(monkeypatch) -> list[int]:
    """encode_strip, counted (each strip slowed down: the callers overlap)."""
    import time

    from animlib.player import strips

    made: list[int] = []
    real = strips.encode_strip

    def encode(run, plan, index, gain, mean):
        made.append(index)
        time.sleep(0.05)
        return real(run, plan, index, gain, mean)

    monkeypatch.setattr(strips, "encode_strip", encode)
    return made


def test_sessions_asking_for_the_same_strips_at_once_make_them_once(tmp_path, monkeypatch):
    """Three sessions opening one new run encoded every strip three times; now one makes them
    (under a lease, as renders are made) and the others wait for them, seeing its progress."""
    import threading

    root, cache = tmp_path / "runs", tmp_path / "cache"
    cache.mkdir()
    run = animlib.open_run(root / write_run(root, "s", steps=200))  # 4 strips
    plan = plan_for(len(run), run.image_shape)
    assert plan.count >= 3
    made = _counting_encoder(monkeypatch)
    results, seen, start = [None] * 3, [[] for _ in range(3)], threading.Barrier(3)

    def session(k: int) -> None:
        opened = animlib.open_run(run.url)
        start.wait()
        report = lambda d, t: seen[k].append((d, t))  # noqa: E731
        results[k] = strip_files(opened, cache, "player-key", progress=report)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(made) == list(range(plan.count))  # each strip once
    assert all(r is not None and r.images == results[0].images for r in results)
    assert all(p.is_file() for p in results[0].images + results[0].perturbations)
    assert [n for n in os.listdir(cache) if n.startswith((".lease", ".claim"))] == []
    assert all(s and s[-1][0] == s[-1][1] for s in seen if s)  # (the waiters: the maker's)


KILLED_MAKER = """
import os, sys
import animlib
from animlib.player import strip_files, strips

real = strips.encode_strip
def encode(run, plan, index, gain, mean):
    if index == 1:
        os._exit(3)  # killed mid-way: its lease stays behind
    return real(run, plan, index, gain, mean)
strips.encode_strip = encode
strip_files(animlib.open_run(sys.argv[1]), sys.argv[2], "player-key", workers=1)
"""


def test_strips_whose_maker_died_are_made_by_the_next_asker(tmp_path, monkeypatch):
    """A lease left by a process killed while making the strips does not keep them from being
    made: the next asker takes it over at once (its holder is gone) and makes the rest."""
    import sys
    import time

    root, cache = tmp_path / "runs", tmp_path / "cache"
    cache.mkdir()
    run = animlib.open_run(root / write_run(root, "s", steps=200))  # 4 strips
    plan = plan_for(len(run), run.image_shape)
    killed = subprocess.run([sys.executable, "-c", KILLED_MAKER, run.url, str(cache)])
    assert killed.returncode == 3
    assert [n for n in os.listdir(cache) if n.startswith(".lease")]  # left behind
    made = _counting_encoder(monkeypatch)
    started = time.monotonic()
    files = strip_files(run, cache, "player-key")
    assert time.monotonic() - started < 10
    assert sorted(made) == list(range(1, plan.count))  # (strip 0 was made before)
    assert all(p.is_file() for p in files.images + files.perturbations)
    assert [n for n in os.listdir(cache) if n.startswith((".lease", ".claim"))] == []
