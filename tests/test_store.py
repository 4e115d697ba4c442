"""Run store: writing, lazy reading, concurrent reading, listing, validation and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from helpers import CLASSES, chunk_file, image_for, probs_for, write_run

import animlib
from animlib.errors import AnimlibError, Code, RunFormatError, RunInputError
from animlib.store.local import LocalStore
from animlib.store.paths import is_run_id, run_id_for


class FakeTensor:
    """Quacks like a torch tensor on the GPU: .detach().cpu().numpy()."""

    def __init__(self, data):
        self._data = np.asarray(data)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self._data


rng = np.random.default_rng(0)
RGB_U8 = rng.integers(0, 256, (10, 8, 3), dtype=np.uint8)
RGB_F = rng.random((10, 8, 3))
GRAY_F = rng.random((10, 8))
RGBA_U8 = rng.integers(0, 256, (10, 8, 4), dtype=np.uint8)


@pytest.mark.parametrize(
    "given, layout, expected",
    [
        (RGB_U8, "auto", RGB_U8),
        (RGB_F, "auto", RGB_F.astype(np.float32)),
        (RGB_F.astype(np.float16), "auto", RGB_F.astype(np.float16).astype(np.float32)),
        (np.moveaxis(RGB_U8, -1, 0), "auto", RGB_U8),  # CHW detected
        (np.moveaxis(RGB_F, -1, 0), "CHW", RGB_F.astype(np.float32)),
        (GRAY_F, "auto", GRAY_F.astype(np.float32)[..., None]),
        (GRAY_F[None], "auto", GRAY_F.astype(np.float32)[..., None]),  # 1xHxW
        (RGBA_U8, "auto", RGBA_U8),
        (RGB_U8[None], "auto", RGB_U8),  # batch of one
        (RGB_U8.tolist(), "auto", RGB_U8.astype(np.int64)),  # nested lists of ints -> error below
        (FakeTensor(np.moveaxis(RGB_F, -1, 0)), "auto", RGB_F.astype(np.float32)),
        (RGB_F.astype(np.float32).tolist(), "auto", RGB_F.astype(np.float32)),
    ],
)
def test_round_trip_every_input_kind(tmp_path, given, layout, expected):
    if isinstance(given, list) and expected.dtype == np.int64:
        # Python ints are int64 to numpy: not uint8, so they are refused clearly.
        with pytest.raises(RunInputError, match="uint8"):
            with animlib.RunWriter(tmp_path, name="lists") as w:
                w.log(image=given)
        return
    probs = FakeTensor(probs_for(3)[None])  # a (1, K) tensor, as a batch of one
    with animlib.RunWriter(
        tmp_path, name="rt", class_names=CLASSES, true_label=1, layout=layout
    ) as w:
        for _ in range(3):
            w.log(image=given, confidences=probs, loss=FakeTensor(np.float32(0.5)))
    run = animlib.open_run(tmp_path / w.run_id)
    assert len(run) == 3
    got = run.images[2]
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(run.confidences[1], probs_for(3), rtol=1e-6)
    assert run.scalars["loss"].tolist() == [0.5, 0.5, 0.5]
    assert run.meta["status"] == "finished"


def test_meta_fields_and_summary(tmp_path):
    run_id = write_run(tmp_path, "pgd eps=8/255 img#3", params={"eps": 8 / 255}, tags=["x"])
    run = animlib.open_run(tmp_path / run_id)
    data = json.loads((tmp_path / run_id / "run.json").read_text())
    for key in (
        "format_version",
        "name",
        "attack",
        "model",
        "params",
        "class_names",
        "true_label",
        "target_label",
        "status",
        "created",
        "updated",
        "steps",
        "tags",
    ):
        assert key in data, key
    assert run.name == "pgd eps=8/255 img#3"
    assert is_run_id(run.id) and "/" not in run.id
    assert run.params["eps"] == pytest.approx(8 / 255)
    assert run.summary["success"] is True  # argmax moves 0 -> 1, true label 0
    flip = next(i for i in range(12) if probs_for(i).argmax() != 0)
    assert run.summary["flip_step"] == flip
    assert animlib.run_metrics(run)["flip_step"] == flip
    assert run.summary["linf"] == pytest.approx(
        float(np.abs(image_for(11, (16, 12, 3)) - image_for(0, (16, 12, 3))).max())
    )


def test_unique_ids_and_safe_names(tmp_path):
    a = write_run(tmp_path, "same", steps=1)
    b = write_run(tmp_path, "same", steps=1)
    c = write_run(tmp_path, "../../etc/passwd", steps=1)
    assert a == "same" and b == "same-2"
    assert c == "etc-passwd"
    assert sorted(os.listdir(tmp_path)) == ["etc-passwd", "same", "same-2"]
    assert run_id_for("<img src=x onerror=alert(1)>") == "img-src-x-onerror-alert-1"
    assert run_id_for("...") == "run"
    # the symbols of attack names keep their meaning (NFKD alone drops them: "L-0.03")
    assert run_id_for("PGD L∞ ε=0.03") == "PGD-Linf-eps-0.03"
    assert run_id_for("CW ℓ2 κ") == "CW-l2"  # a letter without a spelling is still dropped
    assert run_id_for("attaque légère") == "attaque-legere"
    assert not is_run_id("..") and not is_run_id("a/b") and not is_run_id("a\x00")


def test_opening_is_lazy(tmp_path, monkeypatch):
    import zarr.storage

    run_id = write_run(tmp_path, "lazy", steps=40, shape=(64, 64, 3))
    keys: list[str] = []
    real_get = zarr.storage.LocalStore.get

    async def spy(self, key, *args, **kwargs):
        keys.append(key)
        return await real_get(self, key, *args, **kwargs)

    real_read = LocalStore.read

    def read_spy(self, path, **kwargs):  # chunks read straight from the store (ChunkReader)
        keys.append(path)
        return real_read(self, path, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "get", spy)
    monkeypatch.setattr(LocalStore, "read", read_spy)
    run = animlib.open_run(tmp_path / run_id)
    assert len(run) == 40
    # shown in a notebook cell (it was "<animlib.image_steps.ImageSteps at 0x...>"): no chunk read
    assert repr(run.images) == "ImageSteps(run='lazy', shape=(40, 64, 64, 3), dtype=float32)"
    assert not [k for k in keys if k.startswith("images/c")], keys
    img = run.images[37]
    image_chunks = {k for k in keys if k.startswith("images/c")}
    assert len(image_chunks) == 1, image_chunks  # one step -> one chunk read
    np.testing.assert_array_equal(img, image_for(37, (64, 64, 3)))
    listed = animlib.list_runs(tmp_path)
    assert [r.id for r in listed] == ["lazy"]


WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import animlib
    sys.path.insert(0, {tests!r})
    from helpers import image_for, probs_for, CLASSES
    with animlib.RunWriter({root!r}, name="live", class_names=CLASSES, true_label=0) as w:
        print(w.run_id, flush=True)
        for i in range(60):
            w.log(image=image_for(i, (32, 32, 3)), confidences=probs_for(i))
            time.sleep(0.01)
    """
)


def test_second_process_reads_while_first_appends(tmp_path):
    code = WRITER.format(tests=os.path.dirname(__file__), root=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    seen = set()
    statuses = set()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            run = animlib.open_run(tmp_path / run_id)
        except RunFormatError:
            continue  # no step written yet
        statuses.add(run.status)
        n = len(run)
        if n:
            np.testing.assert_array_equal(run.images[n - 1], image_for(n - 1, (32, 32, 3)))
            np.testing.assert_allclose(run.confidences[n - 1], probs_for(n - 1), rtol=1e-6)
            seen.add(n)
        if run.status == "finished":
            break
    assert proc.wait(30) == 0
    assert "running" in statuses, statuses
    assert len([n for n in seen if n < 60]) >= 3, sorted(seen)  # saw partial states
    final = animlib.open_run(tmp_path / run_id)
    assert len(final) == 60 and final.status == "finished"


def test_list_runs_names_broken_and_lists_rest(runs_dir):
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "run.json").write_text("{not json")
    (runs_dir / "stray").mkdir()
    infos = {i.id: i for i in animlib.list_runs(runs_dir)}
    assert {i for i, r in infos.items() if r.ok} == {"alpha", "beta", "edit"}
    assert "not valid JSON" in infos["broken"].error
    assert "run.json is missing" in infos["stray"].error
    assert infos["alpha"].get("steps") == 12


def test_exception_marks_failed_and_keeps_steps(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with animlib.RunWriter(tmp_path, name="crash", class_names=CLASSES, true_label=0) as w:
            for i in range(4):
                w.log(image=image_for(i), confidences=probs_for(i))
            raise KeyboardInterrupt
    run = animlib.open_run(tmp_path / "crash")
    assert run.status == "failed" and len(run) == 4
    # (was "KeyboardInterrupt: ": the name, a colon and the exception's empty message)
    assert run.meta["error"] == "KeyboardInterrupt"


def test_a_failed_run_records_the_exception_and_its_message(tmp_path):
    with pytest.raises(ValueError):
        with animlib.RunWriter(tmp_path, name="bad", class_names=CLASSES, true_label=0) as w:
            w.log(image=image_for(0), confidences=probs_for(0))
            raise ValueError("diverged at step 1")
    assert animlib.open_run(tmp_path / "bad").meta["error"] == "ValueError: diverged at step 1"


def test_a_writer_shows_its_run_steps_and_status(tmp_path):
    """A notebook cell showing a writer printed "<animlib.writer.RunWriter at 0x...>", not
    whether the writer from an earlier cell is still open."""
    w = animlib.RunWriter(tmp_path, name="shown", class_names=CLASSES, true_label=0)
    where = f"url={str(tmp_path / 'shown')!r})"
    assert repr(w) == f"RunWriter(id='shown', steps=0, status='running', {where}"
    for i in range(2):
        w.log(image=image_for(i), confidences=probs_for(i))
    assert repr(w) == f"RunWriter(id='shown', steps=2, status='running', {where}"
    w.finish()
    assert repr(w) == f"RunWriter(id='shown', steps=2, status='finished', {where}"
    with pytest.warns(UserWarning, match="logged no step"):
        with animlib.RunWriter(tmp_path, name="none") as empty:
            pass
    assert repr(empty).startswith("RunWriter(id='none', steps=0, status='closed', url=")
    # a writer whose opening failed half-way (seen in a debugger's post-mortem) shows too
    assert repr(animlib.RunWriter.__new__(animlib.RunWriter)) == "RunWriter(status='not opened')"
    assert repr(animlib.BatchWriter.__new__(animlib.BatchWriter)) == "BatchWriter(status='closed')"


def test_a_listed_run_pickles_with_its_run_json(tmp_path):
    """A RunInfo of list_runs() sent through pickle (multiprocessing, joblib, a cache) had a
    bare placeholder object for its meta: get() and its repr raised."""
    import pickle

    write_run(tmp_path, "sent", steps=2)
    (info,) = animlib.list_runs(tmp_path)
    copy = pickle.loads(pickle.dumps(info))
    assert copy == info and copy.get("steps") == 2 and repr(copy) == repr(info)


BAD_STEPS = [
    ("shape", dict(image=np.zeros((8, 8, 3), np.float32)), "image", "shape"),
    ("nan", dict(image=np.full((16, 12, 3), np.nan, np.float32)), "image", "NaN"),
    ("range", dict(image=np.full((16, 12, 3), 2.0, np.float32)), "image", r"\[0, 1\]"),
    ("dtype", dict(image=np.zeros((16, 12, 3), np.uint8)), "image", "uint8"),
    ("logits", dict(confidences=np.array([3.0, -1.0, 0.5, 0.2])), "confidences", "logits"),
    ("conf-nan", dict(confidences=np.array([np.nan, 0.5, 0.5, 0])), "confidences", "NaN"),
    ("k", dict(confidences=np.array([0.5, 0.5])), "confidences", "4"),
    ("object", dict(image={"not": "an array"}), "image", "expected an array"),
    ("string", dict(image="cat.png"), "image", "expected an array"),
    ("missing-conf", dict(confidences=None), "confidences", "every step"),
    ("scalar", dict(loss=float("inf")), "loss", "finite"),
]


@pytest.mark.parametrize("label, change, field, pattern", BAD_STEPS, ids=[b[0] for b in BAD_STEPS])
def test_bad_step_raises_one_clear_error_and_keeps_run_valid(
    tmp_path, label, change, field, pattern
):
    with pytest.raises(RunInputError, match=pattern) as info:
        with animlib.RunWriter(
            tmp_path, name=f"bad-{label}", class_names=CLASSES, true_label=0
        ) as w:
            for i in range(3):
                w.log(image=image_for(i), confidences=probs_for(i))
            step = dict(image=image_for(3), confidences=probs_for(3))
            step.update(change)
            w.log(**step)
    err = info.value
    assert isinstance(err, AnimlibError)
    assert err.run == f"bad-{label}" and err.field == field
    assert f"run 'bad-{label}'" in str(err)
    # the three good steps survive, the bad one was never written
    run = animlib.open_run(tmp_path / f"bad-{label}")
    assert len(run) == 3 and run.status == "failed"
    assert run.images[-1].shape == (16, 12, 3)
    assert [r.line().split()[0] for r in animlib.validate(tmp_path)] == ["OK"]


def test_bad_metadata_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(RunInputError, match="true_label") as info:
        animlib.RunWriter(tmp_path, name="lbl", class_names=CLASSES, true_label=7)
    assert info.value.field == "true_label"
    with pytest.raises(RunInputError, match="target_label"):
        animlib.RunWriter(tmp_path, name="lbl", class_names=CLASSES, target_label=-1)
    with pytest.raises(RunInputError, match="name"):
        animlib.RunWriter(tmp_path, name="")
    with pytest.raises(RunInputError, match="class_names"):
        animlib.RunWriter(tmp_path, name="x", class_names="cat")
    assert list(tmp_path.iterdir()) == []


def test_failure_before_first_step_leaves_nothing(tmp_path):
    with pytest.raises(RunInputError):
        with animlib.RunWriter(tmp_path, name="early", class_names=CLASSES) as w:
            w.log(image=[["a"]], confidences=probs_for(0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("below", ["", "sub"])
def test_a_results_folder_that_is_a_file_is_refused_naming_the_run_and_the_file(tmp_path, below):
    """RunWriter/BatchWriter said "url: cannot be accessed (FileExistsError ...)" at the first
    step, naming a field the user never passed."""
    file = tmp_path / "t1.py"
    file.write_text("x")
    root = file / below if below else file
    said = f"{file} is a file, not a folder" if below else "is a file, not a folder"
    for make, what in (
        (lambda: animlib.RunWriter(root, name="x"), "run 'x'"),
        (lambda: animlib.BatchWriter(root, experiment="e"), "experiment 'e'"),
    ):
        with pytest.raises(animlib.StoreError) as err:
            make()
        assert str(err.value) == f"root: cannot start {what} in {root}: {said}"
        assert (err.value.field, err.value.code) == ("root", Code.INVALID)
    with pytest.raises(animlib.StoreError, match="is a file, not a folder"):
        LocalStore(root).makedirs()
    assert file.read_text() == "x"


@pytest.mark.parametrize("below", ["", "sub"])
def test_a_results_folder_that_is_a_broken_link_is_said_to_be_one(tmp_path, below):
    """A results folder linked to an unmounted disk was "is a file, not a folder"."""
    link = tmp_path / "disk"
    link.symlink_to(tmp_path / "unmounted")
    root = link / below if below else link
    said = f"is a link to {tmp_path / 'unmounted'}, which does not exist"
    said = f"{link} {said}" if below else said
    with pytest.raises(animlib.StoreError) as err:
        animlib.RunWriter(root, name="x")
    assert str(err.value) == f"root: cannot start run 'x' in {root}: {said}"
    assert not (tmp_path / "unmounted").exists()


def test_logits_keyword_applies_softmax(tmp_path):
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    with animlib.RunWriter(tmp_path, name="lg", class_names=CLASSES, true_label=0) as w:
        w.log(image=image_for(0), logits=logits)
    run = animlib.open_run(tmp_path / "lg")
    np.testing.assert_allclose(run.confidences[0], np.exp(logits) / np.exp(logits).sum(), rtol=1e-6)


def test_validate_finds_problems_and_cli_exit_codes(runs_dir):
    from animlib.cli import main

    assert main(["validate", str(runs_dir)]) == 0
    assert main(["validate", str(runs_dir / "alpha")]) == 0
    # corrupt one chunk of one run, and make another claim more steps than it has
    chunk = chunk_file(runs_dir / "alpha", "images", 0)
    chunk.write_bytes(chunk.read_bytes()[:10])
    meta = json.loads((runs_dir / "beta" / "run.json").read_text())
    meta["steps"] = 99
    (runs_dir / "beta" / "run.json").write_text(json.dumps(meta))
    reports = {r.id: r for r in animlib.validate(runs_dir)}
    assert not reports["alpha"].ok and "images" in reports["alpha"].error
    assert not reports["beta"].ok and "99" in reports["beta"].error
    assert reports["edit"].ok
    assert main(["validate", str(runs_dir)]) == 1
    out = subprocess.run(
        [sys.executable, "-m", "animlib", "validate", str(runs_dir)], capture_output=True, text=True
    )
    assert out.returncode == 1
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("OK", "BROKEN"))]
    assert len(lines) == 3 and sum(ln.startswith("BROKEN") for ln in lines) == 2


def test_unknown_format_version_and_unsafe_ids(runs_dir):
    meta = json.loads((runs_dir / "alpha" / "run.json").read_text())
    meta["format_version"] = 7
    (runs_dir / "alpha" / "run.json").write_text(json.dumps(meta))
    with pytest.raises(RunFormatError, match="format version 7") as info:
        animlib.open_run(runs_dir / "alpha")
    assert info.value.run == "alpha" and info.value.field == "format_version"
    for bad in ("../alpha", "/etc", "a\x00b", ".", ".hidden"):
        with pytest.raises(RunFormatError, match="not a valid run id"):
            animlib.open_run_in(runs_dir, bad)
    assert animlib.open_run_in(runs_dir, "beta").name == "beta"


def test_cli_ls(runs_dir, capsys):
    from animlib.cli import main

    assert main(["ls", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "3 runs, 0 broken" in out


@pytest.mark.parametrize(
    ("where", "value", "field", "words"),
    [
        ("params", {"eps": float("nan")}, "params.eps", "is NaN"),
        ("params", {"opt": {"lr": [0.1, np.float32("nan")]}}, "params.opt.lr[1]", "is NaN"),
        ("params", {"model": object()}, "params.model", "memory address"),
        ("fields", {"seed_of": object()}, "fields.seed_of", "memory address"),
    ],
)
def test_params_a_run_cannot_keep_are_refused_before_anything_is_written(
    tmp_path, where, value, field, words
):
    """A NaN was stored as the text "nan", an object as its memory address (another value
    on every rerun); both now fail naming the run and the parameter, RunWriter and
    BatchWriter alike. Infinity stays allowed (``norm=np.inf``)."""
    from animlib.batch_input import ExperimentInputError

    kw = dict(class_names=["a", "b"], true_label=0)
    with pytest.raises(animlib.RunInputError) as e:
        animlib.RunWriter(tmp_path, name="r", **kw, **{where: value})
    assert e.value.field == field and words in str(e.value) and "run 'r'" in str(e.value)
    if where == "params":
        with pytest.raises(ExperimentInputError) as e:
            animlib.BatchWriter(tmp_path, experiment="x", class_names=["a", "b"], params=value)
        assert e.value.field == field and words in str(e.value) and "'x'" in str(e.value)
    assert list(tmp_path.iterdir()) == []
    with animlib.RunWriter(tmp_path, name="inf", **kw, params={"norm": np.inf}) as w:
        w.log(image=np.zeros((4, 4, 3), np.float32), confidences=[0.5, 0.5])
    assert animlib.open_run(tmp_path / w.run_id).meta["params"] == {"norm": "inf"}


def test_images_take_a_list_of_steps_as_numpy_does(tmp_path):
    """``run.images[[0, 7]]`` (first and last) failed with "int() argument must be ..."."""
    from animlib.image_steps import StepIndexError

    run = animlib.open_run(tmp_path / write_run(tmp_path, "r", steps=8))
    every = np.stack(list(run.images))
    np.testing.assert_array_equal(run.images[[0, 7, -1]], every[[0, 7, -1]])
    np.testing.assert_array_equal(run.images[np.array([3, 1])], every[[3, 1]])
    for bad in ([0.5], (1, 2), [[0, 1]]):
        with pytest.raises(StepIndexError, match="index with an int, a slice or a list of ints"):
            run.images[bad]
    with pytest.raises(StepIndexError, match="step 9 out of range for a run of 8 steps"):
        run.images[[0, 9]]


def test_resume_checks_fields_as_the_constructor_does(tmp_path):
    """``RunWriter.resume(fields=...)`` stored anything: a format key (``status``) overwrote
    the run's own, an object its memory address. Refused now, the run untouched; keys the
    user set before may be set again."""
    kw = dict(class_names=["a", "b"], true_label=0, fields={"seed": 1})
    with animlib.RunWriter(tmp_path, name="r", **kw) as w:
        w.log(image=np.zeros((4, 4), np.uint8), confidences=[0.5, 0.5])
    own = set(json.loads((tmp_path / "r" / "run.json").read_text())) - {"seed"}
    before = (tmp_path / "r" / "run.json").read_bytes()
    for key in sorted(own):
        with pytest.raises(animlib.RunInputError, match="is a run.json field of its own") as e:
            animlib.RunWriter.resume(tmp_path / "r", fields={key: 1})
        assert e.value.field == "fields" and e.value.run == "r"
        with pytest.raises(animlib.RunInputError, match="run.json field of its own"):
            animlib.RunWriter(tmp_path, name="s", class_names=["a", "b"], fields={key: 1})
    with pytest.raises(animlib.RunInputError, match="memory address"):
        animlib.RunWriter.resume(tmp_path / "r", fields={"seed": object()})
    assert (tmp_path / "r" / "run.json").read_bytes() == before
    with animlib.RunWriter.resume(tmp_path / "r", fields={"seed": 2}) as w:
        w.log(image=np.zeros((4, 4), np.uint8), confidences=[0.5, 0.5])
    assert animlib.open_run(tmp_path / "r").meta["seed"] == 2
