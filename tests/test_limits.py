"""Every limit check: its exact message, default field, error class and code, and its keywords."""

from __future__ import annotations

import pytest

from animlib import limits as L
from animlib.errors import Code, RenderLimitError, RunFormatError, RunInputError

ENV = {
    "ANIMLIB_MAX_SIDE": "64",
    "ANIMLIB_MAX_STEPS": "30",
    "ANIMLIB_MAX_CLASSES": "5",
    "ANIMLIB_MAX_DPI": "200",
    "ANIMLIB_MAX_GIF_FRAMES": "100",
}

RUN_CHECKS = [  # (call with a value over the limit, at the limit, default field, message)
    (
        lambda **kw: L.check_side(65, 10, **kw),
        lambda **kw: L.check_side(64, 64, **kw),
        "image_shape",
        "65x10 images exceed the limit of 64 px per side (ANIMLIB_MAX_SIDE)",
    ),
    (
        lambda **kw: L.check_steps(31, **kw),
        lambda **kw: L.check_steps(30, **kw),
        "steps",
        "31 steps exceed the limit of 30 (ANIMLIB_MAX_STEPS)",
    ),
    (
        lambda **kw: L.check_classes(6, **kw),
        lambda **kw: L.check_classes(5, **kw),
        "class_names",
        "6 classes exceed the limit of 5 (ANIMLIB_MAX_CLASSES)",
    ),
    (
        lambda **kw: L.check_json_depth(_nested(65), **kw),
        lambda **kw: L.check_json_depth(_nested(64), **kw),
        "params",
        "is nested more than 64 levels deep (the limit, animlib.limits.MAX_JSON_DEPTH)",
    ),
    (
        lambda **kw: L.check_run_json_size(L.MAX_RUN_JSON_BYTES + 1, **kw),
        lambda **kw: L.check_run_json_size(L.MAX_RUN_JSON_BYTES, **kw),
        "run.json",
        "is 1,048,577 bytes, over the limit of 1,048,576 (animlib.limits.MAX_RUN_JSON_BYTES)",
    ),
]


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.fixture(autouse=True)
def small_limits(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("over", "at", "field", "text"), RUN_CHECKS, ids=lambda v: str(v)[:20])
def test_run_checks_raise_one_limit_error_with_their_defaults_and_keywords(over, at, field, text):
    at()
    at(run="r", field="f", error=RunInputError)
    with pytest.raises(RunFormatError) as info:
        over()
    err = info.value
    assert type(err) is RunFormatError and err.code == Code.LIMIT
    assert (err.message, err.field, err.run) == (text, field, None)
    with pytest.raises(RunInputError) as info:
        over(run="r", field="f", error=RunInputError)
    err = info.value
    assert type(err) is RunInputError and err.code == Code.LIMIT
    assert str(err) == f"run 'r': f: {text}"
    with pytest.raises(RunFormatError) as info:
        over(run="r")  # the other keywords keep their defaults
    assert info.value.field == field
    with pytest.raises(TypeError):
        over(fild="typo")  # an unknown keyword is refused, as it always was


def test_render_checks_raise_render_limit_errors():
    L.check_dpi(200)
    L.check_frame((4096, 4096))
    L.check_gif_frames(100)
    cases = [
        (
            lambda: L.check_dpi(250.5, run="r"),
            "dpi",
            "250.5 dpi is above the limit of 200 (ANIMLIB_MAX_DPI)",
        ),
        (
            lambda: L.check_frame((4097, 4096), run="r"),
            "dpi",
            "a 4097x4096 frame is above the limit of 16777216 pixels; lower dpi or width_px",
        ),
        (
            lambda: L.check_gif_frames(101, run="r"),
            "stride",
            "101 frames exceed the limit of 100 for a GIF (ANIMLIB_MAX_GIF_FRAMES); "
            "raise the stride or use MP4",
        ),
    ]
    for call, field, text in cases:
        with pytest.raises(RenderLimitError) as info:
            call()
        err = info.value
        assert (err.message, err.field, err.run, err.code) == (text, field, "r", Code.LIMIT)
    with pytest.raises(TypeError):
        L.check_dpi(1, field="x")


@pytest.mark.parametrize("params_depth", [63, 64, 65])
def test_run_json_depth_at_the_limit_when_brackets_allow_no_shortcut(tmp_path, params_depth):
    """run.json bytes with few brackets skip the depth walk; at the limit they do not, and a
    field one level too deep is still refused (``params`` nests one level under the top)."""
    import json

    from animlib import meta as M
    from animlib.errors import RunFormatError

    meta = {
        "format_version": M.FORMAT_VERSION,
        "name": "deep",
        "status": "finished",
        "steps": 1,
        "params": 1,
    }
    for _ in range(params_depth):
        meta["params"] = {"a": meta["params"]}
    data = json.dumps(meta).encode()
    assert data.count(b"[") + data.count(b"{") == params_depth + 1  # no shortcut near 64
    if params_depth <= L.MAX_JSON_DEPTH:
        assert M.read_meta(data, "deep")["params"] == meta["params"]
    else:
        with pytest.raises(RunFormatError, match="params: is nested more than 64 levels"):
            M.read_meta(data, "deep")
    assert M.read_meta(json.dumps({**meta, "params": {}}).encode(), "deep")["params"] == {}


def test_batchwriter_hits_the_same_limits_with_the_same_messages(tmp_path):
    """BatchWriter checked side, classes and steps by hand: "6 classes exceed the limit" named
    neither the limit nor the variable that raises it."""
    import numpy as np

    import animlib
    from animlib.batch_input import ExperimentInputError

    def log(**kw):
        w = animlib.BatchWriter(tmp_path, experiment="e", **kw.pop("writer", {}))
        w.log(**kw)
        return w

    cases = [
        (dict(images=np.zeros((2, 65, 10), np.uint8)), "images", RUN_CHECKS[0][3]),
        (
            dict(images=np.zeros((2, 4, 4), np.uint8), confidences=np.full((2, 6), 1 / 6)),
            "confidences",
            RUN_CHECKS[2][3],
        ),  # fmt: skip
        (
            dict(images=np.zeros((2, 4, 4), np.uint8), writer={"class_names": list("abcdef")}),
            "class_names",
            RUN_CHECKS[2][3],
        ),  # fmt: skip
    ]
    for kw, field, text in cases:
        with pytest.raises(ExperimentInputError) as info:
            log(**kw)
        assert (info.value.field, info.value.message, info.value.code) == (field, text, Code.LIMIT)
    w = log(images=np.zeros((2, 4, 4), np.uint8))
    for _ in range(29):
        w.log(images=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ExperimentInputError) as info:
        w.log(images=np.zeros((2, 4, 4), np.uint8))
    assert info.value.message == RUN_CHECKS[1][3] and info.value.field == "steps"
    w.finish()
