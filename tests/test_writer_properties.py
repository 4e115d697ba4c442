"""Property-based tests of RunWriter: any input round-trips exactly or raises RunInputError."""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import animlib
from animlib.errors import RunInputError

SETTINGS = settings(  # ANIMLIB_HYPOTHESIS_EXAMPLES=5000 for a longer hunt
    max_examples=int(os.environ.get("ANIMLIB_HYPOTHESIS_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LAYOUTS = ["auto", "HWC", "CHW", "HW"]
IMAGE_DTYPES = ["uint8", "uint8", "float32", "float64", "float16", "bool", "int64", "uint16"]


class FakeTensor:
    """Quacks like a torch tensor: .detach().cpu().numpy()."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data

    def detach(self) -> FakeTensor:
        return self

    def cpu(self) -> FakeTensor:
        return self

    def numpy(self) -> np.ndarray:
        return self._data


# -- the specification, written out independently of animlib ------------------------------------
def spec_image(value: Any, layout: str) -> np.ndarray | None:
    """The (H, W, C) image the writer must store for ``value``, or None if it must refuse it."""
    if isinstance(value, FakeTensor):
        value = value.numpy()
    if not isinstance(value, (np.ndarray, list)):
        return None
    try:
        a = np.asarray(value)
    except ValueError:  # ragged nested lists
        return None
    if a.dtype.kind not in "biuf":
        return None
    if a.ndim == 2:
        if layout not in ("auto", "HW"):
            return None
        a = a[:, :, None]
    else:
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 3 or layout == "HW":
            return None
        if layout == "CHW" or (
            layout == "auto" and a.shape[-1] not in (1, 3, 4) and a.shape[0] in (1, 3, 4)
        ):
            a = np.moveaxis(a, 0, -1)
    if a.shape[-1] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        return None
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind == "b":
        return a.astype(np.uint8) * 255
    if a.dtype.kind in "iu":
        return None
    with np.errstate(over="ignore"):
        f = a.astype(np.float32)
    if not np.isfinite(f).all() or f.min() < 0 or f.max() > 1:
        return None
    return f


def spec_confidences(value: Any, logits: bool, k: int | None) -> np.ndarray | None:
    """The float32 probabilities the writer must store, or None if it must refuse them."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        return None
    a = a.astype(np.float64)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1 or a.size == 0 or (k is not None and a.size != k):
        return None
    if not np.isfinite(a).all():
        return None
    if logits:
        e = np.exp(a - a.max())
        a = e / e.sum()
    if a.min() < 0 or a.max() > 1 + 1e-6 or abs(a.sum() - 1) > 1e-3:
        return None
    return np.clip(a, 0, 1).astype(np.float32)


# -- strategies ----------------------------------------------------------------------------------
@st.composite
def image_kinds(draw) -> tuple[tuple[int, ...], np.dtype, str]:
    """A shape, dtype and layout: three in four of them valid, the rest anything."""
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if draw(st.integers(0, 3)):
        c = draw(st.sampled_from([1, 3, 4]))
        kind, layout = draw(
            st.sampled_from(
                [("hw", "auto"), ("hw", "HW"), ("hwc", "auto"), ("hwc", "HWC"), ("chw", "CHW")]
                + [("chw", "auto"), ("batch", "auto"), ("batch", "HWC")]
            )
        )
        if kind == "chw" and layout == "auto" and c == 1:
            c = 3  # (1, H, W) with W in 1/3/4 would be read as HWC: not what this draws
        dtype = np.dtype(draw(st.sampled_from(["uint8", "float32", "float64", "float16", "bool"])))
    else:
        kind = draw(st.sampled_from(["hw", "hwc", "chw", "batch", "odd"]))
        c = draw(st.integers(1, 6))
        dtype = np.dtype(draw(st.sampled_from(IMAGE_DTYPES)))
        layout = draw(st.sampled_from(LAYOUTS))
    shape = {
        "hw": (h, w),
        "hwc": (h, w, c),
        "chw": (c, h, w),
        "batch": (1, h, w, c),
        "odd": draw(st.sampled_from([(), (h,), (2, h, w, c), (h, 0, c), (1, 1, 1, h, w)])),
    }[kind]
    return shape, dtype, layout


@st.composite
def images(draw, base: tuple[tuple[int, ...], np.dtype, str]) -> tuple[Any, str]:
    """An image like ``base`` (usually) or of another kind, in some container, now and then
    with a bad value or not an array at all."""
    shape, dtype, layout = base if draw(st.integers(0, 4)) else draw(image_kinds())
    elements = st.floats(0, 1, width=min(64, dtype.itemsize * 8)) if dtype.kind == "f" else None
    arr = draw(hnp.arrays(dtype, shape, elements=elements))
    if dtype.kind == "f" and arr.size and draw(st.integers(0, 5)) == 0:
        bad = draw(st.sampled_from([np.nan, np.inf, -0.01, 1.01, 255.0]))
        arr.flat[draw(st.integers(0, arr.size - 1))] = bad
    container = draw(st.sampled_from(["numpy", "numpy", "numpy", "numpy", "list", "tensor"]))
    if container == "list":  # nested lists: Python ints become int64, refused as not uint8
        value: Any = arr.tolist()
    elif container == "tensor":
        value = FakeTensor(arr)
    else:
        value = arr
    if draw(st.integers(0, 9)) == 0:
        value = draw(st.sampled_from(["cat.png", {"x": 1}, [[1, 2], [3]], 3, None]))
    return value, layout


@st.composite
def confidences(draw, k: int) -> tuple[Any, bool]:
    """Probabilities (or logits) for k classes, sometimes wrong in one of the ways people get
    wrong: NaN, negative, not normalised, wrong K, wrong shape."""
    kk = draw(st.sampled_from([k, k, k, k, k + 1, max(1, k - 1)]))
    logits = draw(st.booleans())
    if logits:
        values = draw(hnp.arrays(np.float64, kk, elements=st.floats(-50, 50)))
    else:
        raw = draw(hnp.arrays(np.float64, kk, elements=st.floats(0.01, 1)))
        values = raw / raw.sum()
    mode = draw(
        st.sampled_from(["ok", "ok", "ok", "ok", "ok", "nan", "neg", "sum", "2d", "f16", "list"])
    )
    if mode == "nan":
        values[0] = np.nan
    elif mode == "neg":
        values[0] = -0.5
    elif mode == "sum":
        values = values * 2
    elif mode == "2d":
        values = values[None] if draw(st.booleans()) else values[:, None]
    elif mode == "f16":
        values = values.astype(np.float16)
    elif mode == "list":
        values = values.tolist()
    return values, logits


@dataclass
class Step:
    image: Any
    layout: str
    conf: Any
    logits: bool
    with_conf: bool


@st.composite
def runs(draw) -> tuple[dict[str, Any], list[Step]]:
    k = draw(st.integers(1, 5))
    names = draw(st.one_of(st.none(), st.lists(st.text(max_size=8), min_size=k, max_size=k)))
    true_label = draw(st.one_of(st.none(), st.integers(0, k - 1)))
    header = {
        "name": draw(
            st.text(min_size=1, max_size=30).filter(lambda s: s.strip() and "\0" not in s)
        ),
        "class_names": names,
        "true_label": true_label,
        "tags": draw(st.lists(st.text(max_size=10), max_size=3)),
        "params": {"eps": draw(st.floats(0, 1)), "note": draw(st.text(max_size=10))},
    }
    with_conf = draw(st.booleans())
    base = draw(image_kinds())
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        image, layout = draw(images(base))
        conf, logits = draw(confidences(k))
        flip = draw(st.integers(0, 9)) == 0  # now and then a step drops (or adds) confidences
        steps.append(Step(image, layout, conf, logits, with_conf != flip))
    return header, steps


# -- properties ----------------------------------------------------------------------------------
def assert_consistent(root: str, run_id: str, steps: int) -> None:
    """What is on disk is a valid run holding exactly ``steps`` complete steps."""
    run = animlib.open_run(os.path.join(root, run_id)) if steps else None
    if run is not None:
        assert len(run) == steps
        report = animlib.validate(os.path.join(root, run_id))[0]
        assert report.ok, report.line()
    infos = animlib.list_runs(root)
    assert [i.id for i in infos] == [run_id]
    assert infos[0].get("steps") == steps


@SETTINGS
@given(runs())
def test_any_mix_round_trips_exactly_or_raises_one_clear_error(data):
    header, steps = data
    with tempfile.TemporaryDirectory() as root:
        w = animlib.RunWriter(root, **header)
        assert os.path.dirname(w.url) == root  # whatever the name, the folder is inside root
        k = len(header["class_names"]) if header["class_names"] else None
        shape = dtype = None
        has_conf = None
        stored: list[tuple[np.ndarray, np.ndarray | None]] = []
        for step in steps:
            img = spec_image(step.image, step.layout)
            conf = None
            ok = img is not None and (shape is None or (img.shape, img.dtype) == (shape, dtype))
            if step.with_conf:
                conf = spec_confidences(step.conf, step.logits, k)
                label = header["true_label"]
                ok = ok and conf is not None and (label is None or label < len(conf))
            ok = ok and (has_conf is None or has_conf == step.with_conf)
            kwargs = (
                {"logits" if step.logits else "confidences": step.conf} if step.with_conf else {}
            )
            try:
                index = w.log(image=step.image, layout=step.layout, **kwargs)
            except RunInputError as exc:
                assert not ok, f"refused a valid step: {exc}"
                assert exc.run == w.run_id and exc.field and str(exc).startswith("run ")
                event(f"refused ({exc.field})")
                assert_consistent(root, w.run_id, len(stored))
                continue
            assert ok, "accepted a step the specification refuses"
            assert index == len(stored)
            event("stored")
            stored.append((img, conf))
            shape, dtype = img.shape, img.dtype
            has_conf = step.with_conf
            if k is None and conf is not None:
                k = len(conf)
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            w.finish()
        with pytest.raises(RunInputError, match="closed"):
            w.log(image=np.zeros((2, 2), np.uint8))
        if not stored:  # a run that logged nothing is not kept, and the writer says so
            assert animlib.list_runs(root) == []
            assert any("logged no step: nothing was kept" in str(m.message) for m in said)
            return
        assert_consistent(root, w.run_id, len(stored))
        run = animlib.open_run(w.url)
        assert run.status == "finished"
        assert run.name == header["name"]
        assert run.tags == [str(t) for t in header["tags"]]
        assert run.params == header["params"]
        for i, (img, conf) in enumerate(stored):
            got = run.images[i]
            assert got.dtype == img.dtype and got.shape == img.shape
            np.testing.assert_array_equal(got, img)
            if conf is not None:
                np.testing.assert_array_equal(run.confidences[i], conf)
        if has_conf:
            names = header["class_names"] or [str(i) for i in range(k)]
            assert run.class_names == names
        else:
            assert run.confidences is None


@SETTINGS
@given(runs(), st.integers(0, 4))
def test_an_error_escaping_the_with_block_keeps_exactly_the_good_steps(data, crash_after):
    header, steps = data
    with tempfile.TemporaryDirectory() as root:
        logged = 0
        with pytest.raises((RunInputError, KeyboardInterrupt)):
            with animlib.RunWriter(root, **header) as w:
                for step in steps:
                    if logged == crash_after:
                        raise KeyboardInterrupt  # the user pressed Ctrl-C
                    kwargs = {"confidences": step.conf} if step.with_conf else {}
                    w.log(image=step.image, layout=step.layout, logits=None, **kwargs)
                    logged += 1
                raise KeyboardInterrupt
        if logged == 0:  # failed before its first step: nothing is left behind
            assert os.listdir(root) == []
            return
        run = animlib.open_run(w.url)
        assert run.status == "failed" and len(run) == logged
        assert run.meta["error"]
        assert animlib.validate(w.url)[0].ok


# -- the animlib.steps codec: exact for any bits, through the writers for any valid image -------
@st.composite
def step_chunks(draw) -> np.ndarray:
    """(S, H, W, C) uint8 or float32 chunks: raw bit patterns (NaN, inf, -0.0, subnormals),
    values on the 1/255 grid, and grid values nudged by a few ulps, mixed within a chunk."""
    s, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    c = draw(st.sampled_from([1, 3, 4]))
    if draw(st.booleans()):
        return draw(hnp.arrays(np.uint8, (s, h, w, c)))
    q = draw(hnp.arrays(np.uint8, (s, h, w, c))).astype(np.float32) / np.float32(255)
    bits = draw(hnp.arrays(np.uint32, (s, h, w, c)))
    nudge = draw(hnp.arrays(np.int32, (s, h, w, c), elements=st.integers(-3, 3)))
    mode = draw(hnp.arrays(np.uint8, (s, h, w, c), elements=st.integers(0, 5)))
    out = q.copy()
    out[mode == 1] = bits.view(np.float32)[mode == 1]
    near = (q.view(np.int32) + nudge).view(np.float32)
    out[mode == 2] = near[mode == 2]
    return out


@SETTINGS
@given(step_chunks())
def test_step_codec_round_trips_any_bits(chunk):
    from animlib import stepcodec, stepsplit

    data = stepcodec.encode_chunk(chunk)
    back = stepcodec.decode_chunk(data, chunk.shape, chunk.dtype)
    assert back.dtype == chunk.dtype
    assert back.view(np.uint8).tobytes() == chunk.view(np.uint8).tobytes()
    partial = stepcodec.pack_chunk(  # a chunk being filled: the steps after it read as fill
        [stepcodec.encode_frame(stepsplit.prepare(chunk[0]), None)]
    )
    head = stepcodec.decode_chunk(partial, (chunk.shape[0] + 1, *chunk.shape[1:]), chunk.dtype)
    assert head[0].tobytes() == chunk[0].tobytes() and not head[1:].any()
    with pytest.raises(ValueError):
        stepcodec.decode_chunk(data[: len(data) // 2], chunk.shape, chunk.dtype)


@st.composite
def pgd_walks(draw) -> tuple[np.ndarray, str]:
    """A PGD-like walk of 1..12 float32 or uint8 images (gray, RGB or RGBA) in [0, 1]."""
    n, h, w = draw(st.integers(1, 12)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.sampled_from([1, 3, 4]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x0 = rng.integers(0, 256, (h, w, c)).astype(np.float32) / np.float32(255)
    alpha = np.float32(draw(st.sampled_from([1 / 255, 2 / 255, 0.013, 1e-7])))
    steps, x = [x0], x0
    for _ in range(n - 1):
        sign = rng.choice(np.array([-1, 1], np.float32), x.shape)
        x = np.clip(x + alpha * sign, 0, 1).astype(np.float32)
        steps.append(x)
    walk = np.stack(steps)
    kind = draw(st.sampled_from(["float32", "uint8"]))
    return (np.round(walk * 255).astype(np.uint8) if kind == "uint8" else walk), kind


@SETTINGS
@given(pgd_walks(), st.booleans())
def test_logged_images_read_back_bit_for_bit(data, batch):
    walk, _ = data
    with tempfile.TemporaryDirectory() as root:
        if batch:
            with animlib.BatchWriter(root, experiment="walk", layout="HWC") as w:
                for step in walk:
                    w.log(images=np.stack([step, step[::-1].copy()]))
            runs = [os.path.join(root, r) for r in w.run_ids]
            wants = [walk, walk[:, ::-1]]
        else:
            with animlib.RunWriter(root, name="walk", layout="HWC") as w:
                for step in walk:
                    w.log(image=step)
            runs, wants = [w.url], [walk]
        for url, want in zip(runs, wants, strict=True):
            got = animlib.open_run(url).images[:]
            assert got.dtype == want.dtype and got.shape == want.shape
            assert got.tobytes() == np.ascontiguousarray(want).tobytes()
