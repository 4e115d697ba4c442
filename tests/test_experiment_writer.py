"""BatchWriter: a whole batch per call, each sample an ordinary run; bad batches name the sample."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
from helpers import writer_of_another_process

import animlib
from animlib import lock
from animlib.batch_input import ExperimentInputError
from animlib.errors import Code
from animlib.experiment_claim import claim_name
from animlib.store import LocalStore

CLASSES = ["cat", "dog", "frog"]
B = 4


def batch(step: int, b: int = B, shape=(3, 8, 6)) -> np.ndarray:
    """(B, C, H, W) float32 images in [0, 1] that change with the step."""
    rng = np.random.default_rng(step)
    return rng.random((b, *shape), dtype=np.float32)


def probs(step: int, b: int = B, k: int = 3) -> np.ndarray:
    rng = np.random.default_rng(100 + step)
    p = rng.random((b, k)) + 0.1
    return p / p.sum(axis=1, keepdims=True)


def writer(root, **kw) -> animlib.BatchWriter:
    args = dict(
        experiment="pgd-eps0.1",
        attack="PGD",
        model="tiny",
        class_names=CLASSES,
        true_labels=[0, 1, 2, 0],
        params={"eps": 0.1},
        tags=["t"],
    )
    args.update(kw)
    return animlib.BatchWriter(root, **args)


def run_dirs(root) -> list[str]:
    return sorted(e for e in os.listdir(root) if not e.startswith(".")) if root.exists() else []


def test_each_sample_is_an_ordinary_run(tmp_path):
    x0 = batch(0)
    with writer(tmp_path, originals=x0, sample_ids=[7, 3, 12000, 0]) as w:
        for step in range(5):
            w.log(images=x0 if step == 0 else batch(step), confidences=probs(step), loss=step)
    assert w.experiment == "pgd-eps0.1" and len(w) == 5
    ids = ["pgd-eps0.1-0007", "pgd-eps0.1-0003", "pgd-eps0.1-12000", "pgd-eps0.1-0000"]
    assert w.run_ids == ids and run_dirs(tmp_path) == sorted(ids)
    for i, run_id in enumerate(ids):
        run = animlib.open_run(tmp_path / run_id)
        assert run.meta["experiment"] == "pgd-eps0.1" and run.meta["sample"] == w.sample_ids[i]
        assert run.meta["true_label"] == [0, 1, 2, 0][i] and run.meta["params"] == {"eps": 0.1}
        assert run.status == "finished" and len(run) == 5 and run.meta["tags"] == ["t"]
        np.testing.assert_array_equal(run.images[0], np.moveaxis(x0[i], 0, -1))
        np.testing.assert_array_equal(run.images[3], np.moveaxis(batch(3)[i], 0, -1))
        np.testing.assert_array_equal(run.original, np.moveaxis(x0[i], 0, -1))
        expected = np.stack([probs(s)[i] for s in range(5)]).astype(np.float32)
        np.testing.assert_allclose(run.confidences, expected, atol=1e-7)
        np.testing.assert_array_equal(run.scalars["loss"], np.arange(5.0))
        assert run.meta["initial_pred"] == int(probs(0)[i].argmax())
    reports = animlib.validate(tmp_path)
    assert len(reports) == 4 and all(r.ok for r in reports), [r.line() for r in reports]


def test_logits_per_sample_scalars_hwc_and_gray(tmp_path):
    logits = np.random.default_rng(0).normal(size=(B, 3)) * 5
    hwc = np.moveaxis(batch(0), 1, -1)
    with writer(tmp_path, experiment="hwc") as w:
        w.log(images=hwc, logits=logits, loss=np.arange(B), lr=0.5)
    run = animlib.open_run(tmp_path / "hwc-0002")
    e = np.exp(logits[2] - logits[2].max())
    np.testing.assert_allclose(run.confidences[0], e / e.sum(), rtol=1e-5)
    assert run.scalars["loss"].tolist() == [2.0] and run.scalars["lr"].tolist() == [0.5]
    np.testing.assert_array_equal(run.images[0], hwc[2])
    gray = (np.random.default_rng(1).random((2, 5, 7)) > 0.5).astype(np.uint8) * 255
    with animlib.BatchWriter(tmp_path, experiment="gray") as w:  # no labels: B from the images
        w.log(images=gray)
    assert w.batch_size == 2 and w.run_ids == ["gray-0000", "gray-0001"]
    assert animlib.open_run(tmp_path / "gray-0001").images[0].shape == (5, 7, 1)


def test_uint8_originals_with_float_images(tmp_path):
    x0 = (batch(0) * 255).astype(np.uint8)
    with writer(tmp_path, originals=x0) as w:
        w.log(images=x0.astype(np.float32) / 255, confidences=probs(0))
    run = animlib.open_run(tmp_path / w.run_ids[1])
    np.testing.assert_array_equal(run.original, np.moveaxis(x0[1], 0, -1) / np.float32(255))


def test_torch_tensors_are_taken_as_they_are(tmp_path):
    torch = pytest.importorskip("torch")
    x = torch.tensor(batch(0), requires_grad=True)
    logits = torch.tensor(probs(0)).log().requires_grad_()
    with writer(tmp_path, true_labels=torch.tensor([0, 1, 2, 0])) as w:
        w.log(images=x, logits=logits, loss=torch.ones(B))
    run = animlib.open_run(tmp_path / w.run_ids[0])
    np.testing.assert_array_equal(run.images[0], np.moveaxis(batch(0)[0], 0, -1))
    np.testing.assert_allclose(run.confidences[0], probs(0)[0], rtol=1e-5)


def test_bfloat16_tensors_of_mixed_precision_models_are_taken(tmp_path):
    torch = pytest.importorskip("torch")
    x = torch.tensor(batch(0)).to(torch.bfloat16)  # numpy has no bfloat16: .numpy() fails
    logits = torch.tensor(probs(0)).log().to(torch.bfloat16)
    with writer(tmp_path) as w:
        w.log(images=x, logits=logits)
    run = animlib.open_run(tmp_path / w.run_ids[0])
    np.testing.assert_array_equal(run.images[0], np.moveaxis(x[0].float().numpy(), 0, -1))
    expected = torch.softmax(logits.float(), dim=1)[0].numpy()
    np.testing.assert_allclose(run.confidences[0], expected, rtol=1e-6)


def bf16_softmax(torch, b: int, k: int, seed: int = 0):
    """What a bfloat16 model's ``softmax(-1)`` gives: rows summing to 1 within ~0.4%."""
    gen = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(b, k, generator=gen).to(torch.bfloat16) * 3, -1)


def test_a_bfloat16_softmax_is_taken_as_confidences(tmp_path):
    """Its sums (0.9985-1.0019) were refused as "not summing to 1"; a float32 row off by as
    much is still refused."""
    torch = pytest.importorskip("torch")
    p = bf16_softmax(torch, B, len(CLASSES))
    assert (p.float().sum(-1) - 1).abs().max() > 1e-3  # (what was refused)
    with writer(tmp_path) as w:
        w.log(images=batch(0), confidences=p)
    run = animlib.open_run(tmp_path / w.run_ids[0])
    np.testing.assert_array_equal(run.confidences[0], p[0].float().numpy())
    with writer(tmp_path, experiment="as-list") as w:  # (a list of bfloat16 tensors)
        w.log(images=batch(0), confidences=list(p))
    with pytest.raises(ExperimentInputError, match="do not sum to 1"):
        with writer(tmp_path, experiment="f32") as w:
            w.log(images=batch(0), confidences=p.float().numpy())


@pytest.mark.parametrize("kind", ["requires_grad", "bfloat16"])
def test_originals_may_be_any_tensor_the_steps_may_be(tmp_path, kind):
    """``originals=`` of a tensor that requires grad (an FGSM tutorial's ``data``) or of
    bfloat16 raised torch's RuntimeError/TypeError from a check for shared memory."""
    torch = pytest.importorskip("torch")
    x = torch.tensor(batch(0))
    x = x.requires_grad_() if kind == "requires_grad" else x.to(torch.bfloat16)
    with writer(tmp_path, originals=x) as w:
        w.log(images=batch(1), confidences=probs(1))
    run = animlib.open_run(tmp_path / w.run_ids[0])
    np.testing.assert_array_equal(run.original, np.moveaxis(x[0].detach().float().numpy(), 0, -1))


def test_originals_are_copied_from_a_tensor_the_attack_then_changes(tmp_path):
    torch = pytest.importorskip("torch")
    x = torch.tensor(batch(0))
    clean = x.numpy().copy()
    with writer(tmp_path, originals=x) as w:
        x += 0.5  # the attack's random start, in place, before step 0 is logged
        w.log(images=batch(1), confidences=probs(1))
    run = animlib.open_run(tmp_path / w.run_ids[0])
    np.testing.assert_array_equal(run.original, np.moveaxis(clean[0], 0, -1))


def test_samples_that_stop_early(tmp_path):
    with writer(tmp_path) as w:
        for step in range(4):
            active = None if step < 2 else [True, False, True, step < 3]
            w.log(images=batch(step), confidences=probs(step), active=active)
    lengths = [len(animlib.open_run(tmp_path / r)) for r in w.run_ids]
    assert lengths == [4, 2, 4, 3]
    with pytest.raises(ExperimentInputError, match="step 0"), writer(tmp_path, experiment="x") as w:
        w.log(images=batch(0), confidences=probs(0), active=[True, False, True, True])


def eventually(check, timeout: float = 2.0):
    """``check()``'s value once it is truthy, polling for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def test_readers_see_each_step_while_the_experiment_runs(tmp_path):
    # steps are written in the background: a reader sees each one within 2 s of its log call
    def steps_seen(step):
        infos = animlib.list_runs(tmp_path)
        return len(infos) == B and {i.get("steps") for i in infos} == {step + 1}

    with writer(tmp_path) as w:
        for step in range(3):
            w.log(images=batch(step), confidences=probs(step))
            assert eventually(lambda s=step: steps_seen(s))
            assert {i.get("status") for i in animlib.list_runs(tmp_path)} == {"running"}
            exps = animlib.list_experiments(tmp_path)
            assert [e.id for e in exps] == ["pgd-eps0.1"] and exps[0].get("status") == "running"
            assert len(animlib.open_run(tmp_path / w.run_ids[1])) == step + 1
        w.log(images=batch(3), confidences=probs(3))
        w.flush()  # written now, not in the background
        assert {i.get("steps") for i in animlib.list_runs(tmp_path)} == {4}


def test_a_short_experiment_is_written_at_close_with_no_temporary_files_left(tmp_path):
    # shorter than the flush interval: the background only prepares (the group, the clean
    # image, the first flush's files); closing writes every step once
    with writer(tmp_path, originals=batch(0)) as w:
        for step in range(3):
            w.log(images=batch(step), confidences=probs(step), loss=step)
    assert list(tmp_path.rglob(".tmp-*")) == []
    for i, run_id in enumerate(w.run_ids):
        run = animlib.open_run(tmp_path / run_id)
        assert len(run) == 3 and run.status == "finished"
        np.testing.assert_array_equal(run.images[2], np.moveaxis(batch(2)[i], 0, -1))
    assert all(r.ok for r in animlib.validate(tmp_path))


def test_reserved_temporary_files_are_filled_or_dropped(tmp_path):
    store = LocalStore(tmp_path)
    store.reserve_temp("a.json")
    store.reserve_temp("b.json")
    assert len(list(tmp_path.glob(".tmp-*"))) == 2
    store.write_atomic("a.json", b"{}")
    assert (tmp_path / "a.json").read_bytes() == b"{}"
    assert len(list(tmp_path.glob(".tmp-*"))) == 1
    store.drop_temps()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


# ------------------------------------------------------------------------------- bad input
BAD_FIRST_STEPS = [
    # (kwargs to log, field, sample named, words in the message)
    (dict(images=batch(0, b=3), confidences=probs(0)), "images", None, "batch of 3"),
    (dict(images=batch(0), confidences=probs(0, b=5)), "confidences", None, "batch of 5"),
    (dict(images=batch(0), confidences=probs(0, k=4)), "confidences", None, "4 classes"),
    (dict(images=batch(0), confidences=np.log(probs(0))), "confidences", 0, "logits"),
    (dict(images=batch(0), confidences=probs(0), loss=[1.0, 2.0, np.nan, 0]), "loss", 2, "nan"),
    (dict(images=batch(0), confidences=probs(0), loss=np.ones(3)), "loss", None, "batch of 3"),
    (dict(images=batch(0) * 2, confidences=probs(0)), "images", 0, "[0, 1]"),
    (dict(images=batch(0)[:, :2], confidences=probs(0)), "images", None, "channels"),
    (dict(images=batch(0).astype(np.int32), confidences=probs(0)), "images", None, "uint8"),
    (dict(images=batch(0), confidences=probs(0), logits=probs(0)), "confidences", None, "not both"),
]


@pytest.mark.parametrize("kwargs,field,sample,words", BAD_FIRST_STEPS)
def test_a_bad_first_batch_raises_one_error_and_writes_nothing(
    tmp_path, kwargs, field, sample, words
):
    with pytest.raises(animlib.RunInputError) as info, writer(tmp_path) as w:
        w.log(**kwargs)
    err = info.value
    assert isinstance(err, ExperimentInputError) and err.field == field and err.sample == sample
    assert err.experiment == "pgd-eps0.1" and words.lower() in str(err).lower()
    head = "experiment 'pgd-eps0.1'" + (f" sample {sample}" if sample is not None else "")
    assert str(err).startswith(f"{head}: {field}: ")
    assert run_dirs(tmp_path) == []  # nothing half-written


def test_nan_in_one_sample_names_that_sample(tmp_path):
    images, conf = batch(0), probs(0)
    images[2, 1, 3, 3] = np.nan
    w = writer(tmp_path, sample_ids=[10, 11, 12, 13])
    with pytest.raises(ExperimentInputError) as info:
        w.log(images=images, confidences=conf)
    assert str(info.value).startswith("experiment 'pgd-eps0.1' sample 12: images: contains 1 NaN")
    assert info.value.run == "pgd-eps0.1-0012"
    conf[1, 0] = np.nan
    with pytest.raises(ExperimentInputError, match=r"sample 11: confidences: contains NaN"):
        w.log(images=batch(0), confidences=conf)
    w.finish()
    assert run_dirs(tmp_path) == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, 2.0, -1 / 255, 1.0000001])
def test_bad_value_in_grid_images_is_refused(tmp_path, bad):
    """Images on the 1/255 grid are range-checked through their few off-grid values."""
    images = np.round(batch(0) * 255).astype(np.float32) / np.float32(255)
    images[3, 0, 2, 1] = bad
    w = writer(tmp_path)
    with pytest.raises(ExperimentInputError, match=r"sample 3: images: ") as info:
        w.log(images=images, confidences=probs(0))
    assert info.value.field == "images"
    w.log(
        images=np.round(batch(1) * 255).astype(np.float32) / np.float32(255), confidences=probs(1)
    )
    w.finish()
    assert len(run_dirs(tmp_path)) == B


def test_labels_out_of_range_and_disagreeing_batch_sizes(tmp_path):
    with pytest.raises(ExperimentInputError, match=r"sample 2: true_labels: 3 is out of range"):
        writer(tmp_path, true_labels=[0, 1, 3, 0])
    with pytest.raises(ExperimentInputError, match=r"sample 1: target_labels: -1 is out of"):
        writer(tmp_path, target_labels=[0, -1, 0, 0])
    with pytest.raises(ExperimentInputError, match=r"target_labels: batch of 3 but .* 4 samples"):
        writer(tmp_path, target_labels=[0, 1, 0])
    with pytest.raises(ExperimentInputError, match=r"originals: batch of 2"):
        writer(tmp_path, originals=batch(0, b=2))
    with pytest.raises(ExperimentInputError, match=r"sample_ids: sample id 3 appears twice"):
        writer(tmp_path, sample_ids=[1, 3, 3, 4])
    # sample ids are no class indices: their errors say so
    with pytest.raises(ExperimentInputError, match=r"sample 1: sample_ids: -2 is negative \(exp"):
        writer(tmp_path, sample_ids=[1, -2, 3, 4])
    with pytest.raises(ExperimentInputError, match=r"sample_ids: must be integer sample ids; got"):
        writer(tmp_path, sample_ids=[1, 2.5, 3, 4])
    with pytest.raises(ExperimentInputError, match=r"true_labels: must be integer class indices"):
        writer(tmp_path, true_labels=[0, 1, 0.5, 0])
    # without class names the label range is known from the first confidences
    w = writer(tmp_path, class_names=None, true_labels=[0, 1, 5, 0])
    with pytest.raises(ExperimentInputError, match=r"sample 2: true_labels: 5 is out of range"):
        w.log(images=batch(0), confidences=probs(0))
    w.finish()
    assert run_dirs(tmp_path) == []


def test_a_bad_later_step_keeps_the_earlier_steps(tmp_path):
    with pytest.raises(ExperimentInputError) as info, writer(tmp_path) as w:
        w.log(images=batch(0), confidences=probs(0))
        w.log(images=batch(1), confidences=probs(1))
        w.log(images=batch(2, b=3), confidences=probs(2, b=3))  # B changed
    assert info.value.field == "images" and "batch of 3" in str(info.value)
    for run_id in w.run_ids:
        run = animlib.open_run(tmp_path / run_id)
        assert len(run) == 2 and run.status == "failed" and "batch of 3" in run.meta["error"]
    w = writer(tmp_path, if_exists="overwrite")
    w.log(images=batch(0), confidences=probs(0))
    for kwargs, match in [
        (dict(images=batch(1, shape=(3, 8, 8)), confidences=probs(1)), "shape"),
        (dict(images=(batch(1) * 255).astype(np.uint8), confidences=probs(1)), "uint8"),
        (dict(images=batch(1)), "confidences"),
    ]:
        with pytest.raises(ExperimentInputError, match=match):
            w.log(**kwargs)
    assert len(w) == 1
    w.finish()
    assert all(len(animlib.open_run(tmp_path / r)) == 1 for r in w.run_ids)
    with pytest.raises(ExperimentInputError) as info:
        w.log(images=batch(1), confidences=probs(1))
    assert info.value.code == Code.CLOSED


def test_a_batch_writer_shows_its_experiment_steps_and_whether_it_is_open(tmp_path):
    """A notebook cell showing a BatchWriter printed "<animlib.experiment_writer.BatchWriter
    at 0x...>"."""
    with writer(tmp_path) as w:
        shown = "BatchWriter(experiment='pgd-eps0.1', samples=4, steps=0, status='open', "
        shown += f"root={str(tmp_path)!r})"
        assert repr(w) == shown
        w.log(images=batch(0), confidences=probs(0))
        assert repr(w) == shown.replace("steps=0", "steps=1")
    assert repr(w) == shown.replace("steps=0", "steps=1").replace("'open'", "'closed'")


def test_ctrl_c_in_the_with_block_records_keyboardinterrupt_without_a_colon(tmp_path):
    """The runs of a notebook cell interrupted by Ctrl-C recorded "KeyboardInterrupt: "."""
    with pytest.raises(KeyboardInterrupt), writer(tmp_path) as w:
        w.log(images=batch(0), confidences=probs(0))
        raise KeyboardInterrupt
    for run_id in w.run_ids:
        run = animlib.open_run(tmp_path / run_id)
        assert run.status == "failed" and run.meta["error"] == "KeyboardInterrupt"


# ------------------------------------------------------------------------------- reruns
def _write(root, **kw) -> animlib.BatchWriter:
    with writer(root, **kw) as w:
        w.log(images=batch(0), confidences=probs(0))
        w.log(images=batch(1), confidences=probs(1))
    return w


def test_if_exists_new_error_overwrite(tmp_path):
    first = _write(tmp_path)
    second = _write(tmp_path)  # "new" is the default
    assert second.experiment == "pgd-eps0.1-2" and second.run_ids[0] == "pgd-eps0.1-2-0000"
    named = "if_exists: 4 runs named like this experiment.s samples exist"
    with pytest.raises(ExperimentInputError, match=named):
        writer(tmp_path, if_exists="error")
    other = _write(tmp_path, experiment="other")
    before = {r: (tmp_path / r / "run.json").read_text() for r in other.run_ids}
    third = _write(tmp_path, if_exists="overwrite", true_labels=[2, 2, 2, 2])
    assert third.experiment == "pgd-eps0.1"
    assert run_dirs(tmp_path) == sorted(first.run_ids + second.run_ids + other.run_ids)
    for run_id in first.run_ids:
        assert animlib.open_run(tmp_path / run_id).meta["true_label"] == 2
    for run_id, text in before.items():  # other experiments are left alone
        assert (tmp_path / run_id / "run.json").read_text() == text
    with pytest.raises(ExperimentInputError, match="unknown|must be one of"):
        writer(tmp_path, if_exists="replace")


def test_overwrite_replaces_the_old_runs_only_once_a_first_step_is_logged(tmp_path):
    """A rerun that crashes before logging, or whose first batch is refused, leaves the old
    experiment as it was; the first good step replaces it (its extra samples included)."""
    old = _write(tmp_path)
    before = {r: (tmp_path / r / "run.json").read_text() for r in old.run_ids}
    with pytest.raises(RuntimeError), writer(tmp_path, if_exists="overwrite"):
        raise RuntimeError("the attack crashed before its first step")
    w = writer(tmp_path, if_exists="overwrite", true_labels=None)
    with pytest.raises(ExperimentInputError, match="must lie in"):
        w.log(images=batch(0) * 3, confidences=probs(0))  # refused: nothing changes yet
    assert {r: (tmp_path / r / "run.json").read_text() for r in old.run_ids} == before
    w.log(images=batch(0, b=2), confidences=probs(0, b=2))
    w.finish()
    assert run_dirs(tmp_path) == old.run_ids[:2]  # all 4 old ones went, 2 new ones came
    assert all(len(animlib.open_run(tmp_path / r)) == 1 for r in run_dirs(tmp_path))


def test_long_names_that_differ_at_their_ends_stay_two_experiments(tmp_path):
    """Experiment ids are at most 64 characters: two long names alike for longer than that
    (an ε sweep with the ε last) must not become one id (one would overwrite the other)."""
    stem = "resnet18-cifar10-linf-pgd-steps100-restarts5-alpha0.00784313725490196"
    names = [f"{stem}-eps0.0313725490196", f"{stem}-eps0.0627450980392"]
    ids = [_write(tmp_path, experiment=n, if_exists="overwrite").experiment for n in names]
    assert ids[0] != ids[1] and all(len(i) == 64 and i.startswith(stem[:40]) for i in ids)
    assert sorted(e.id for e in animlib.list_experiments(tmp_path)) == sorted(ids)
    assert _write(tmp_path, experiment=names[0], if_exists="overwrite").experiment == ids[0]
    assert writer(tmp_path, experiment="a" * 64).experiment == "a" * 64  # short enough: as is
    # resume takes the name given to the writer as well as the id it became
    resumed = animlib.BatchWriter.resume(tmp_path, names[1])
    resumed.finish()
    assert resumed.experiment == ids[1] and len(resumed) == 2


def test_overwrite_leaves_runs_of_no_experiment_alone(tmp_path):
    with animlib.RunWriter(tmp_path, name="mine-0001") as w:  # named like a sample, but a plain run
        w.log(image=np.zeros((4, 4, 1), np.float32))
    with pytest.raises(ExperimentInputError, match="'mine-0001' is named like a sample"):
        writer(tmp_path, experiment="mine", if_exists="overwrite")
    assert run_dirs(tmp_path) == ["mine-0001"]
    assert writer(tmp_path, experiment="mine").experiment == "mine-2"


@pytest.mark.parametrize("kind", ["plain folder", "damaged run"])
def test_overwrite_leaves_folders_that_are_no_runs_of_it_alone(tmp_path, kind):
    """An overwrite removed every folder named like a sample: a user's notes folder, a user's
    run whose run.json a hand edit broke."""
    first = _write(tmp_path, experiment="myexp")
    stranger = tmp_path / "myexp-0099"
    if kind == "plain folder":
        stranger.mkdir()
        (stranger / "thesis-draft.txt").write_text("mine")
    else:
        shutil.copytree(tmp_path / first.run_ids[0], stranger)
        (stranger / "run.json").write_text("{broken")
    with pytest.raises(ExperimentInputError, match="'myexp-0099' is named like a sample"):
        writer(tmp_path, experiment="myexp", if_exists="overwrite")
    assert stranger.exists() and all((tmp_path / r).exists() for r in first.run_ids)
    assert not list(tmp_path.glob("*/.writer.lock"))


@pytest.mark.parametrize("when", ["before the writer", "before the first step"])
def test_overwrite_refuses_runs_holding_files_their_writer_did_not_make(tmp_path, when):
    """Overwrite removed the old sample runs whole: a NOTES.md and a myrenders/ folder the user
    had put in them were lost. Now the overwrite is refused before any sample is touched, by
    the writer or (files added since) at the first step, naming the run and the files."""
    old = _write(tmp_path)
    before = {r: sorted(p.relative_to(tmp_path) for p in (tmp_path / r).rglob("*"))
              for r in old.run_ids}  # fmt: skip

    def add_files() -> None:
        (tmp_path / old.run_ids[1] / "NOTES.md").write_text("my notes")
        (tmp_path / old.run_ids[3] / "myrenders").mkdir()
        (tmp_path / old.run_ids[3] / "myrenders" / "a.txt").write_text("x")

    if when == "before the writer":
        add_files()
        with pytest.raises(ExperimentInputError) as info:
            writer(tmp_path, if_exists="overwrite")
    else:
        w = writer(tmp_path, if_exists="overwrite")
        add_files()
        with pytest.raises(ExperimentInputError) as info:
            w.log(images=batch(5), confidences=probs(5))
        w.finish()
    said = str(info.value)
    assert info.value.field == "if_exists" and info.value.run == old.run_ids[1]
    assert "holds files its writer did not make (NOTES.md)" in said
    assert "if_exists='new'" in said
    for run_id, files in before.items():  # every sample as it was, the user's files kept
        now = sorted(p.relative_to(tmp_path) for p in (tmp_path / run_id).rglob("*"))
        assert [p for p in now if p.name not in ("NOTES.md", "myrenders", "a.txt")] == files
        assert len(animlib.open_run(tmp_path / run_id)) == 2
    assert (tmp_path / old.run_ids[3] / "myrenders" / "a.txt").read_text() == "x"
    assert run_dirs(tmp_path) == old.run_ids


def test_overwrite_refuses_runs_a_writer_of_another_process_holds(tmp_path):
    opening = f"""
w = animlib.BatchWriter({str(tmp_path)!r}, experiment="pgd-eps0.1")
w.log(images=np.zeros(({B}, 8, 6, 3), np.float32))
w.flush()
"""
    with writer_of_another_process(opening) as pid:
        for how in ("overwrite", "error"):
            with pytest.raises(ExperimentInputError) as info:
                writer(tmp_path, if_exists=how)
            assert info.value.code == Code.BUSY
            assert f"another writer (pid {pid} on" in info.value.message
            assert "writing this experiment (its run 'pgd-eps0.1-0000')" in info.value.message
        assert _write(tmp_path).experiment == "pgd-eps0.1-2"
    assert len(run_dirs(tmp_path)) == 2 * B


def test_resume_refused_by_a_writer_of_another_process_names_the_experiment(tmp_path):
    """BatchWriter.resume of an experiment another process writes said "experiment 'x': lock:
    another writer (pid N on host) is writing this run", naming no run. Now it says the
    experiment (and which of its runs) is being written."""
    opening = f"""
w = animlib.BatchWriter({str(tmp_path)!r}, experiment="pgd-eps0.1")
w.log(images=np.zeros(({B}, 8, 6, 3), np.float32))
w.flush()
"""
    with writer_of_another_process(opening) as pid:
        with pytest.raises(ExperimentInputError) as info:
            animlib.BatchWriter.resume(tmp_path, "pgd-eps0.1")
    assert info.value.code == Code.BUSY and info.value.experiment == "pgd-eps0.1"
    assert info.value.message == (
        f"another writer (pid {pid} on {socket.gethostname()}) is writing this experiment (its "
        "run 'pgd-eps0.1-0000'); it cannot be resumed until that writer has finished"
    )
    with animlib.BatchWriter.resume(tmp_path, "pgd-eps0.1") as w:  # once it has finished
        assert len(w) == 1


def test_overwrite_refuses_runs_a_live_writer_holds(tmp_path):
    w = writer(tmp_path)
    w.log(images=batch(0), confidences=probs(0))
    with pytest.raises(ExperimentInputError) as info:
        writer(tmp_path, if_exists="overwrite")
    assert info.value.code == Code.BUSY
    w.finish()
    assert len(run_dirs(tmp_path)) == B


def _claim(root, pid: int, host: str | None = None) -> Path:
    """The claim file of experiment ``pgd-eps0.1`` as a writer ``pid`` on ``host`` leaves it."""
    path = root / claim_name("pgd-eps0.1")
    path.write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid, "since": 0}))
    return path


def test_a_writer_creating_the_experiment_is_named_not_called_a_damaged_run(tmp_path):
    """A sample run another writer was creating (its folder and writer lock made, run.json not
    yet) was reported as "cannot be read as a run ... (remove it ...)" to an overwrite:
    advice that deletes a live run. Now: BUSY, naming that writer."""
    live = tmp_path / "pgd-eps0.1-0000"
    live.mkdir()
    (live / lock.LOCK_NAME).write_text(
        json.dumps({"host": socket.gethostname(), "pid": os.getppid()})
    )
    for how in ("overwrite", "error"):
        with pytest.raises(ExperimentInputError, match=f"pid {os.getppid()}") as info:
            writer(tmp_path, if_exists=how)
        assert info.value.code == Code.BUSY and "remove" not in info.value.message
    (live / lock.LOCK_NAME).unlink()  # the claim of the experiment says the same
    _claim(tmp_path, os.getppid())
    with pytest.raises(ExperimentInputError, match="is starting or writing this experiment"):
        writer(tmp_path, if_exists="overwrite")


def test_the_claim_of_a_writer_starting_the_experiment(tmp_path):
    """Held by a live writer: refused (BUSY) at the first step, "new" moves on; a killed
    writer's claim is taken over; none is left behind."""
    claim = _claim(tmp_path, os.getppid())
    w = writer(tmp_path, if_exists="error")  # (no runs yet: the claim decides at the 1st step)
    with pytest.raises(ExperimentInputError, match=f"another writer .pid {os.getppid()} on"):
        w.log(images=batch(0), confidences=probs(0))
    assert run_dirs(tmp_path) == []
    assert _write(tmp_path).experiment == "pgd-eps0.1-2"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _claim(tmp_path, gone.pid)
    assert _write(tmp_path, if_exists="error").experiment == "pgd-eps0.1"
    assert not claim.exists() and sorted(os.listdir(tmp_path)) == run_dirs(tmp_path)
    _claim(tmp_path, 1, host="elsewhere")  # (no telling whether it still runs)
    with pytest.raises(ExperimentInputError, match=f"pid 1 on elsewhere.*remove {claim}"):
        _write(tmp_path, if_exists="overwrite")
    assert len(run_dirs(tmp_path)) == 2 * B


RACE = """
import json, os, sys
import numpy as np
import animlib
root, sync, me, other, trials, how = sys.argv[1:]

def together(what, k):  # both processes reach this point before either goes on
    open(os.path.join(sync, f"{what}-{k}-{me}"), "w").close()
    while not os.path.exists(os.path.join(sync, f"{what}-{k}-{other}")):
        pass

x = np.full((16, 6, 6, 3), 10 if me == "a" else 20, np.uint8)
for k in range(int(trials)):
    out, w = {"k": k, "who": me}, None
    together("go", k)
    try:
        w = animlib.BatchWriter(os.path.join(root, str(k)), experiment="same", attack=me,
                                if_exists=how)
        w.log(images=x)
    except animlib.AnimlibError as exc:
        out.update(error=str(exc), code=exc.code.value, type=type(exc).__name__)
        w = None
    together("started", k)  # the winner is still writing when the other one is refused
    if w is not None:
        w.log(images=x + 1)
        w.finish()
        out["experiment"] = w.experiment
    print(json.dumps(out), flush=True)
"""


@pytest.mark.parametrize("how", ["error", "overwrite", "new"])
def test_two_processes_starting_one_experiment_at_once(tmp_path, how):
    """Two processes starting one experiment at the same instant each created some of its 16
    sample runs (in parallel) and lost the others: with "error" or "overwrite" both could be
    refused (nothing written, both jobs lost), or the loser was told the other's sample, still
    being created, "cannot be read as a run ... remove it". Now one gets the experiment and the
    other one BUSY error naming the writer; with "new" each gets its own id."""
    trials, sync = 15, tmp_path / "sync"
    sync.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path / "r"), str(sync), me, other, str(trials),
             how],
            stdout=subprocess.PIPE, env=_env(), text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]  # fmt: skip
    outcomes: dict[int, list[dict]] = {k: [] for k in range(trials)}
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        for line in out.splitlines():
            got = json.loads(line)
            outcomes[got["k"]].append(got)
    for k, both in outcomes.items():
        root = tmp_path / "r" / str(k)
        won = {o["experiment"]: o["who"] for o in both if "experiment" in o}
        if how == "new":
            assert sorted(won) == ["same", "same-2"], both
        else:
            assert len(won) == 1, both  # one winner
            (lost,) = [o for o in both if "error" in o]
            assert lost["type"] == "ExperimentInputError" and lost["code"] == "busy", lost
            assert "another writer (pid" in lost["error"] and "remove" not in lost["error"]
        assert sorted(os.listdir(root)) == sorted(  # no half runs, no claim left behind
            f"{e}-{s:04d}" for e in won for s in range(16)
        )
        for experiment, who in won.items():
            for s in range(16):
                run = animlib.open_run(root / f"{experiment}-{s:04d}")
                assert (run.meta["attack"], run.meta["status"], len(run)) == (who, "finished", 2)


CRASH = """
import os, signal, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_experiment_writer import batch, probs, writer
w = writer({root!r}, originals=batch(0))
for step in range(3):
    w.log(images=batch(step), confidences=probs(step))
w.flush()  # what a SIGKILL keeps: the steps written so far (the background writes within ~1 s)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_resume_after_a_crash(tmp_path):
    code = CRASH.format(tests=os.path.dirname(__file__), root=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=_env(), timeout=120)
    assert proc.returncode != 0
    infos = animlib.list_runs(tmp_path)
    assert len(infos) == B and {i.get("status") for i in infos} == {"running"}
    w = animlib.BatchWriter.resume(tmp_path, "pgd-eps0.1")
    assert len(w) == 3 and w.batch_size == B and w.sample_ids == [0, 1, 2, 3]
    with pytest.raises(
        ExperimentInputError, match="a writer in this process is writing this experiment"
    ):
        animlib.BatchWriter.resume(tmp_path, "pgd-eps0.1")
    with w:
        w.log(images=batch(3), confidences=probs(3))
    for i, run_id in enumerate(w.run_ids):
        run = animlib.open_run(tmp_path / run_id)
        assert len(run) == 4 and run.status == "finished" and run.meta["sample"] == i
        np.testing.assert_array_equal(run.images[3], np.moveaxis(batch(3)[i], 0, -1))
        np.testing.assert_array_equal(run.original, np.moveaxis(batch(0)[i], 0, -1))
    with pytest.raises(ExperimentInputError, match="no runs of this experiment"):
        animlib.BatchWriter.resume(tmp_path, "nope")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    return env


def test_odd_batches_and_layouts_get_clear_errors_before_anything_is_written(tmp_path):
    """An empty batch, a layout that does not exist (refused when the writer is made, for
    RunWriter too), channels missing where the layout says, and a batch size fixed by the
    labels each name the field and say what they got."""
    with pytest.raises(ExperimentInputError, match="images: the batch is empty"):
        writer(tmp_path, true_labels=None).log(images=np.zeros((0, 1, 8, 8), np.float32))
    with pytest.raises(ExperimentInputError, match="layout: must be one of auto, HWC, CHW, HW"):
        writer(tmp_path, layout="NCHW")
    with pytest.raises(animlib.RunInputError, match="layout: must be one of"):
        animlib.RunWriter(tmp_path, name="r", layout="NCHW")
    chw = writer(tmp_path, true_labels=None, layout="CHW")
    with pytest.raises(ExperimentInputError, match=r"got shape \(2, 8, 8, 3\), whose second"):
        chw.log(images=np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ExperimentInputError, match="batch of 5 but the experiment has 4 samples"):
        writer(tmp_path).log(images=np.zeros((5, 1, 8, 8), np.float32))
    assert run_dirs(tmp_path) == []


def test_tensor_and_float32_params_are_stored_as_the_numbers_they_are(tmp_path):
    torch = pytest.importorskip("torch")
    params = {
        "eps": torch.tensor(0.1),
        "alpha": torch.tensor(0.01, requires_grad=True),
        "steps": np.int64(20),
        "scale": np.float32(0.1),
        "mean": np.array([0.5, 0.25], np.float32),
    }
    with writer(tmp_path, params=params) as w:
        w.log(images=batch(0), confidences=probs(0))
    stored = animlib.open_run(tmp_path / w.run_ids[0]).params
    assert stored == {"eps": 0.1, "alpha": 0.01, "steps": 20, "scale": 0.1, "mean": [0.5, 0.25]}
    (row,) = animlib.summarize(tmp_path, by=["params.eps"]).to_dict("records")
    assert row["params.eps"] == 0.1


def test_targets_equal_to_the_true_labels_are_warned_about(tmp_path):
    """A targeted experiment aiming samples at their own class (random targets drawn without
    excluding it) warns, naming the experiment and the samples, at the user's line."""
    import warnings as w

    with pytest.warns(
        UserWarning, match=r"'tgt': target_labels equal true_labels for 2 of 4 "
    ) as got:
        animlib.BatchWriter(
            tmp_path,
            experiment="tgt",
            true_labels=[0, 1, 2, 0],
            target_labels=[1, 1, 0, 0],
            sample_ids=[10, 11, 12, 13],
        ).finish()
    assert "(sample 11, 13)" in str(got[0].message) and got[0].filename == __file__
    with w.catch_warnings():
        w.simplefilter("error")  # different targets (or none): no warning
        animlib.BatchWriter(
            tmp_path, experiment="t2", true_labels=[0, 1], target_labels=[1, 0]
        ).finish()
        animlib.BatchWriter(tmp_path, experiment="u", true_labels=[0, 1]).finish()


def test_a_batch_size_mismatch_names_the_argument_that_set_it(tmp_path):
    with pytest.raises(ExperimentInputError, match=r"originals: batch of 4 .* size of true_labels"):
        animlib.BatchWriter(
            tmp_path, experiment="x", true_labels=[0, 1, 2], originals=np.zeros((4, 8, 8, 3))
        )
    with pytest.raises(ExperimentInputError, match=r"target_labels: .* size of true_labels"):
        animlib.BatchWriter(tmp_path, experiment="x", true_labels=[0, 1], target_labels=[1, 0, 1])
    # at log time too (it said "as its labels, sample ids, originals or first step say")
    with writer(tmp_path, true_labels=[0, 1]) as w:
        with pytest.raises(ExperimentInputError, match=r"batch of 4 .* 2 .*size of true_labels"):
            w.log(images=batch(0), confidences=probs(0))
    with writer(tmp_path / "b", true_labels=None, if_exists="overwrite") as w:
        w.log(images=batch(0), confidences=probs(0))
        with pytest.raises(ExperimentInputError, match=r"batch of 3 .* 4 .*as its first step says"):
            w.log(images=batch(1, b=3), confidences=probs(1, b=3))
    resumed = animlib.BatchWriter.resume(tmp_path / "b", experiment="pgd-eps0.1")
    with pytest.raises(ExperimentInputError, match=r"4 samples \(as its stored sample runs say"):
        resumed.log(images=batch(1, b=3), confidences=probs(1, b=3))
    resumed.finish()


@pytest.mark.parametrize(
    ("scores", "hint"),
    [
        ([[0.5, 0.48], [0.5, 0.5]], "do not sum to 1: divide them by their sum"),
        ([[2.0, -1.0], [0.5, 0.5]], "these look like logits"),
        ([[1.003, -0.003], [0.5, 0.5]], r"off \[0, 1\] by more than rounding.*clip them"),
    ],
)
def test_bad_confidences_get_the_hint_that_fits(tmp_path, scores, hint):
    """Scores in [0, 1] that sum to 0.98 are no logits; scores outside [0, 1] may be."""
    w = animlib.BatchWriter(tmp_path, experiment="c", true_labels=[0, 1])
    with pytest.raises(ExperimentInputError, match=hint):
        w.log(images=np.zeros((2, 4, 4, 3), np.float32), confidences=np.array(scores))
    with pytest.raises(animlib.RunInputError, match=hint):
        with animlib.RunWriter(tmp_path, name="one") as r:
            r.log(image=np.zeros((4, 4, 3), np.float32), confidences=np.array(scores[0]))
    w.finish()


def test_probabilities_with_rounding_error_are_probabilities_not_logits(tmp_path):
    """[1 + 1e-5, -1e-5, 0] was refused as "these look like logits"; logged as logits= (as
    told), it was stored as [0.576, 0.212, 0.212]: a sure prediction read as 58 %."""
    near = np.array([1 + 1e-5, -1e-5, 0.0])
    with animlib.RunWriter(tmp_path, name="r", class_names=CLASSES, true_label=0) as r:
        r.log(image=batch(0)[0], confidences=near)  # rounding: clipped when stored
        with pytest.raises(animlib.RunInputError, match="look like probabilities"):
            r.log(image=batch(0)[0], logits=near)
        with pytest.raises(animlib.RunInputError, match=r"after clipping them to \[0, 1\]"):
            r.log(image=batch(0)[0], logits=[1.003, -0.003, 0.0])  # (confidences= refuses it)
    np.testing.assert_array_equal(animlib.open_run(tmp_path / "r").confidences, [[1, 0, 0]])
    with writer(tmp_path / "b") as w:
        w.log(images=batch(0), confidences=np.tile(near, (B, 1)))
        with pytest.raises(ExperimentInputError, match="look like probabilities"):
            w.log(images=batch(0), logits=np.tile(near, (B, 1)))


def test_an_experiments_samples_list_together_newest_first(tmp_path, monkeypatch):
    """Samples created across a second boundary still list as one block in sample order:
    they share the experiment's creation time."""
    import itertools

    from animlib import meta

    clock = itertools.count()
    real = meta.now_iso

    def ticking() -> str:  # a new second at every call, as on a slow disk with many samples
        from datetime import datetime, timedelta

        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(clock))
        return at.isoformat()

    monkeypatch.setattr(meta, "now_iso", ticking)
    with animlib.BatchWriter(tmp_path, experiment="e", true_labels=np.zeros(12, int)) as w:
        w.log(images=np.zeros((12, 4, 4, 3), np.float32), confidences=np.full((12, 2), 0.5))
    monkeypatch.setattr(meta, "now_iso", real)
    listed = [i.id for i in animlib.list_runs(tmp_path)]
    assert listed == w.run_ids  # e-0000 ... e-0011


def test_resume_with_a_sample_whose_run_json_is_damaged_names_it(tmp_path):
    """Resume called such a sample "not in the folder (deleted or moved)", went on without it,
    and the next batch failed: "batch of 2 but the experiment has 1 samples"."""
    with animlib.BatchWriter(tmp_path, experiment="exp", class_names=list("abc")) as w:
        for _ in range(3):
            w.log(images=np.zeros((2, 4, 4, 3)), confidences=np.full((2, 3), 1 / 3))
    path = tmp_path / "exp-0001" / "run.json"
    path.write_bytes(path.read_bytes()[:100])  # a kill mid-write of another tool
    with pytest.raises(animlib.ExperimentInputError) as err:
        animlib.BatchWriter.resume(tmp_path, "exp")
    assert err.value.run == "exp-0001" and err.value.field == "run.json"
    assert "the run exp-0001, named as its sample 1, cannot be read (" in str(err.value)
    assert "not valid JSON" in str(err.value)
    for other in ("other-0001", "exp-2024"):  # another experiment's, a run named by a date
        (tmp_path / other).mkdir()
        (tmp_path / other / "run.json").write_text("{")
    shutil.rmtree(tmp_path / "exp-0001")
    with pytest.warns(UserWarning, match="1 of its 2 sample runs are not in"):
        animlib.BatchWriter.resume(tmp_path, "exp").finish()


def test_resume_by_a_name_several_experiments_were_made_from_says_which_to_pick(tmp_path):
    """A rerun with if_exists="new" makes a second experiment of the same name; resuming by
    that name re-opened the first (a finished one) silently and added the steps there."""
    name = "CW c=1 (my sweep)"
    for _ in range(2):
        with writer(tmp_path, experiment=name) as w:
            w.log(images=batch(0), confidences=probs(0))
    ids = sorted({i.get("experiment") for i in animlib.list_runs(tmp_path)})
    assert ids == ["CW-c-1-my-sweep", "CW-c-1-my-sweep-2"]
    with pytest.raises(ExperimentInputError, match="2 experiments were made from this name") as e:
        animlib.BatchWriter.resume(tmp_path, name)
    assert "CW-c-1-my-sweep, CW-c-1-my-sweep-2" in str(e.value) and e.value.field == "experiment"
    resumed = animlib.BatchWriter.resume(tmp_path, "CW-c-1-my-sweep-2")  # by its id
    assert resumed.experiment == "CW-c-1-my-sweep-2" and resumed.next_step == 1
    resumed.finish()
    with writer(tmp_path / "one", experiment=name) as w:  # one experiment of that name
        w.log(images=batch(0), confidences=probs(0))
    resumed = animlib.BatchWriter.resume(tmp_path / "one", name)
    assert resumed.experiment == "CW-c-1-my-sweep"
    resumed.finish()


def test_probabilities_given_as_logits_and_a_step_scalar_are_refused(tmp_path):
    """Probabilities passed as logits= were softmaxed again (every confidence squashed
    towards 1/K); log(..., step=i), a W&B habit, made a scalar named step. Both writers."""
    p = probs(0)
    with writer(tmp_path) as w:
        with pytest.raises(ExperimentInputError, match="look like probabilities") as e:
            w.log(images=batch(0), logits=p)
        assert e.value.field == "logits"
        with pytest.raises(ExperimentInputError, match="numbers the steps itself") as e:
            w.log(images=batch(0), confidences=p, step=3)
        assert e.value.field == "step"
        w.log(images=batch(0), logits=np.log(p) + 2.0, loss=1.0)  # real logits: fine
    kw = dict(class_names=CLASSES, true_label=0)
    with animlib.RunWriter(tmp_path / "one", name="r", **kw) as r:
        with pytest.raises(animlib.RunInputError, match="look like probabilities"):
            r.log(image=batch(0)[0], logits=p[0])
        with pytest.raises(animlib.RunInputError, match="numbers the steps itself"):
            r.log(image=batch(0)[0], confidences=p[0], step=1)
        r.log(image=batch(0)[0], logits=[2.0, 0.5, -1.0])
    assert len(animlib.open_run(tmp_path / "one" / r.run_id)) == 1


def test_an_image_just_over_1_shows_enough_digits_to_see_it(tmp_path):
    """1.00000095 (float rounding) read "[0, 1]; got values in [0, 1]"."""
    x = batch(0)
    x[2, 0, 0, 0] = np.float32(1.000001)
    with writer(tmp_path) as w:
        with pytest.raises(ExperimentInputError, match=r"got values in \[.*, 1\.00000095\] \(fl"):
            w.log(images=x, confidences=probs(0))
    with animlib.RunWriter(tmp_path / "one", name="r", class_names=CLASSES, true_label=0) as r:
        with pytest.raises(animlib.RunInputError, match=r"1\.00000095\] \(float rounding"):
            r.log(image=x[2], confidences=probs(0)[0])
        bytes_like = np.full((3, 8, 6), 0.5, np.float32)
        bytes_like[0, 0, 0] = 255.0  # an 8-bit image as floats: no rounding hint
        with pytest.raises(animlib.RunInputError, match=r"got values in \[0\.5, 255\]$"):
            r.log(image=bytes_like, confidences=probs(0)[0])
        r.log(image=x[0], confidences=probs(0)[0])


def test_ctrl_c_during_a_step_reaches_every_sample_or_none(tmp_path, monkeypatch):
    """A Ctrl-C that landed while one step was being handed to the samples left some with the
    step and the others without (their runs then disagreed with experiment_steps). It now
    waits for the step to reach every sample."""
    import signal

    from animlib.sample_sink import SampleSink

    w = writer(tmp_path)
    w.log(images=batch(0), confidences=probs(0))
    w.log(images=batch(1), confidences=probs(1))
    original, calls = SampleSink.append, []

    def interrupted(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Python raises it at the next instruction
            time.sleep(0.01)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SampleSink, "append", interrupted)
    with pytest.raises(KeyboardInterrupt):
        w.log(images=batch(2), confidences=probs(2))
    monkeypatch.undo()
    assert len(calls) == B and len(w) == 3
    w.finish("failed", "KeyboardInterrupt")
    runs = [animlib.open_run(tmp_path / run_id) for run_id in run_dirs(tmp_path)]
    assert [len(run) for run in runs] == [3] * B
    assert {run.meta["experiment_steps"] for run in runs} == {3}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_during_a_step_reaches_every_sample_or_none(tmp_path, monkeypatch):
    """SIGTERM while a writer is open is raised as Terminated (a SystemExit), held back like
    Ctrl-C until the step has reached every sample; SIGTERM's default is back once closed."""
    import signal

    from animlib import interrupts
    from animlib.interrupts import Terminated
    from animlib.sample_sink import SampleSink

    monkeypatch.setattr(interrupts, "_watchdog", lambda: None)  # (it would end pytest's process)
    monkeypatch.setattr(interrupts, "terminated", [])  # (what this process ends with: not that)
    w = writer(tmp_path)
    w.log(images=batch(0), confidences=probs(0))
    original, calls = SampleSink.append, []

    def terminated(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SampleSink, "append", terminated)
    with pytest.raises(Terminated) as exc:
        w.log(images=batch(1), confidences=probs(1))
    monkeypatch.setattr(SampleSink, "append", original)
    assert exc.value.code == 128 + signal.SIGTERM and len(calls) == B and len(w) == 2
    w.finish("failed", f"Terminated: {exc.value}")
    runs = [animlib.open_run(tmp_path / run_id) for run_id in run_dirs(tmp_path)]
    assert [len(run) for run in runs] == [2] * B
    assert {run.meta["error"] for run in runs} == {"Terminated: SIGTERM"}
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second one kills at once


@pytest.mark.parametrize("kind", ["float32", "uint8", "torch"])
def test_originals_are_copied_when_given(tmp_path, kind):
    """The writer kept the caller's array: an attack that made it its random start in place
    (``x = x0; x += noise``) before step 0 changed every run's original (and its norms)."""
    x0 = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    if kind == "uint8":
        x0 = (x0 * 255).astype(np.uint8)
    given = x0
    if kind == "torch":
        torch = pytest.importorskip("torch")
        given = torch.from_numpy(x0)  # (shares x0's memory)
    clean = x0.copy()
    w = animlib.BatchWriter(tmp_path, experiment="alias", originals=given)
    x0[:, :2] = x0[:, 2:4]  # changed in place before the first step
    w.log(images=clean)
    w.finish()
    stored = np.asarray(animlib.open_run_in(tmp_path, "alias-0001").original)
    np.testing.assert_array_equal(stored, clean[1])


def test_boolean_images_are_stored_as_runwriter_stores_them(tmp_path):
    """A mask-like bool batch: True is white (255), as RunWriter stores the same image."""
    images = np.zeros((B, 6, 5), bool)
    images[:, 2:4, 1:3] = True
    with writer(tmp_path) as w:
        w.log(images=images, confidences=probs(0))
    with animlib.RunWriter(tmp_path, name="single", class_names=CLASSES) as single:
        single.log(image=images[0], confidences=probs(0)[0])
    stored = animlib.open_run(tmp_path / "pgd-eps0.1-0000").images[0]
    assert stored.dtype == np.uint8 and stored.max() == 255 and stored.min() == 0
    assert np.array_equal(stored, animlib.open_run(tmp_path / "single").images[0])


@pytest.mark.parametrize("mask", [[0, 2, 1, 1], [0.5, 1, 1, 1]])
def test_an_active_mask_of_other_numbers_than_0_and_1_is_refused(tmp_path, mask):
    with writer(tmp_path) as w:
        w.log(images=batch(0), confidences=probs(0))
        with pytest.raises(ExperimentInputError, match="active: must hold booleans"):
            w.log(images=batch(1), confidences=probs(1), active=np.array(mask))
    assert [len(animlib.open_run(tmp_path / d)) for d in run_dirs(tmp_path)] == [1] * B


def test_a_one_element_scalar_array_is_one_value_for_every_sample(tmp_path):
    """``loss=np.array([0.5])`` (or a (1,) tensor) with B > 1: one value, as a float is."""
    with writer(tmp_path) as w:
        w.log(images=batch(0), confidences=probs(0), lr=np.array([0.01]), loss=np.float32(2))
    run = animlib.open_run(tmp_path / "pgd-eps0.1-0002")
    assert run.scalars["lr"].tolist() == [0.01] and run.scalars["loss"].tolist() == [2.0]


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_one_buffer_updated_in_place_between_logs_stores_every_step(tmp_path, dtype):
    """Steps are written later from copies: a loop reusing one array (``buf[...] = ...``, an
    attack's in-place update) keeps each step's values, not the last one's."""
    buf = np.zeros((B, 6, 5, 3), dtype)
    with writer(tmp_path) as w:
        for step in range(4):
            buf[...] = 10 * step if dtype == "uint8" else step / 10
            w.log(images=buf, confidences=probs(step))
    stored = animlib.open_run(tmp_path / "pgd-eps0.1-0001").images
    want = [10 * s if dtype == "uint8" else np.float32(s / 10) for s in range(4)]
    assert [stored[s][0, 0, 0] for s in range(4)] == want
