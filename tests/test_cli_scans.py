"""How often one CLI command lists the results folder and parses run.json files.

Review 133 (21,005 runs): ``animlib summary`` refreshed the run index three times (summarize,
then list_experiments and list_runs for a note: 63,929 ``stat`` calls) and parsed every sample
run.json again for the note on runs past their ``eps``; ``ls --experiment X`` parsed every
run.json of the folder for its status column before keeping the 5 % it shows.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers import write_run

import animlib
from animlib import meta as M
from animlib.cli import main


def _experiment(root, name: str, eps: float, moved=(0.05, 0.05, 0.05)) -> None:
    """Three images, each moved by ``moved`` (L∞) and fooled at the last step."""
    x = np.full((3, 6, 6, 1), 0.5)
    with animlib.BatchWriter(
        root, experiment=name, attack="PGD", class_names=["a", "b"], true_labels=[0] * 3,
        params={"eps": eps}, originals=x,
    ) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.8, 0.2]] * 3))
        w.log(images=x + np.reshape(moved, (3, 1, 1, 1)), confidences=np.array([[0.2, 0.8]] * 3))


@pytest.fixture
def folder(tmp_path):
    """Two experiments (one of them short of a sample run, one with a run past its ε), a
    plain run and a folder whose run.json cannot be read."""
    root = tmp_path / "runs"
    _experiment(root, "pgd", 0.1)
    _experiment(root, "buggy", 0.1, moved=(0.05, 0.3, 0.05))
    shutil.rmtree(root / "pgd-0002")
    write_run(root, "plain", steps=3)
    (root / "junk").mkdir()
    (root / "junk" / "run.json").write_text("{not json")
    return root


def test_ls_of_one_experiment_reads_the_status_of_its_runs_only(folder, monkeypatch, capsys):
    assert main(["ls", str(folder), "--experiment", "buggy"]) == 0
    shown = capsys.readouterr().out
    judged = []
    real = M.effective_status
    monkeypatch.setattr(M, "effective_status", lambda meta, **kw: judged.append(meta["name"])
                        or real(meta, **kw))  # fmt: skip
    assert main(["ls", str(folder), "--experiment", "buggy"]) == 0
    assert capsys.readouterr().out == shown
    assert sorted(judged) == ["buggy-0000", "buggy-0001", "buggy-0002"]  # (before: all 6)
