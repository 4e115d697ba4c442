"""What ``summary`` says of numbers a paper would quote wrongly: group values that print alike
but are not one number (``eps=8/255`` beside a float32 of it, stored as 0.03137255: two rows
both labelled ``PGD 0.03137``), successful runs past their ``params.eps`` (a missing projection,
counted in success_rate and hidden by the median L∞)."""

from __future__ import annotations

import numpy as np

import animlib
from animlib.cli import main


def _experiment(root, name: str, eps, moved=(0.1, 0.1, 0.1)) -> None:
    """Three images, each moved by ``moved`` (L∞) and fooled at the last step."""
    x = np.full((3, 6, 6, 1), 0.5)
    with animlib.BatchWriter(
        root, experiment=name, attack="PGD", class_names=["a", "b"], true_labels=[0] * 3,
        params={"eps": eps}, originals=x,
    ) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.8, 0.2]] * 3))
        w.log(images=x + np.reshape(moved, (3, 1, 1, 1)), confidences=np.array([[0.2, 0.8]] * 3))


def test_alike_group_values_are_told_apart_and_explained(tmp_path, capsys):
    _experiment(tmp_path, "script", 8 / 255)
    _experiment(tmp_path, "tensor", np.float32(8 / 255))
    _experiment(tmp_path, "wider", 16 / 255)
    _experiment(tmp_path, "text", "8/255")
    assert main(["summary", str(tmp_path), "--by", "attack,params.eps"]) == 0
    out, err = capsys.readouterr()
    labels = [line.split()[1] for line in out.splitlines()[1:]]
    assert len(labels) == len(set(labels)) == 4, out
    assert {"0.031372549", "0.03137255", "8/255"} <= set(labels), out
    assert "note: params.eps groups 0.03137254901960784 and 0.03137255 apart" in err


def test_values_that_print_apart_keep_the_short_form(tmp_path, capsys):
    _experiment(tmp_path, "a", 8 / 255)
    _experiment(tmp_path, "b", 16 / 255)
    assert main(["summary", str(tmp_path), "--by", "params.eps"]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["0.03137", "0.06275"], out
    assert "groups" not in err


def test_successful_runs_past_their_eps_are_named(tmp_path, capsys):
    _experiment(tmp_path, "buggy", 0.1, moved=(0.1, 0.3, 0.1 + 0.4 / 255))  # rounding: fine
    _experiment(tmp_path, "l2", 2.0, moved=(0.3, 0.3, 0.3))  # an L2 budget bounds L∞ too
    _experiment(tmp_path, "scale255", 8, moved=(0.3, 0.3, 0.3))  # ε on the 0-255 scale
    assert main(["summary", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "note: 1 successful run goes past params.eps: buggy-0001 (L∞ 0.3 > ε 0.1)" in err


def test_no_note_when_every_run_keeps_its_budget(tmp_path, capsys):
    _experiment(tmp_path, "fine", 0.1, moved=(0.1, 0.05, 0.0))
    assert main(["summary", str(tmp_path)]) == 0
    assert "past params.eps" not in capsys.readouterr().err
