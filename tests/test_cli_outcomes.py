"""``animlib outcomes``: per image, which experiments fooled the model and when, as the grid."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import animlib
from animlib.cli import main

SHAPE = (6, 5, 1)
TRUE = [0, 1, 2, 0]
# predicted class per step (rows) and sample (columns)
FAST = [[0, 1, 2, 0], [1, 1, 0, 0], [1, 1, 0, 0]]  # samples 0, 2 fooled at step 1
SLOW = [[0, 1, 2, 0], [0, 1, 2, 0], [1, 1, 0, 0]]  # samples 0, 2 fooled at step 2


def write(
    root, experiment: str, plan, *, names=("cat", "dog", "owl"), shift=0.0, model="m"
) -> None:
    probs = np.full((len(plan), 4, 3), 0.1)
    for step, preds in enumerate(plan):
        probs[step, np.arange(4), preds] = 0.8
    clean = np.linspace(shift, 0.9, 4 * 30, dtype=np.float32).reshape(4, *SHAPE)
    with animlib.BatchWriter(
        root, experiment=experiment, attack=experiment.upper(), model=model,
        class_names=list(names), true_labels=TRUE, originals=clean,
    ) as w:  # fmt: skip
        for step in range(len(plan)):
            w.log(images=clean + 0.01 * step, confidences=probs[step])


@pytest.fixture
def lab(tmp_path):
    write(tmp_path, "fast", FAST)
    write(tmp_path, "slow", SLOW)
    return tmp_path


def test_outcomes_table_and_the_images_that_resist(lab, capsys):
    assert main(["outcomes", str(lab), "--experiment", "slow,fast"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["sample", "true", "class", "slow", "fast", "fastest"]
    assert [line.split() for line in lines[1:5]] == [
        ["0", "cat", "2", "1", "fast"],
        ["1", "dog", "–", "–", "–"],
        ["2", "owl", "2", "1", "fast"],
        ["3", "cat", "–", "–", "–"],
    ]
    assert lines[-3] == "2 of 4 images fooled by every experiment: samples 0, 2"
    assert (
        lines[-2]
        == "2 of 4 images fooled by none of the experiments that attacked them: samples 1, 3"
    )
    assert lines[-1].startswith(
        "2 of 4 images attacked by every experiment robust to all of them (50.0%): right before "
    )


def test_outcomes_csv_and_json_are_one_row_per_run(lab, capsys):
    main(["outcomes", str(lab), "--csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 8
    assert {(r["experiment"], r["sample"], r["success"], r["flip_step"]) for r in rows} >= {
        ("fast", "0", "True", "1"),
        ("slow", "0", "True", "2"),
        ("slow", "1", "False", ""),
    }
    main(["outcomes", str(lab), "--experiment", "fast", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert [(r["sample"], r["success"], r["flip_step"], r["final_class"]) for r in rows] == [
        (0, True, 1, "dog"),
        (1, False, None, "dog"),
        (2, True, 1, "cat"),
        (3, False, None, "cat"),
    ]


def test_outcomes_refuses_an_unknown_experiment_and_too_many_columns(lab, capsys, monkeypatch):
    assert main(["outcomes", str(lab), "--experiment", "fast,fsat"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "error: no experiment 'fsat' in" in err
    monkeypatch.setattr("animlib.cli_outcomes.MOST_COLUMNS", 1)
    assert main(["outcomes", str(lab), "--experiment", "fast,slow"]) == 2  # (named: refused)
    assert "2 experiments do not fit side by side" in capsys.readouterr().err
    assert main(["outcomes", str(lab), "--experiment", "slow"]) == 0
    capsys.readouterr()
    (lab / "empty").mkdir()
    assert main(["outcomes", str(lab / "empty")]) == 0
    assert capsys.readouterr().out == f"no experiments in {lab / 'empty'}\n"


def test_outcomes_without_experiment_shows_the_first_that_fit_and_names_the_rest(
    lab, capsys, monkeypatch
):
    """The demo's 9 experiments: ``outcomes runs`` exited 2 ("9 experiments do not fit side by
    side") though --help said "default: every one"; it shows the first ones, as summary lists
    them, and a note names the others and how to see them."""
    write(lab, "third", SLOW)
    assert main(["summary", str(lab)]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(listed) == ["fast", "slow", "third"]
    monkeypatch.setattr("animlib.cli_outcomes.MOST_COLUMNS", 2)
    assert main(["outcomes", str(lab)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["sample", "true", "class", *listed[:2], "fastest"]
    assert err.startswith(
        "note: the table and its closing lines show the first 2 of 3 experiments (as summary "
        f"lists them; at most 2 fit side by side), leaving out 1: {listed[2]}; name the ones "
        "to show with --experiment A,B,... (at most 2), or take every one with --csv or --json\n"
    )
    assert main(["outcomes", str(lab), "--csv"]) == 0  # (every one)
    assert {r["experiment"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))} == {
        "fast", "slow", "third"
    }  # fmt: skip


def test_the_closing_lines_count_results_only_and_say_what_they_leave_out(lab, capsys):
    """A crashed experiment's runs (failed) fooled nothing by being cut short: the closing
    lines must not count them, and a note says so (as summary's numbers leave them out)."""
    import json as _json

    for i in range(4):
        meta = lab / f"slow-{i:04d}" / "run.json"
        data = _json.loads(meta.read_text())
        meta.write_text(_json.dumps({**data, "status": "failed"}))
    assert main(["outcomes", str(lab), "--experiment", "fast,slow"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-2] == "0 of 4 images fooled by every experiment"  # (slow: none)
    assert out.splitlines()[-1].endswith("that attacked them: samples 1, 3")  # (no worst case)
    assert "note: the closing lines leave out 4 runs that are no result (4 failed)" in err
    (lab / "fast-0003" / "run.json").unlink()  # (a sample run gone)
    main(["outcomes", str(lab), "--experiment", "fast"])
    assert "note: experiment fast: 1 of its 4 sample runs" in capsys.readouterr().err


def test_a_sample_id_naming_two_images_is_told_apart(lab, capsys):
    write(lab, "other", FAST, shift=0.05)  # (the same sample ids, other images)
    main(["outcomes", str(lab), "--experiment", "slow,other"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "0 of 8 images fooled by every experiment"
    assert lines[-1].startswith("4 of 8 images fooled by none of the experiments that attacked")
    assert "samples 1 (dog, image " in lines[-1] and "3 (cat, image " in lines[-1]


def test_outcomes_csv_is_utf8_whatever_the_terminal(tmp_path):
    import os
    import subprocess
    import sys

    from animlib.experiment_grid import outcomes_to_csv
    from animlib.index import open_index
    from animlib.index.grid import outcomes

    write(tmp_path, "x", FAST, names=("clase ñ", "日本", "owl"))
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    got = subprocess.run(
        [sys.executable, "-m", "animlib", "outcomes", str(tmp_path), "--csv"],
        capture_output=True, env=env, check=True,
    ).stdout  # fmt: skip
    index = open_index(tmp_path)
    index.refresh()
    assert got == outcomes_to_csv(outcomes(index, ["x"]))
    assert "日本".encode() in got


def test_the_worst_case_over_the_attacks_counts_an_image_wrong_before_them_as_not_robust(
    tmp_path, capsys
):
    """AutoAttack's robust accuracy of an ensemble: an image is robust only if the model is
    right before the attack and at every attack's last step (sample 3: wrong at step 0, right
    after the attack, counts as robust in robust_acc, the last step's accuracy, not here)."""
    write(tmp_path, "a", [[0, 1, 2, 1], [0, 1, 0, 0]])  # sample 2 fooled; 3 wrong, then right
    write(tmp_path, "b", [[0, 1, 2, 1], [0, 2, 2, 0]])  # sample 1 fooled
    assert main(["outcomes", str(tmp_path), "--experiment", "a,b"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(
        "1 of 4 images attacked by every experiment robust to all of them (25.0%)"
    )


ROBUST = [[0, 1, 2, 0]] * 3  # an adversarially trained model: no sample fooled


def test_experiments_on_several_models_are_told_apart(tmp_path, capsys):
    """Experiments on a standard and a robust model gave one "worst case over the attacks" of
    all four (the robust accuracy of no model), and no output named the models."""
    write(tmp_path, "fast", FAST)
    write(tmp_path, "slow", SLOW)
    write(tmp_path, "fast-at", ROBUST, model="m-at")
    write(tmp_path, "slow-at", ROBUST, model="m-at")
    assert main(["outcomes", str(tmp_path), "--experiment", "fast,slow,fast-at,slow-at"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[3:] == ["fast", "·", "m", "slow", "·", "m", "fast-at", "·", "m-at",
                                    "slow-at", "·", "m-at", "fastest"]  # fmt: skip
    assert lines[-3] == (
        "(the experiments attacked 2 models: the worst case is taken over each model's experiments)"
    )
    assert lines[-2].startswith("model m: 2 of 4 images attacked by each m experiment robust to ")
    assert "(50.0%)" in lines[-2]
    assert lines[-1].startswith("model m-at: 4 of 4 images attacked by each m-at experiment ")
    assert main(["outcomes", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["experiment"], r["model"]) for r in rows} == {
        ("fast", "m"),
        ("slow", "m"),
        ("fast-at", "m-at"),
        ("slow-at", "m-at"),
    }
    assert main(["summary", str(tmp_path)]) == 0
    head, *rows = capsys.readouterr().out.splitlines()
    assert head.split()[:3] == ["experiment", "attack", "model"]
    assert {tuple(r.split()[:3]) for r in rows} == {
        ("fast", "FAST", "m"), ("slow", "SLOW", "m"), ("fast-at", "FAST-AT", "m-at"),
        ("slow-at", "SLOW-AT", "m-at"),
    }  # fmt: skip
    assert main(["ls", str(tmp_path), "--search", "fast"]) == 0  # (fast-at too: two models)
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["id", "attack", "model"]


def test_several_models_with_no_two_experiments_each_say_there_is_no_worst_case(tmp_path, capsys):
    """The note on the worst case taken per model dangled, with no line after it."""
    write(tmp_path, "fast", FAST)
    write(tmp_path, "slow-at", ROBUST, model="m-at")
    assert main(["outcomes", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "(the experiments attacked 2 models, none by two of them over the same images: "
        "no worst case)"
    )


def test_outcomes_of_a_folder_without_experiments_is_an_empty_table_for_scripts(tmp_path, capsys):
    """``outcomes --json`` printed a sentence on stdout (``jq`` failed) and ``--csv`` a one-cell
    CSV; ``ls --json`` and ``summary --json`` print ``[]``."""
    from helpers import write_run

    write_run(tmp_path, "single")
    assert main(["outcomes", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [] and "no experiments" in err
    assert main(["outcomes", str(tmp_path), "--csv"]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(out)))
    assert len(rows) == 1 and "sample" in rows[0] and "no experiments" in err


def test_summary_json_has_the_same_keys_on_any_folder(tmp_path, capsys):
    """``model`` and ``eps`` came only when some experiment had them (a KeyError in a script)."""
    x = np.zeros((2, 4, 4, 3), np.float32)
    with animlib.BatchWriter(tmp_path, experiment="e", class_names=["a", "b"]) as w:
        w.log(images=x, confidences=[[0.9, 0.1]] * 2)
    assert main(["summary", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert {"model", "eps", "attack", "status", "n"} <= set(row)
    assert row["model"] is None and row["eps"] is None


def test_validate_whose_output_is_closed_before_its_verdict_fails(tmp_path):
    """``set -o pipefail; animlib validate runs | head`` passed over a broken run: the check
    stopped at its first write to the closed pipe and exited 0."""
    import subprocess
    import sys

    from helpers import write_run

    for i in range(3):
        write_run(tmp_path, f"r{i}", steps=2)
    (tmp_path / "r2" / "run.json").write_text("{")
    cmd = [sys.executable, "-m", "animlib", "validate", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # (the reader is gone before the first line)
    assert proc.wait(timeout=120) == 1 and b"Traceback" not in proc.stderr.read()
    ls = subprocess.Popen([*cmd[:3], "ls", str(tmp_path)], stdout=subprocess.PIPE)
    ls.stdout.close()
    assert ls.wait(timeout=120) == 0  # (a listing cut short is still a listing)
