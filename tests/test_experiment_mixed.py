"""An experiment id holding runs of two experiments (its folders renamed, then the name logged
again; runs copied in from another results folder) is said to mix two, by ``validate``,
``summary`` and the experiments page: they pooled both silently (n 20, robust acc 0.2 where the
two had 0.25 and 0.0) and ``validate`` called the folder OK."""

from __future__ import annotations

import re
import shutil

import numpy as np
from test_experiments_page import page_after_checks

import animlib
from animlib.cli import main


def _experiment(root, name: str, samples: int) -> None:
    probs = np.array([[0.8, 0.2]] * samples)
    with animlib.BatchWriter(root, experiment=name, class_names=["a", "b"],
                             true_labels=[0] * samples) as w:  # fmt: skip
        for step in range(2):
            w.log(images=np.full((samples, 6, 6, 1), 0.4 + 0.1 * step), confidences=probs)


def _renamed_then_logged_again(root) -> None:
    _experiment(root, "pgd", 4)
    for i in range(4):  # "renaming" the experiment by its folders (run.json still says pgd)
        shutil.move(root / f"pgd-{i:04d}", root / f"old-pgd-{i:04d}")
    _experiment(root, "pgd", 3)  # (the id is free again: the folders are gone)


def test_validate_and_summary_say_an_experiment_mixes_two(tmp_path, capsys):
    _renamed_then_logged_again(tmp_path)
    assert main(["validate", str(tmp_path), "--quick"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"MIXED experiment pgd: 7 sample runs where its writer made [34]:", out)
    assert out.rstrip().endswith("7 ok, 0 broken, 1 experiment mixing others' runs")
    assert main(["summary", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert re.search(r"note: experiment pgd: 7 sample runs where its writer made [34]:", err)


def test_an_experiment_as_written_is_not_mixed(tmp_path, capsys):
    _experiment(tmp_path, "pgd", 4)
    _experiment(tmp_path, "pgd", 3)  # a rerun: pgd-2, its own experiment
    assert main(["validate", str(tmp_path), "--quick"]) == 0
    assert "MIXED" not in capsys.readouterr().out


def test_the_experiments_page_warns_of_it(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    _renamed_then_logged_again(root)
    monkeypatch.setenv("ANIMLIB_RUNS", str(root))
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    at = page_after_checks(root, 7)
    (warning,) = [w.value for w in at.warning if "More sample runs than their writer" in w.value]
    assert re.search(r"pgd \(7 runs, [34] made\)", warning), warning


def test_python_validate_reports_the_experiment_as_the_cli_does(tmp_path, capsys):
    """``animlib.validate(folder)`` passed a folder whose experiment lost a sample run (every
    report ok) where ``animlib validate`` exited 1: it now adds one report per incomplete
    experiment, so ``all(r.ok for r in ...)`` is the CLI's verdict."""
    _experiment(tmp_path, "pgd", 4)
    _experiment(tmp_path, "fgsm", 3)
    assert all(r.ok for r in animlib.validate(tmp_path)) and main(["validate", str(tmp_path)]) == 0
    shutil.rmtree(tmp_path / "pgd-0002")
    reports = animlib.validate(tmp_path, deep=False)
    assert [r.id for r in reports if r.kind == "run"] == [
        "fgsm-0000", "fgsm-0001", "fgsm-0002", "pgd-0000", "pgd-0001", "pgd-0003"
    ]  # fmt: skip
    (lost,) = [r for r in reports if r.kind == "experiment"]
    assert (lost.id, lost.ok, lost.code) == ("pgd", False, "missing")
    assert lost.field == "experiment_samples"
    assert lost.error == "1 of its 4 sample runs are not in the folder (deleted or moved)"
    assert (lost.steps, lost.status) == (None, None) and "kind='experiment'" in repr(lost)
    assert not all(r.ok for r in reports)
    capsys.readouterr()
    assert main(["validate", str(tmp_path), "--quick"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == lost.line() == f"MISSING experiment pgd: {lost.error}"
    assert out[-1] == "6 ok, 0 broken, 1 experiment missing runs"


def test_python_validate_reports_a_mixed_experiment(tmp_path):
    _renamed_then_logged_again(tmp_path)
    (mixed,) = [r for r in animlib.validate(tmp_path, deep=False) if not r.ok]
    assert (mixed.id, mixed.kind, mixed.code, mixed.field) == (
        "pgd", "experiment", "mismatch", "experiment_samples"
    )  # fmt: skip
    said = r"MIXED experiment pgd: 7 sample runs where its writer made [34]:"
    assert re.match(said, mixed.line())


def test_validate_of_an_empty_folder_passes_with_a_note(tmp_path, capsys):
    """Nothing is broken in an empty folder: exit 0 (it was 1), as ls of it, with a note."""
    assert animlib.validate(tmp_path) == []
    assert main(["validate", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "0 ok, 0 broken\n"
    assert captured.err == f"note: no runs in {tmp_path}\n"
