"""list_experiments and summarize: one entry per experiment, one row per group, known values."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import animlib
from animlib import experiments
from animlib.cli import main

K = 3
SHAPE = (6, 5, 1)
# predicted class per step (rows) and sample (columns); true labels [0, 1, 2, 0]
UNTARGETED = [[0, 1, 0, 0], [0, 1, 0, 2], [1, 1, 0, 2], [1, 1, 2, 2]]
TRUE = [0, 1, 2, 0]
TARGETS = [1, 2, 0, 1]
TARGETED = [[0, 1, 2, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 1]]


def onehotish(preds: list[int]) -> np.ndarray:
    p = np.full((len(preds), K), 0.1)
    p[np.arange(len(preds)), preds] = 0.8
    return p


def images(step: int, b: int = 4) -> np.ndarray:
    """Sample i moves 0.01 * (i + 1) per step away from 0.5 everywhere."""
    size = 0.01 * (np.arange(b) + 1) * step
    return (0.5 + size[:, None, None, None] * np.ones((b, *SHAPE))).astype(np.float32)


def write(root, experiment, plan, eps, targets=None, attack="PGD", originals=True, **kw):
    with animlib.BatchWriter(
        root,
        experiment=experiment,
        attack=attack,
        model="m",
        class_names=["a", "b", "c"],
        true_labels=TRUE,
        target_labels=targets,
        params={"eps": eps, "steps": len(plan)},
        originals=images(0) if originals else None,
        **kw,
    ) as w:
        for step, preds in enumerate(plan):
            w.log(images=images(step), confidences=onehotish(preds))
    return w


@pytest.fixture
def root(tmp_path):
    # run.json times have whole seconds: the experiments a minute apart (an hour ago), so the
    # order that depends on them (newest sweep first) does not depend on this machine's speed
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for minute, (name, plan, eps, kw) in enumerate(
        [
            ("pgd-a", UNTARGETED, 0.1, {}),
            ("pgd-b", UNTARGETED, 0.2, {}),
            ("tgt", TARGETED, 0.1, {"targets": TARGETS, "attack": "PGD-T"}),
        ]
    ):
        at = (start + timedelta(minutes=minute)).isoformat()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(animlib.meta, "now_iso", lambda at=at: at)
            write(tmp_path, name, plan, eps, **kw)
    with animlib.RunWriter(tmp_path, name="loose", attack="PGD", class_names=list("abc"),
                           true_label=0) as w:  # fmt: skip
        w.log(image=np.zeros(SHAPE, np.float32), confidences=[0.8, 0.1, 0.1])
    return tmp_path


def expected_untargeted() -> dict:
    # sample 0: clean ok, success, flip 2; 1: clean ok, never flips; 2: clean wrong (flip 0), ends
    # right; 3: clean ok, flip 1. Successful: 0 and 3 with L-inf 0.03 and 0.12 at step 3.
    cells = SHAPE[0] * SHAPE[1] * SHAPE[2]
    linf = [0.03, 0.12]
    return {
        "n": 4,
        "clean_acc": 0.75,
        "robust_acc": 0.5,
        "success_rate": 0.5,
        "median_linf": np.median(linf),
        "median_l2": np.median([v * math.sqrt(cells) for v in linf]),
        "median_flip_step": 1.5,
    }


def expected_targeted() -> dict:
    # targets [1, 2, 0, 1]; sample 0 reaches 1 at step 1; 1 never reaches 2; 2 starts at 2 (clean
    # ok), reaches 0 at step 1; 3 reaches 1 at step 3.
    cells = SHAPE[0] * SHAPE[1] * SHAPE[2]
    linf = [0.03, 0.09, 0.12]
    return {
        "n": 4,
        "clean_acc": 1.0,
        "robust_acc": 0.0,
        "success_rate": 0.75,
        "median_linf": np.median(linf),
        "median_l2": np.median([v * math.sqrt(cells) for v in linf]),
        "median_flip_step": 1.0,
    }


def check_row(row, expected):
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_summarize_by_experiment(root):
    table = animlib.summarize(root)
    assert list(table.columns) == ["experiment", *experiments.SUMMARY_COLUMNS]
    assert table["experiment"].tolist() == ["pgd-a", "pgd-b", "tgt"]  # the loose run is left out
    rows = {r["experiment"]: r for r in table.to_dict("records")}
    check_row(rows["pgd-a"], expected_untargeted())
    check_row(rows["pgd-b"], expected_untargeted())
    check_row(rows["tgt"], expected_targeted())


def test_summarize_orders_numbers_in_experiment_ids_by_value(tmp_path):
    """``eps4 < eps8 < eps16`` and ``eps0.05 < eps0.1`` (not as text: eps16 < eps4)."""
    plan = UNTARGETED[:2]
    for name in ("pgd-eps16", "pgd-eps4", "pgd-eps8", "fgsm-eps0.1", "fgsm-eps0.05"):
        write(tmp_path, name, plan, 0.1)
    order = animlib.summarize(tmp_path)["experiment"].tolist()
    assert order == ["fgsm-eps0.05", "fgsm-eps0.1", "pgd-eps4", "pgd-eps8", "pgd-eps16"]


def test_summarize_by_attack_and_params(root):
    table = animlib.summarize(root, by=["attack", "params.eps"])
    assert list(table.columns) == ["attack", "params.eps", *experiments.SUMMARY_COLUMNS]
    assert [tuple(r) for r in table[["attack", "params.eps", "n"]].values] == [
        ("PGD", 0.1, 4),
        ("PGD", 0.2, 4),
        ("PGD-T", 0.1, 4),
    ]
    by_attack = animlib.summarize(root, by="attack")
    assert by_attack["n"].tolist() == [8, 4]
    check_row(by_attack.iloc[0], {**expected_untargeted(), "n": 8})
    everything = animlib.summarize(root, by="attack", experiments_only=False)
    assert everything["n"].tolist() == [9, 4]
    empty = animlib.summarize(root, by="model", experiments_only=True)
    assert empty["model"].tolist() == ["m"]
    with pytest.raises(ValueError):
        animlib.summarize(root, by=[])


def test_summarize_reads_arrays_only_when_run_json_lacks_values(tmp_path, monkeypatch):
    write(tmp_path, "with-originals", UNTARGETED, 0.1)
    write(tmp_path, "targeted", TARGETED, 0.1, targets=TARGETS)
    opened = []
    real = animlib.reader.open_run
    monkeypatch.setattr(
        animlib.reader, "open_run", lambda *a, **k: opened.append(a) or real(*a, **k)
    )
    animlib.summarize(tmp_path)
    assert opened == []  # everything came from run.json
    w = write(tmp_path, "no-originals", UNTARGETED, 0.1, originals=False)
    table = animlib.summarize(tmp_path)
    assert opened == []  # step 0 is their original: run.json has the norms
    check_row(table.set_index("experiment").loc["no-originals"], expected_untargeted())
    for run_id in w.run_ids:  # as runs written without norms (before they were stored) are
        path = tmp_path / run_id / "run.json"
        meta = json.loads(path.read_text())
        del meta["summary"]["linf"], meta["summary"]["l2"]
        path.write_text(json.dumps(meta))
    table = animlib.summarize(tmp_path)
    assert len(opened) == 4  # L-inf/L2 read from the arrays
    check_row(table.set_index("experiment").loc["no-originals"], expected_untargeted())


def test_without_originals_step_0_is_each_runs_original(tmp_path):
    """The clean input the adapters log first is the original: the viewer's perturbation
    panel, the runs table's norms and summarize's medians all measure from it."""
    w = write(tmp_path, "plain", UNTARGETED, 0.1, originals=False)
    run = animlib.open_run(tmp_path / w.run_ids[0])
    np.testing.assert_array_equal(run.original, run.images[0])
    meta = json.loads((tmp_path / w.run_ids[0] / "run.json").read_text())
    assert meta["summary"]["linf"] == pytest.approx(
        float(np.abs(run.images[-1] - run.images[0]).max())
    )


def test_summary_of_targeted_runs_without_initial_pred(tmp_path):
    """Runs written before ``initial_pred`` existed: the clean prediction comes from the arrays."""
    w = write(tmp_path, "old", TARGETED, 0.1, targets=TARGETS)
    for run_id in w.run_ids:
        path = tmp_path / run_id / "run.json"
        meta = json.loads(path.read_text())
        del meta["initial_pred"]
        path.write_text(json.dumps(meta))
    check_row(animlib.summarize(tmp_path).iloc[0], expected_targeted())


def test_list_experiments(root, tmp_path):
    exps = animlib.list_experiments(root)
    assert sorted(e.id for e in exps) == ["pgd-a", "pgd-b", "tgt"]
    tgt = next(e for e in exps if e.id == "tgt")
    assert tgt.run_ids == [f"tgt-{i:04d}" for i in range(4)]
    assert tgt.get("attack") == "PGD-T" and tgt.get("model") == "m" and tgt.get("targeted")
    assert tgt.get("params") == {"eps": 0.1, "steps": 4} and tgt.get("n_runs") == 4
    assert tgt.get("status") == "finished" and tgt.get("steps") == 4
    # (a notebook cell showed every run id, the class names and the parameters)
    shown = "ExperimentInfo(id='tgt', attack='PGD-T', status='finished', runs=4, steps=4)"
    assert repr(tgt) == shown
    with pytest.raises(animlib.RunFormatError):
        animlib.list_experiments(tmp_path / "missing")


def test_run_outcomes_per_run(root):
    table = experiments.run_outcomes(root, by=["params.eps"])
    row = table.set_index("id").loc["pgd-a-0002"]
    assert row["experiment"] == "pgd-a" and row["sample"] == 2 and row["params.eps"] == 0.1
    assert not row["clean_correct"] and row["robust"] and not row["success"]
    assert row["flip_step"] == 0


def test_every_function_the_readme_calls_on_animlib_is_exported():
    """``animlib.run_outcomes`` raised AttributeError, though summarize's docs name it and
    README shows it: a notebook had to import it from ``animlib.experiments``."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    called = set(re.findall(r"\banimlib\.(\w+)\(", readme))
    assert "run_outcomes" in called and "summarize" in called
    assert sorted(called - set(animlib.__all__)) == []
    assert animlib.run_outcomes is experiments.run_outcomes
    assert "run_outcomes" in dir(animlib)


def test_cli_summary_says_which_experiments_failed_or_run(root, capsys):
    """A crashed attack's experiment (one step, failed) must not read as a robust model."""
    with pytest.raises(RuntimeError), animlib.BatchWriter(root, experiment="crashed") as w:
        w.log(images=images(0), confidences=onehotish([0, 1, 2, 0]))
        raise RuntimeError("the attack crashed")
    live = animlib.BatchWriter(root, experiment="live", true_labels=TRUE)
    live.log(images=images(0), confidences=onehotish([0, 1, 2, 0]))
    live.flush()
    try:
        assert main(["summary", str(root), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        status = {r["experiment"]: (r["status"], r["steps"]) for r in rows}
        assert status["crashed"] == ("failed", 1) and status["live"] == ("running", 1)
        assert status["pgd-a"] == ("finished", 4)
        assert main(["summary", str(root)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split()[1:6] == ["attack", "model", "eps", "status", "steps"]
        crashed = next(line.split() for line in lines if line.split()[0] == "crashed")
        assert crashed[2:4] == ["failed", "1"]  # no attack nor model (blank), ε "-"
    finally:
        live.finish()


def test_cli_summary_says_why_it_is_empty(tmp_path, capsys):
    """An empty summary says whether the folder has no runs or only runs of no experiment."""
    assert main(["summary", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"no readable runs in {tmp_path}\n"
    with animlib.RunWriter(
        tmp_path, "solo", attack="PGD", class_names=["a", "b"], true_label=0
    ) as w:
        w.log(image=np.zeros((4, 4, 3), np.uint8), confidences=[0.9, 0.1])
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "none of its 1 readable run was logged by a BatchWriter (--all-runs --by" in out
    assert main(["summary", str(tmp_path), "--all-runs", "--by", "attack"]) == 0
    assert "robust_acc" in capsys.readouterr().out
    # --all-runs alone groups by experiment, which no run has: said so, not called a typo
    assert main(["summary", str(tmp_path), "--all-runs"]) == 2
    err = capsys.readouterr().err
    assert "no run in" in err and "belongs to an experiment: group them by other keys" in err
    assert main(["summary", str(tmp_path), "--all-runs", "--by", "atack"]) == 2
    assert "by: no run has 'atack'" in capsys.readouterr().err  # a typo still is one


def test_cli_summary_and_ls_json(root, capsys):
    assert main(["summary", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pgd-a" in out and "robust_acc" in out and " 0.75 " in out  # (4 digits: 0.0625)
    # by experiment, each experiment's attack and ε beside it (as on the dashboard)
    assert main(["summary", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    # the dashboard's order: newest sweep first, each in ε order (no ε in the names: pgd-a
    # and pgd-b are one sweep by their other parameters, attack and model)
    assert [(r["experiment"], r["attack"], r["eps"]) for r in rows] == [
        ("tgt", "PGD-T", 0.1),
        ("pgd-a", "PGD", 0.1),
        ("pgd-b", "PGD", 0.2),
    ]
    assert list(rows[1])[1:4] == ["attack", "model", "eps"]  # (two models apart)
    assert list(rows[1])[4:] == ["status", "steps", *experiments.SUMMARY_COLUMNS]
    assert rows[1]["robust_acc"] == 0.5 and rows[1]["n"] == 4
    assert (rows[1]["status"], rows[1]["steps"]) == ("finished", 4)
    assert capsys.readouterr().err == ""  # nothing broken: no note
    assert main(["summary", str(root), "--by", "attack,params.eps", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["attack"], r["params.eps"], r["n"]) for r in rows] == [
        ("PGD", 0.1, 4),
        ("PGD", 0.2, 4),
        ("PGD-T", 0.1, 4),
    ]
    assert rows[0]["robust_acc"] == 0.5 and rows[0]["median_flip_step"] == 1.5
    # --all-runs counts the run in no experiment too ("loose", a PGD run)
    assert main(["summary", str(root), "--by", "attack", "--all-runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["attack"], r["n"]) for r in rows] == [("PGD", 9), ("PGD-T", 4)]
    # a key no run has is refused (a typo), from the CLI and from summarize
    assert main(["summary", str(root), "--by", "attack,params.epz"]) == 2
    assert "no run has 'params.epz'" in capsys.readouterr().err
    with pytest.raises(animlib.AnimlibError, match="by: no run has 'atack'"):
        animlib.summarize(root, by="atack")
    assert main(["ls", str(root), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 13 and all(r["ok"] for r in listed)
    one = next(r for r in listed if r["id"] == "tgt-0001")
    assert one["meta"]["experiment"] == "tgt" and one["meta"]["sample"] == 1
    (root / "junk").mkdir()
    assert main(["ls", str(root), "--json"]) == 0
    broken = [r for r in json.loads(capsys.readouterr().out) if not r["ok"]]
    assert [r["id"] for r in broken] == ["junk"] and "run.json" in broken[0]["error"]
    # the summary says what it could not read, on stderr (stdout stays the table / JSON)
    assert main(["summary", str(root), "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 3
    assert "1 run folder" in err and "could not be read" in err and "validate" in err
    assert main(["ls", str(root), "--json", "--experiment", "tgt,pgd-b"]) == 0
    picked = json.loads(capsys.readouterr().out)
    assert sorted({r["meta"]["experiment"] for r in picked}) == ["pgd-b", "tgt"]
    assert len(picked) == 8  # 4 samples each; no plain run, no broken one
    assert main(["ls", str(root), "--experiment", "pgd-a"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith("pgd-a-") for line in lines[1:-1]) and len(lines) == 6
    assert lines[-1] == "4 runs, 0 broken"
    assert main(["ls", str(root), "--experiment", "pgd-a,pdg-b,zz"]) == 2  # typos are named
    out = capsys.readouterr()  # (a usage error, as summary and outcomes say it)
    assert out.out == "" and out.err == f"error: no experiment pdg-b, zz in {root}\n"
    # a broken run is left out (as on the runs page), even when its run.json names the experiment
    shutil.copytree(root / "pgd-a-0000", root / "pgd-a-0009")
    meta = json.loads((root / "pgd-a-0009" / "run.json").read_text())
    meta["summary"]["success"] = 1
    (root / "pgd-a-0009" / "run.json").write_text(json.dumps(meta))
    assert main(["ls", str(root), "--experiment", "pgd-a"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "4 runs, 0 broken"


def test_experiments_are_picked_in_the_index_without_missing_any(root):
    """list_experiments and summarize parse only the run.json of runs the index's experiment
    column names an experiment for: a plain run mentioning "experiment" in a string or deeper
    in params is left out, and no experiment run is missed."""
    from animlib.index import open_index
    from animlib.index.query import experiment_runs

    with animlib.RunWriter(root, name="plain", tags=['"experiment": "pgd-a"']) as w:
        w.log(np.zeros(SHAPE, np.float32))
    with animlib.RunWriter(root, name="nested", params={"experiment": "pgd-a"}) as w:
        w.log(np.zeros(SHAPE, np.float32))
    index = open_index(root)
    index.refresh()
    picked = experiment_runs(index.table)
    named = {i.id for i in animlib.list_runs(root) if i.get("experiment")}
    assert set(picked) == named and len(named) == 12 and len(picked) == 12
    exps = animlib.list_experiments(root)
    assert sorted(e.id for e in exps) == ["pgd-a", "pgd-b", "tgt"]
    assert sum(len(e.run_ids) for e in exps) == 12 and "nested" not in str(exps)
    table = animlib.summarize(root, by="experiment")
    assert set(table["experiment"]) == {"pgd-a", "pgd-b", "tgt"}


def test_the_index_filters_runs_by_experiment(root):
    """The runs page's Experiment filter: exactly the runs whose run.json names the
    experiment (not a plain run naming it in its params, nor an experiment whose id starts
    the same), and the facet lists the experiments in natural order."""
    from animlib.index import Query, open_index

    write(root, "pgd-a2", UNTARGETED, 0.3)  # "pgd-a" is a part of its id
    with animlib.RunWriter(root, name="nested", params={"experiment": "pgd-a"}) as w:
        w.log(np.zeros(SHAPE, np.float32))
    index = open_index(root)
    index.refresh()
    assert index.facets()["experiment"] == ["pgd-a", "pgd-a2", "pgd-b", "tgt"]
    expected = {i.id for i in animlib.list_runs(root) if i.get("experiment") == "pgd-a"}
    got = index.query(Query(experiments=("pgd-a",))).rows["id"].to_pylist()
    assert set(got) == expected and len(got) == len(expected) and "nested" not in got
    both = index.query(Query(experiments=("pgd-a", "tgt"), attacks=("PGD",)))
    exps = {i.id: i.get("experiment") for i in animlib.list_runs(root)}
    assert {exps[r] for r in both.rows["id"].to_pylist()} <= {"pgd-a", "tgt"}


def test_grouped_listed_runs_equal_list_experiments_and_summarize(root):
    """The dashboard groups and summarizes the runs its index already holds (no second scan
    of the folder): the same experiments and table as the public functions."""
    from animlib.experiments import group_experiments, summarize_runs

    runs = animlib.list_runs(root)
    assert group_experiments(runs) == animlib.list_experiments(root)
    pd.testing.assert_frame_equal(summarize_runs(runs), animlib.summarize(root))
    by = ["attack", "params.eps"]
    pd.testing.assert_frame_equal(
        summarize_runs(runs, by, experiments_only=False),
        animlib.summarize(root, by=by, experiments_only=False),
    )


def test_summary_says_no_experiments_only_when_summarize_says_so(tmp_path, monkeypatch):
    """``animlib summary`` turned any ValueError of ``summarize`` (a bug, odd data) into "no
    run belongs to an experiment"; it decides on the error's field and code now."""
    from animlib import experiments
    from animlib.cli import main

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(experiments, "summarize", broken)
    with pytest.raises(ValueError, match="boom"):
        main(["summary", str(tmp_path)])


FOOLED = [TRUE, [1, 2, 0, 1]]  # clean step right, every image fooled at the last step


def _crash_after_the_clean_step(root, name: str, eps: float) -> None:
    """An experiment whose attack crashed after its clean step: runs ``failed``, 1 step."""
    with (
        pytest.raises(RuntimeError),
        animlib.BatchWriter(
            root, experiment=name, attack="PGD", model="m", class_names=["a", "b", "c"],
            true_labels=TRUE, params={"eps": eps}, originals=images(0),
        ) as w,
    ):  # fmt: skip
        w.log(images=images(0), confidences=onehotish(TRUE))
        raise RuntimeError("the attack crashed")


def _edit_run(root, run_id: str, **changes) -> None:
    path = root / run_id / "run.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


@pytest.fixture
def crashed(tmp_path):
    """pgd-eps0.2 crashed after its clean step (4 failed runs of 1 step); its rerun
    pgd-eps0.2-2 finished with every image fooled (robust accuracy 0)."""
    _crash_after_the_clean_step(tmp_path, "pgd-eps0.2", 0.2)
    w = write(tmp_path, "pgd-eps0.2", FOOLED, 0.2)
    assert w.experiment == "pgd-eps0.2-2"
    return tmp_path


def test_a_crashed_experiment_is_no_result_beside_its_rerun(crashed, capsys):
    """The failed clean-only runs counted as robust images: robust accuracy 0.5 where the
    finished rerun alone has 0.0."""
    table = animlib.summarize(crashed, by=["attack", "params.eps"])
    assert list(table.columns) == ["attack", "params.eps", *experiments.SUMMARY_COLUMNS]
    assert experiments.SUMMARY_COLUMNS[-1] == "left_out"
    (row,) = table.to_dict("records")
    assert (row["n"], row["robust_acc"], row["success_rate"], row["left_out"]) == (4, 0.0, 1.0, 4)
    assert row["clean_acc"] == 1.0 and row["median_flip_step"] == 1.0
    by_experiment = animlib.summarize(crashed).set_index("experiment")
    failed = by_experiment.loc["pgd-eps0.2"]
    assert failed["n"] == 0 and failed["left_out"] == 4 and math.isnan(failed["robust_acc"])
    rerun = by_experiment.loc["pgd-eps0.2-2"]
    assert (rerun["n"], rerun["robust_acc"], rerun["left_out"]) == (4, 0.0, 0)
    # asked for: every run counted, as before
    everything = animlib.summarize(crashed, by="attack,params.eps", include_incomplete=True)
    (row,) = everything.to_dict("records")
    assert (row["n"], row["robust_acc"], row["left_out"]) == (8, 0.5, 0)
    assert animlib.summarize(crashed, include_incomplete=True)["n"].tolist() == [4, 4]


def test_stale_and_stepless_runs_are_left_out_of_every_column(crashed):
    """A running run silent too long or whose writer is gone (stale) and a run with no step
    count in no column; a live running run with steps does (progress); ``n`` is the runs the
    rates are over, the run.json way and the run index's way alike."""
    import socket
    import subprocess
    import sys

    from animlib.experiments import indexed_runs, summarize_runs
    from animlib.index import open_index
    from animlib.index.experiments import experiment_summary

    now = datetime.now(UTC).isoformat()
    _edit_run(crashed, "pgd-eps0.2-2-0000", status="running", updated="2020-01-01T00:00:00+00:00")
    _edit_run(crashed, "pgd-eps0.2-2-0001", status="running", updated=now)  # live: counted
    _edit_run(crashed, "pgd-eps0.2-2-0002", status="running", updated=now)  # its writer is gone
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = {"host": socket.gethostname(), "pid": gone.pid, "since": 0.0}
    (crashed / "pgd-eps0.2-2-0002" / ".writer.lock").write_text(json.dumps(lock))
    meta = json.loads((crashed / "pgd-eps0.2-2-0003" / "run.json").read_text())
    meta.update(steps=0, status="running", updated=now)  # (a finished run of 0 steps is broken)
    meta.pop("summary", None)
    (crashed / "pgd-eps0.2-2-0003" / "run.json").write_text(json.dumps(meta))
    row = animlib.summarize(crashed, by="params.eps").iloc[0]
    assert (row["n"], row["left_out"], row["robust_acc"], row["success_rate"]) == (1, 7, 0.0, 1.0)
    by_experiment = animlib.summarize(crashed).set_index("experiment")
    assert by_experiment.loc["pgd-eps0.2-2", "n"] == 1
    assert by_experiment.loc["pgd-eps0.2-2", "left_out"] == 3
    everything = animlib.summarize(crashed, by="params.eps", include_incomplete=True).iloc[0]
    assert (everything["n"], everything["left_out"]) == (8, 0)
    index = open_index(crashed)
    index.refresh()
    assert index.writers_gone == {"pgd-eps0.2-2-0002"}
    runs = indexed_runs(index, experiments_only=True)
    for include in (False, True):
        pd.testing.assert_frame_equal(
            experiment_summary(index, include_incomplete=include),
            summarize_runs(
                runs, ["experiment"], include_incomplete=include, writers_gone=index.writers_gone
            ),
        )


def test_cli_summary_says_which_runs_it_left_out(crashed, capsys):
    """One line on stderr: how many runs, why, and the flag that counts them."""
    assert main(["summary", str(crashed), "--by", "attack,params.eps", "--json"]) == 0
    out, err = capsys.readouterr()
    (row,) = json.loads(out)
    assert (row["n"], row["robust_acc"], row["left_out"]) == (4, 0.0, 4)
    assert err == (
        "note: 4 runs left out of the numbers as no result (4 failed; column left_out): "
        "--include-incomplete counts them\n"
    )
    assert main(["summary", str(crashed), "--json", "--include-incomplete"]) == 0
    out, err = capsys.readouterr()
    rows = {r["experiment"]: r for r in json.loads(out)}
    assert rows["pgd-eps0.2"]["n"] == 4 and rows["pgd-eps0.2"]["robust_acc"] == 1.0
    assert err == ""
    assert main(["summary", str(crashed)]) == 0  # by experiment: left_out the last column
    out, err = capsys.readouterr()
    header, *lines = out.splitlines()
    assert header.split()[-1] == "left_out" and "4 failed" in err
    failed = next(line.split() for line in lines if line.split()[0] == "pgd-eps0.2")
    assert failed[-8:] == ["0", "-", "-", "-", "-", "-", "-", "4"]  # n 0, no rate, 4 left out
    write(crashed, "done", UNTARGETED, 0.1)
    assert main(["summary", str(crashed), "--by", "experiment", "--all-runs"]) == 0
    assert "4 failed" in capsys.readouterr().err


def test_cli_summary_says_which_runs_are_still_running(tmp_path, capsys):
    """A running experiment's runs count with their steps so far: step 0 alone reads as
    robust images (the reviewer saw the clean accuracy as robust accuracy, unmarked)."""
    x = np.full((3, 4, 4), 0.5, np.float32)
    conf = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    with animlib.BatchWriter(tmp_path, experiment="done", class_names=["a", "b"],
                             true_labels=[0, 0, 0]) as w:  # fmt: skip
        w.log(images=x, confidences=conf)
        w.log(images=x, confidences=conf[:, ::-1])
    live = animlib.BatchWriter(
        tmp_path, experiment="live", class_names=["a", "b"], true_labels=[0, 0, 0]
    )
    live.log(images=x, confidences=conf)
    live.flush()
    try:
        assert main(["summary", str(tmp_path), "--json"]) == 0
        out, err = capsys.readouterr()
        rows = {r["experiment"]: r for r in json.loads(out)}
        assert rows["live"]["robust_acc"] == 1.0  # counted, as documented: and said
        assert err == (
            "note: 3 runs of 1 experiment still running counted with their steps so far "
            "(not a final result: robust until attacked)\n"
        )
    finally:
        live.finish()
    assert main(["summary", str(tmp_path), "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_a_key_every_run_holds_as_null_is_a_group_not_a_typo(tmp_path, capsys):
    """``attack`` is optional: runs logged without one hold ``"attack": null``, and
    ``summarize(by="attack")`` called that key a typo ("no run has 'attack'")."""
    for i in range(2):
        with animlib.RunWriter(tmp_path, name=f"r{i}", class_names=["a", "b"], true_label=0) as w:
            w.log(image=np.zeros((4, 4, 3), np.float32), confidences=[0.9, 0.1])
    table = animlib.summarize(tmp_path, by="attack", experiments_only=False)
    assert table["attack"].tolist() == [None] and table["n"].tolist() == [2]
    from animlib.cli import main

    assert main(["summary", str(tmp_path), "--all-runs", "--by", "attack"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["-", "2"]  # (not "None")
    with pytest.raises(animlib.AnimlibError, match="by: no run has 'params.eps'"):
        animlib.summarize(tmp_path, by="attack,params.eps", experiments_only=False)


def _damage(root, run_id: str, how: str) -> None:
    """Damage a run's arrays as a bad copy or a full disk would: run.json stays readable."""
    folder = root / run_id
    if how == "truncated":
        chunk = next(p for p in sorted((folder / "images").rglob("c*")) if p.is_file())
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    elif how == "no confidences":
        shutil.rmtree(folder / "confidences")
    else:
        (folder / "images" / "zarr.json").unlink()


def test_sample_runs_whose_arrays_cannot_be_read_count_in_no_number(root, monkeypatch):
    """A sample run with a truncated chunk or a missing array (broken for the runs page, the
    viewer and validate) is left out of every summary number, counted in left_out; verdicts
    are kept per run.json version, so unchanged runs are not checked again (not even by a
    new process)."""
    from animlib.experiments import indexed_runs, summarize_runs
    from animlib.index import open_index

    _damage(root, "pgd-a-0001", "truncated")
    _damage(root, "pgd-a-0002", "no confidences")
    _damage(root, "tgt-0000", "no images metadata")
    for run_id in ("pgd-a-0001", "pgd-a-0002", "tgt-0000"):
        assert not animlib.validate(root / run_id, deep=False)[0].ok
    table = animlib.summarize(root).set_index("experiment")
    assert table.loc["pgd-a", ["n", "left_out"]].tolist() == [2, 2]
    assert table.loc["tgt", ["n", "left_out"]].tolist() == [3, 1]
    assert table.loc["pgd-b", ["n", "left_out"]].tolist() == [4, 0]
    index = open_index(root)
    readable = [
        i
        for i in indexed_runs(index, experiments_only=True)
        if i.id not in ("pgd-a-0001", "pgd-a-0002", "tgt-0000")
    ]
    expected = summarize_runs(readable, ["experiment"]).set_index("experiment")
    columns = ["n", "clean_acc", "robust_acc", "success_rate", "median_linf", "median_flip_step"]
    pd.testing.assert_frame_equal(table[columns], expected[columns], check_dtype=False)
    by_eps = animlib.summarize(root, by="params.eps").set_index("params.eps")
    assert by_eps.loc[0.1, ["n", "left_out"]].tolist() == [5, 3]  # (pgd-a and tgt)
    everything = animlib.summarize(root, include_incomplete=True).set_index("experiment")
    assert everything.loc["pgd-a", ["n", "left_out"]].tolist() == [2, 2]

    from animlib.index import checks

    checked = []
    real = checks._check
    monkeypatch.setattr(checks, "_check", lambda i, r: checked.append(r) or real(i, r))
    animlib.summarize(root)
    assert checked == []  # remembered in this process
    monkeypatch.setattr(checks, "_held", {})  # as a new process: read from the cache folder
    pd.testing.assert_frame_equal(animlib.summarize(root).set_index("experiment"), table)
    assert checked == []
    _edit_run(root, "pgd-b-0003", tags=["again"])  # its run.json changed: checked again
    animlib.summarize(root)
    assert checked == ["pgd-b-0003"]


def test_verdicts_found_by_other_library_versions_are_not_reused(root, monkeypatch):
    """zarr 3.0.8 read no run ('corrupt'); after the upgrade summary still left every sample
    out, from the verdicts in the cache folder, while validate and ls found them fine."""
    from animlib.index import checks

    checked = []
    real = checks._check
    monkeypatch.setattr(checks, "_check", lambda i, r: checked.append(r) or real(i, r))
    animlib.summarize(root)
    first = len(checked)
    assert first > 0
    monkeypatch.setattr(checks, "_held", {})  # a new process, with the same libraries
    animlib.summarize(root)
    assert len(checked) == first
    monkeypatch.setattr(checks, "_held", {})  # a new process after an upgrade
    monkeypatch.setattr(checks, "readers", lambda: "zarr 9.9")
    animlib.summarize(root)
    assert len(checked) == 2 * first


def test_a_summary_checks_arrays_for_a_bounded_time_and_says_how_many_it_left(
    root, monkeypatch, capsys
):
    """The first summary of a big folder checked every sample run's arrays (~100 a second:
    minutes for 100,000 runs). It checks for CHECK_BUDGET_S; the runs left count as before,
    the table says how many, the CLI notes it, and a later summary goes on checking."""
    from animlib import cli
    from animlib import experiments as ex

    _damage(root, "pgd-a-0001", "truncated")
    monkeypatch.setattr(ex, "CHECK_BUDGET_S", -1.0)  # (no time left: nothing checked)
    table = animlib.summarize(root).set_index("experiment")
    assert table.attrs[ex.UNCHECKED] > 0
    assert table.loc["pgd-a", ["n", "left_out"]].tolist() == [4, 0]  # still counted
    assert cli.main(["summary", str(root)]) == 0
    assert "are not checked yet" in capsys.readouterr().err
    monkeypatch.setattr(ex, "CHECK_BUDGET_S", 60.0)
    table = animlib.summarize(root).set_index("experiment")
    assert table.attrs[ex.UNCHECKED] == 0
    assert table.loc["pgd-a", ["n", "left_out"]].tolist() == [3, 1]
    assert cli.main(["summary", str(root)]) == 0
    assert "not checked yet" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("other", "status"), [("failed", "failed"), ("running", "running"), ("finished", "finished")]
)
def test_an_experiments_status_is_its_samples_most_telling(tmp_path, other, status):
    """One sample failed (or still running) beside finished ones: the experiment is failed
    (running), never "finished"."""
    x = np.full((2, 6, 6, 3), 0.5, np.float32)
    with animlib.BatchWriter(tmp_path, experiment="e", class_names=["a", "b"]) as w:
        w.log(images=x, confidences=[[0.9, 0.1]] * 2)
    path = tmp_path / "e-0001" / "run.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(dict(meta, status=other)))  # (running: just updated)
    (exp,) = animlib.list_experiments(tmp_path)
    assert exp.get("status") == status


def test_verdicts_found_by_other_animlib_code_are_not_reused(root, monkeypatch):
    """With an editable install animlib's version stays the same between commits: a quick
    check that wrongly called a run damaged kept it out of every summary after the fix, while
    validate said OK. The verdicts are keyed by a digest of animlib's source too."""
    from animlib.cache import keys
    from animlib.index import checks

    real = checks._check
    wrong = "pgd-a-0001"

    def old_code(index, run_id):
        report = real(index, run_id)
        if run_id != wrong:
            return report
        return dataclasses.replace(report, error="wrongly damaged", field="images", code=None)

    monkeypatch.setattr(checks, "_check", old_code)
    assert animlib.summarize(root).set_index("experiment").loc["pgd-a", "left_out"] == 1
    monkeypatch.setattr(checks, "_held", {})  # a new process, running the fixed code
    monkeypatch.setattr(checks, "_check", real)
    checks.readers.cache_clear()
    monkeypatch.setattr(keys, "code_digest", lambda: "0123456789abcdef")
    try:
        table = animlib.summarize(root).set_index("experiment")
    finally:
        checks.readers.cache_clear()
    assert table.loc["pgd-a", "left_out"] == 0
    assert animlib.validate(root / wrong, deep=False)[0].ok
