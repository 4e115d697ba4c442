"""Experiments from the run index's columns: the same values as from every run.json."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from test_experiments import TARGETED, TARGETS, UNTARGETED, write

import animlib
from animlib import experiment_grid as grid
from animlib import experiment_views as views
from animlib import image_tables
from animlib.experiments import AT_START, group_experiments, indexed_runs, summarize_runs
from animlib.index import experiments as indexed
from animlib.index import grid as indexed_grid
from animlib.index import open_index
from animlib.index.samples import sample_values


def _edit(root, run_id: str, change) -> None:
    path = root / run_id / "run.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def _copy(root, run_id: str, new_id: str, change) -> None:
    shutil.copytree(root / run_id, root / new_id)
    _edit(root, new_id, change)


@pytest.fixture
def plain(tmp_path):
    """Experiments as BatchWriter writes them: every run's columns are exact."""
    write(tmp_path, "pgd-a", UNTARGETED, 0.1)
    write(tmp_path, "pgd-b", UNTARGETED, 0.2, attack="BIM")
    write(tmp_path, "tgt", TARGETED, 0.1, targets=TARGETS, attack="PGD-T")
    return tmp_path


@pytest.fixture
def odd(plain):
    """Plus runs whose run.json holds what the columns cannot carry exactly, runs that are
    broken, running or stale, and samples that are text."""
    root = plain
    w = write(root, "no-orig", UNTARGETED, 0.3, originals=False)
    for run_id in w.run_ids:  # without norms in run.json (as older runs): read from the arrays
        _edit(root, run_id, lambda m: [m["summary"].pop(k) for k in ("linf", "l2")])
    _edit(root, "pgd-a-0001", lambda m: m["params"].update(eps=1))  # an int eps
    _edit(root, "pgd-b-0002", lambda m: m["params"].update(eps=[0.2]))  # not a number
    _edit(root, "tgt-0000", lambda m: m.pop("initial_pred"))  # an old targeted run: arrays read

    def running(m):
        m.update(status="running", updated="2020-01-01T00:00:00+00:00")  # long silent: stale

    _edit(root, "tgt-0003", running)
    _copy(root, "pgd-b-0000", "text-0000", lambda m: m.update(experiment="text", sample="cat-7"))
    _copy(root, "pgd-b-0001", "text-0001", lambda m: m.update(experiment="text", sample="cat-10"))
    _copy(root, "pgd-b-0003", "text-0002", lambda m: m.update(experiment="text", sample=3))
    # the same sample twice (ordered by id then), a negative one, an empty creation time
    _copy(root, "pgd-b-0000", "text-0003", lambda m: m.update(experiment="text", sample="cat-7"))
    _copy(
        root,
        "pgd-b-0001",
        "text-0004",
        lambda m: m.update(experiment="text", sample=-5, created="", updated=""),
    )
    _copy(
        root,
        "pgd-a-0000",
        "nolabel-0000",
        lambda m: m.update(experiment="nolabel", true_label=None, attack=None),
    )
    (root / "pgd-a-0002" / "run.json").write_text("{not json")  # broken: left out by both
    return root


def _index(root):
    index = open_index(root)
    index.refresh()
    return index


def _same(index) -> None:
    """Every index-side function gives what its run.json twin gives."""
    runs = indexed_runs(index, experiments_only=True)
    now = time.time()
    ours, theirs = indexed.experiments(index, now), group_experiments(runs)
    assert [(e.id, e.meta, e.run_ids) for e in ours] == [(e.id, e.meta, e.run_ids) for e in theirs]
    summary = indexed.experiment_summary(index)
    pd.testing.assert_frame_equal(summary, summarize_runs(runs, ["experiment"]))
    ids = [e.id for e in theirs]
    for chosen in (ids, ids[:2], ids[::-1][:3]):
        assert indexed_grid.grid_rows(index, chosen) == grid.grid_rows(index.infos(), chosen)
        pd.testing.assert_frame_equal(
            indexed_grid.outcomes(index, chosen), grid.outcomes(index.infos(), chosen)
        )


def test_plain_experiments_come_from_the_columns_alone(plain):
    index = _index(plain)
    rows, inexact = indexed.sample_rows(index)
    assert inexact == set() and rows.num_rows == 12  # no run.json read but first runs'
    _same(index)
    # and the values are the known ones (not merely two wrong computations that agree)
    summary = indexed.experiment_summary(index).set_index("experiment")
    assert summary.loc["pgd-a", "clean_acc"] == 0.75 and summary.loc["tgt", "n"] == 4
    assert summary.loc["pgd-a", "median_linf"] == pytest.approx(0.075)
    # a targeted experiment's rows name each sample's target (success means reaching it)
    table = indexed_grid.outcomes(index, ["tgt", "pgd-a"])
    targeted = table[table["experiment"] == "tgt"]
    assert list(targeted["target_label"]) == TARGETS
    assert list(targeted["target_class"]) == [["a", "b", "c"][t] for t in TARGETS]
    assert table[table["experiment"] == "pgd-a"]["target_class"].isna().all()


def test_odd_run_json_values_give_the_same_as_reading_them(odd):
    index = _index(odd)
    _rows, inexact = indexed.sample_rows(index)
    assert inexact == {"pgd-a", "pgd-b", "tgt", "nolabel", "no-orig"}  # read from run.json
    _same(index)
    # the public functions (and the CLI's summary) take the same way
    runs = indexed_runs(index, experiments_only=True)
    listed = [(e.id, e.meta, e.run_ids) for e in animlib.list_experiments(odd)]
    assert listed == [(e.id, e.meta, e.run_ids) for e in group_experiments(runs)]
    pd.testing.assert_frame_equal(animlib.summarize(odd), summarize_runs(runs, ["experiment"]))
    by_id = {e.id: e for e in indexed.experiments(index)}
    assert by_id["tgt"].get("status") == "stale"
    summary = indexed.experiment_summary(index).set_index("experiment")
    assert summary.loc["no-orig", "median_linf"] == pytest.approx(0.075)
    # -5, 3, cat-10, cat-7 (twice: by id)
    text_runs = ["text-0004", "text-0002", "text-0001", "text-0000", "text-0003"]
    assert by_id["text"].run_ids == text_runs


def test_a_changed_run_changes_the_summary(plain):
    index = _index(plain)
    before = indexed.experiment_summary(index).set_index("experiment")
    _edit(plain, "pgd-a-0001", lambda m: m["summary"].update(success=True, final_pred=2))
    index.refresh()
    after = indexed.experiment_summary(index).set_index("experiment")
    assert after.loc["pgd-a", "success_rate"] == before.loc["pgd-a", "success_rate"] + 0.25
    assert after.loc["pgd-a", "robust_acc"] == before.loc["pgd-a", "robust_acc"] - 0.25
    _same(index)


def test_flip_table_of_the_index_outcomes(plain):
    index = _index(plain)
    outcomes = indexed_grid.outcomes(index, ["pgd-a", "tgt"])
    table = image_tables.flip_steps(outcomes, ["pgd-a", "tgt"]).set_index("sample")
    assert table.loc[0, "pgd-a"] == 2 and table.loc[0, "tgt"] == 1
    # 1 never fooled; 2: pgd-a at step 0 (the model was wrong unattacked): no attack is the
    # fastest on it, not even tgt, which reached its target later
    assert table.loc[2, "pgd-a"] == 0 and table.loc[2, "tgt"] > 0
    assert list(table["fastest"]) == ["tgt", "–", AT_START, "pgd-a"]
    alone = image_tables.flip_steps(outcomes, ["pgd-a"]).set_index("sample")
    assert list(alone["fastest"]) == ["pgd-a", "–", AT_START, "pgd-a"]


@pytest.mark.parametrize(
    "change",
    [
        {"sample": 2.5},
        {"sample": True},
        {"true_label": "3"},
        {"created": 20260101},
        {"summary": {"success": True, "linf": float("inf"), "l2": 1.0}},
        {"summary": {"success": 1, "linf": 0.1, "l2": 1.0}},
        {"params": {"epsilon": [1, 2]}},
    ],
)
def test_values_the_columns_cannot_carry_are_not_exact(plain, change):
    meta = json.loads((plain / "pgd-a-0000" / "run.json").read_text())
    assert sample_values(meta)["exact"]
    assert not sample_values({**meta, **change})["exact"]


def test_an_experiment_whose_writer_was_killed_is_stale_at_once(plain):
    """A running experiment whose writer process of this host is gone (its locks name it) is
    ``stale`` on the experiments page at once, not after ``ANIMLIB_STALE_SECONDS``."""
    import subprocess
    import sys

    from test_experiments import images, onehotish

    w = animlib.BatchWriter(plain, experiment="killed", true_labels=[0, 1, 2, 0])
    w.log(images=images(0), confidences=onehotish([0, 1, 2, 0]))
    w.flush()
    index = _index(plain)
    status = {e.id: e.get("status") for e in indexed.experiments(index)}
    assert status["killed"] == "running" and index.writers_gone == set()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    held = {}
    for run_id in w.run_ids:  # the locks a SIGKILL leaves behind
        lock = plain / run_id / ".writer.lock"
        held[lock] = lock.read_text()
        lock.write_text(json.dumps({**json.loads(held[lock]), "pid": gone.pid}))
    before = index.signature
    index.refresh_changes()
    assert index.writers_gone == set(w.run_ids) and index.signature != before
    status = {e.id: e.get("status") for e in indexed.experiments(index)}
    assert status["killed"] == "stale" and status["pgd-a"] == "finished"
    assert index.counts().running == 0
    for lock, text in held.items():
        lock.write_text(text)
    w.finish()


def test_images_wrong_before_the_attack_are_marked(plain):
    """Sample 2's pgd-a run 'flips' at step 0 (the model was wrong unattacked): the grid row
    says so, from the index and from run.json alike; the page's note names the experiment."""
    index = _index(plain)
    rows = {r.label.split(" ·")[0]: r for r in indexed_grid.grid_rows(index, ["pgd-a", "tgt"])}
    assert rows == {
        r.label.split(" ·")[0]: r for r in grid.grid_rows(index.infos(), ["pgd-a", "tgt"])
    }
    assert rows["sample 2"].at_start == 1 and rows["sample 2"].judged == 2
    assert all(r.at_start == 0 for name, r in rows.items() if name != "sample 2")
    html = grid.grid_html(list(rows.values()), ["pgd-a", "tgt"], {})
    assert html.count(AT_START) == 1 and f"1 of these: {AT_START}" in html
    alone = indexed_grid.grid_rows(index, ["pgd-a"])
    assert grid.at_start_note(next(r for r in alone if r.at_start)) == AT_START
    summary = indexed.experiment_summary(index)
    frame = views.experiment_table(indexed.experiments(index, time.time()), summary)
    assert sorted(views.clean_misses(frame)) == [("pgd-a", 1, 4), ("pgd-b", 1, 4)]


def test_an_experiment_whose_samples_all_paused_counts_the_steps_it_logged(tmp_path):
    """Every sample stopped by step 3 (``active=``) while the attack logged 8 steps: the
    experiments table said 4 steps, and stopped moving while the attack went on."""
    x = np.zeros((2, 4, 4, 1), np.float32)
    with animlib.BatchWriter(tmp_path, experiment="paused", class_names=["a", "b"],
                             true_labels=[0, 1], originals=x) as w:  # fmt: skip
        for step in range(8):
            w.log(images=x, confidences=np.full((2, 2), 0.5), active=[step < 4, step < 3])
    assert [animlib.open_run(tmp_path / r).meta["steps"] for r in w.run_ids] == [4, 3]
    (info,) = animlib.list_experiments(tmp_path)
    assert info.meta["steps"] == 8
    index = _index(tmp_path)
    assert indexed.experiments(index)[0].meta["steps"] == 8
    _same(index)
