"""The attack summary has one owner: the same accumulator fed step by step (the writer) or over
the stored arrays (run_metrics) gives the same result."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CLASSES, image_for

import animlib
from animlib.summary import ALWAYS_STORED, KEYS, SummaryAccumulator

LABELS = [(0, None), (0, 2), (None, 3), (None, None)]


def random_run(seed: int, steps: int = 17, k: int = 4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(steps, k)) * 2 + np.linspace(0, 3, steps)[:, None] * (
        np.arange(k) == seed % k
    )
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = [image_for(i) for i in range(steps)]
    return probs.astype(np.float32), images


def feed_in_blocks(acc: SummaryAccumulator, probs, images, sizes) -> None:
    start = 0
    for size in sizes:
        stop = min(len(probs), start + size)
        if start >= stop:
            break
        block = None if probs is None else probs[start:stop]
        acc.add_steps(block, images[stop - 1], count=stop - start)
        start = stop


@pytest.mark.parametrize("true, target", LABELS)
@pytest.mark.parametrize("with_original", [True, False])
def test_incremental_equals_over_arrays(true, target, with_original):
    probs, images = random_run(seed=(true or 0) + 3 * (target or 0))
    original = images[0] if with_original else None
    step_by_step = SummaryAccumulator(true, target, original)
    for row, image in zip(probs, images, strict=True):
        step_by_step.add(row, image)
    whole = SummaryAccumulator(true, target, original)
    whole.add_steps(probs, images[-1])
    blocks = SummaryAccumulator(true, target, original)
    feed_in_blocks(blocks, probs, images, [3, 1, 5, 2, 100])
    assert step_by_step.result() == whole.result() == blocks.result()
    result = whole.result()
    assert set(result) == set(KEYS)
    assert (result["linf"] is not None) == with_original
    if true is None and target is None:
        assert result["success"] is None and result["flip_step"] is None


@pytest.mark.parametrize(
    "true, target, confidences", [(t, g, True) for t, g in LABELS] + [(None, None, False)]
)
def test_writer_summary_is_run_metrics(tmp_path, true, target, confidences):
    probs, images = random_run(seed=7)
    with animlib.RunWriter(
        tmp_path,
        name="s",
        class_names=CLASSES if confidences else None,
        true_label=true,
        target_label=target,
        original=images[0],
    ) as w:
        for i in range(9):
            w.log(image=images[i], confidences=probs[i] if confidences else None)
    with animlib.RunWriter.resume(w.url) as w2:  # the summary carries on after a resume
        for i in range(9, len(probs)):
            w2.log(image=images[i], confidences=probs[i] if confidences else None)
    run = animlib.open_run(w.url)
    metrics = animlib.run_metrics(run)
    stored = run.summary
    assert set(stored) == {k for k, v in metrics.items() if v is not None} | set(ALWAYS_STORED)
    for key in KEYS:
        if isinstance(metrics[key], float):
            assert stored.get(key) == pytest.approx(metrics[key], rel=1e-9), key
        else:
            assert stored.get(key) == metrics[key], key


def test_flip_step_counts_from_the_first_step_of_the_run():
    acc = SummaryAccumulator(0, None)
    sure = np.array([[0.9, 0.1]] * 4, dtype=np.float32)
    flipped = np.array([[0.1, 0.9]] * 2, dtype=np.float32)
    acc.add_steps(sure)
    acc.add_steps(np.concatenate([sure[:1], flipped]))
    acc.add_steps(sure[:2])
    result = acc.result()
    assert result["flip_step"] == 5 and result["success"] is False
    assert result["initial_true_conf"] == pytest.approx(0.9)
    assert acc.steps == 9


def test_a_sample_logged_again_after_a_pause_flips_at_an_experiment_step(tmp_path):
    """Sample 1 left out of steps 1 and 2, logged again at 3 where it flips: its own flip
    step is 1 (the viewer's frame), but summarize's median counted it beside the others' 2
    (1.5 where the experiment's steps give 2.5); the grid and the runs table too."""
    sure, wrong = [0.9, 0.1, 0.0], [0.1, 0.9, 0.0]
    img = np.zeros((2, 4, 4, 3), np.float32)
    with animlib.BatchWriter(tmp_path, experiment="e", attack="PGD", class_names=CLASSES[:3],
                             true_labels=[0, 0]) as w:  # fmt: skip
        w.log(images=img, confidences=[sure, sure])
        w.log(images=img + 0.1, confidences=[sure, sure], active=[True, False])
        w.log(images=img + 0.2, confidences=[wrong, sure], active=[True, False])
        w.log(images=img + 0.3, confidences=[wrong, wrong])
    one = animlib.open_run(tmp_path / "e-0001")
    assert len(one) == 2 and one.meta["summary"]["flip_step"] == 1  # its own steps
    table = animlib.summarize(tmp_path)
    assert table["median_flip_step"].tolist() == [2.5]  # flips at experiment steps 2 and 3
    from animlib.experiments import run_outcomes

    rows = run_outcomes(tmp_path).set_index("id")
    assert rows.loc["e-0001", "flip_step"] == 3 and rows.loc["e-0000", "flip_step"] == 2
    from animlib.index import open_index

    index = open_index(str(tmp_path))
    index.refresh()
    rows = index.rows(["e-0000", "e-0001"]).select(["id", "flip_step", "experiment_flip"])
    assert rows.to_pydict() == {
        "id": ["e-0000", "e-0001"],
        "flip_step": [2, 1],  # the runs table: the run's own step, as its viewer and ls say
        "experiment_flip": [2, 3],  # the experiment's numbers and grid
    }
    from animlib.experiment_grid import outcomes

    infos = animlib.list_runs(tmp_path)  # (the grid read from run.json: the same)
    assert outcomes(infos, ["e"]).set_index("run")["flip_step"].to_dict() == {
        "e-0000": 2,
        "e-0001": 3,
    }


def test_a_label_corrected_by_hand_does_not_make_a_run_both_robust_and_fooled(tmp_path):
    """summarize took success from the stored summary and robustness from the new label: one
    untargeted run then counted as robust and as fooled (robust_acc + success_rate 2)."""
    import json

    with animlib.BatchWriter(tmp_path, experiment="e", class_names=CLASSES, true_labels=[0]) as w:
        for step in range(4):
            probs = np.array([[0.1, 0.7, 0.1, 0.1]]) if step else np.array([[0.7, 0.1, 0.1, 0.1]])
            w.log(images=image_for(step)[None], confidences=probs)
    path = tmp_path / "e-0000" / "run.json"
    before = animlib.summarize(tmp_path).iloc[0]
    assert (before["robust_acc"], before["success_rate"], before["median_flip_step"]) == (0, 1, 1)
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(dict(meta, true_label=1)))  # the image was a 1 after all
    row = animlib.summarize(tmp_path).iloc[0]
    assert (row["robust_acc"], row["success_rate"]) == (1.0, 0.0)
    assert np.isnan(row["median_flip_step"])  # found with the old label: unknown
    (report,) = animlib.validate(tmp_path / "e-0000")
    assert report.field == "summary.success" and "labels give False" in report.error


def test_a_label_corrected_by_hand_gives_the_flip_step_of_the_new_label(tmp_path):
    """An edit that kept success kept the old label's flip step: the run was counted as wrong
    before the attack (clean_acc 0) and flipped at step 3 at once."""
    import json

    preds = [2, 2, 2, 7, 7]
    with animlib.BatchWriter(
        tmp_path, experiment="e", class_names=CLASSES * 3, true_labels=[2]
    ) as w:
        for step, pred in enumerate(preds):
            w.log(images=image_for(step)[None], confidences=np.eye(12)[[pred]] * 0.9 + 0.1 / 12)
    assert animlib.summarize(tmp_path).iloc[0]["median_flip_step"] == 3
    path = tmp_path / "e-0000" / "run.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), true_label=5)))
    row = animlib.summarize(tmp_path).iloc[0]
    assert (row["clean_acc"], row["success_rate"], row["median_flip_step"]) == (0, 1, 0)


def _single_run(root, name, preds, true=0, classes=("a", "b", "c")):
    """A RunWriter run (no ``initial_pred`` in its run.json) predicting ``preds`` step by step."""
    x0 = np.full((8, 8, 3), 0.5, np.float32)
    with animlib.RunWriter(
        root, name=name, attack="PGD", class_names=list(classes), true_label=true, original=x0
    ) as w:
        for step, pred in enumerate(preds):
            conf = np.full(len(classes), 0.1)
            conf[pred] = 1 - 0.1 * (len(classes) - 1)
            w.log(image=np.clip(x0 + 0.01 * step, 0, 1), confidences=conf)


def test_single_runs_never_fooled_count_as_clean(tmp_path):
    """Single runs store no ``initial_pred``: clean correctness comes from the flip step, and a
    run never fooled (flip step None) is one the model got right before the attack."""
    for name, preds in (("a", [0] * 5), ("b", [0] * 5), ("c", [0, 0, 0, 1, 1])):
        _single_run(tmp_path, name, preds)
    row = animlib.summarize(tmp_path, by="attack", experiments_only=False).iloc[0]
    assert (row["n"], row["clean_acc"], row["success_rate"]) == (3, 1.0, 1 / 3)


def test_a_single_runs_label_corrected_by_hand_leaves_its_old_flip_step_unknown(tmp_path):
    """A RunWriter run fooled at step 3 and back by the end under its old label, then
    relabelled so every step is wrong: counted as clean and flipped at step 3 it would be."""
    import json

    _single_run(tmp_path, "r", [0, 0, 0, 1, 0, 0])
    path = tmp_path / "r" / "run.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), true_label=2)))
    row = animlib.summarize(tmp_path, by="attack", experiments_only=False).iloc[0]
    assert (row["success_rate"], row["robust_acc"]) == (1.0, 0.0)
    assert np.isnan(row["clean_acc"]) and np.isnan(row["median_flip_step"])


@pytest.mark.parametrize("channel", [0, 1, 2, 3])
def test_l0_counts_a_pixel_changed_in_any_one_channel(channel):
    """L0 counts pixels changed in any channel: an attack on the blue channel alone is no L0 0."""
    from animlib.summary import perturbation_norms

    original = np.full((4, 5, 4), 0.5, np.float32)
    image = original.copy()
    image[1:3, 2, channel] += 0.25
    assert perturbation_norms(image, original)["l0"] == 2
    assert perturbation_norms(image[..., :3], original[..., :3])["l0"] == (2 if channel < 3 else 0)


def test_groups_come_in_numeric_order_whatever_way_the_numbers_print(tmp_path):
    """Rows of ``summarize(by="params.x")`` follow the numbers (1e-05 first), not their text."""
    values = [0.1, 0.03137255, 2e-05, 2, 0.0078431, 10, 1e-4]
    for i, value in enumerate(values):
        with animlib.RunWriter(
            tmp_path, name=f"r{i}", class_names=CLASSES, params={"x": value}
        ) as w:
            w.log(image=image_for(0), confidences=[0.7, 0.1, 0.1, 0.1])
    table = animlib.summarize(tmp_path, by="params.x", experiments_only=False)
    assert table["params.x"].tolist() == sorted(values)


def test_a_label_corrected_by_hand_reads_the_same_in_every_view(tmp_path, capsys):
    """After a true label was corrected to the run's final prediction, summarize counted the
    run as held while the runs table and ``ls`` still said "success, flip 1" (from the run.json
    summary of the old label) and its final true-class confidence was the old class's."""
    import json

    from animlib.cli import main
    from animlib.index import open_index

    with animlib.BatchWriter(tmp_path, experiment="e", class_names=CLASSES, true_labels=[0]) as w:
        for step in range(4):
            probs = np.array([[0.1, 0.7, 0.1, 0.1]]) if step else np.array([[0.7, 0.1, 0.1, 0.1]])
            w.log(images=image_for(step)[None], confidences=probs)
    path = tmp_path / "e-0000" / "run.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(dict(meta, true_label=1)))
    row = animlib.summarize(tmp_path).iloc[0]
    assert (row["robust_acc"], row["success_rate"]) == (1.0, 0.0)
    index = open_index(str(tmp_path))
    index.refresh()
    cols = index.rows(["e-0000"]).select(["success", "flip_step", "final_true_conf"])
    # (the model said 0 before the attack: wrong under the new label, as the viewer says)
    assert cols.to_pylist() == [{"success": False, "flip_step": 0, "final_true_conf": None}]
    assert main(["ls", str(tmp_path)]) == 0
    line = capsys.readouterr().out.splitlines()[1].split()
    assert line[0] == "e-0000" and line[-2:] == ["no", "0"], line
