"""What ``summary`` says of numbers a paper would quote wrongly: group values that print alike
but are not one number (``eps=8/255`` beside a float32 of it, stored as 0.03137255: two rows
both labelled ``PGD 0.03137``), successful runs past their ``params.eps`` (a missing projection,
counted in success_rate and hidden by the median L∞)."""

from __future__ import annotations

import numpy as np
from helpers import moved_experiment

import animlib
from animlib.cli import main


def test_alike_group_values_are_told_apart_and_explained(tmp_path, capsys):
    moved_experiment(tmp_path, "script", 8 / 255)
    moved_experiment(tmp_path, "tensor", np.float32(8 / 255))
    moved_experiment(tmp_path, "wider", 16 / 255)
    moved_experiment(tmp_path, "text", "8/255")
    assert main(["summary", str(tmp_path), "--by", "attack,params.eps"]) == 0
    out, err = capsys.readouterr()
    labels = [line.split()[1] for line in out.splitlines()[1:]]
    assert len(labels) == len(set(labels)) == 4, out
    assert {"0.031372549", "0.03137255", "8/255"} <= set(labels), out
    assert "params.eps groups 0.03137254901960784 and 0.03137255 apart: they differ only" in err


def test_values_that_print_apart_keep_the_short_form(tmp_path, capsys):
    moved_experiment(tmp_path, "a", 8 / 255)
    moved_experiment(tmp_path, "b", 16 / 255)
    assert main(["summary", str(tmp_path), "--by", "params.eps"]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["0.03137", "0.06275"], out
    assert "groups" not in err


def test_successful_runs_past_their_eps_are_named(tmp_path, capsys):
    moved_experiment(tmp_path, "buggy", 0.1, moved=(0.1, 0.3, 0.1 + 0.4 / 255))  # rounding: fine
    moved_experiment(tmp_path, "l2", 2.0, moved=(0.3, 0.3, 0.3))  # an L2 budget bounds L∞ too
    moved_experiment(tmp_path, "scale255", 8, moved=(0.3, 0.3, 0.3))  # ε on the 0-255 scale
    assert main(["summary", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "note: 1 successful run goes past params.eps: buggy-0001 (L∞ 0.3 > ε 0.1)" in err


def test_no_note_when_every_run_keeps_its_budget(tmp_path, capsys):
    moved_experiment(tmp_path, "fine", 0.1, moved=(0.1, 0.05, 0.0))
    assert main(["summary", str(tmp_path)]) == 0
    assert "past params.eps" not in capsys.readouterr().err


def test_runs_left_out_of_the_numbers_are_not_named_past_their_budget(tmp_path, capsys):
    """A crashed experiment's runs (failed) count in no number: the note said success_rate
    counted them."""
    import pytest

    with pytest.raises(RuntimeError):
        with animlib.BatchWriter(
            tmp_path, experiment="crashed", class_names=["a", "b"], true_labels=[0] * 3,
            params={"eps": 0.05}, originals=np.full((3, 6, 6, 1), 0.5),
        ) as w:  # fmt: skip
            w.log(images=np.full((3, 6, 6, 1), 0.5), confidences=np.array([[0.8, 0.2]] * 3))
            w.log(images=np.full((3, 6, 6, 1), 0.6), confidences=np.array([[0.2, 0.8]] * 3))
            raise RuntimeError("the attack crashed")
    assert main(["summary", str(tmp_path)]) == 0
    assert "past params.eps" not in capsys.readouterr().err
    assert main(["summary", str(tmp_path), "--include-incomplete"]) == 0
    assert "note: 3 successful runs go past params.eps: crashed-0000" in capsys.readouterr().err


def test_values_apart_by_arithmetic_print_as_logged_and_the_note_says_so(tmp_path, capsys):
    moved_experiment(tmp_path, "exact", 0.3)
    moved_experiment(tmp_path, "summed", 3 * 0.1)  # 0.30000000000000004
    moved_experiment(tmp_path, "huge", 1e300)  # (two values past float32's range: no note)
    moved_experiment(tmp_path, "huger", 1.0000000000001e300)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # (numpy's overflow in the cast)
        assert main(["summary", str(tmp_path), "--by", "params.eps"]) == 0
    out, err = capsys.readouterr()
    labels = [line.split()[0] for line in out.splitlines()[1:]]
    assert {"0.3", "0.30000000000000004"} <= set(labels), out
    assert "0.3 and 0.30000000000000004 apart: they differ only past float32 precision" in err
    assert "or arithmetic such as 3 * 0.1" in err
    assert "1e+300" not in err
