"""A summary whose groups hold reruns (``pgd`` and ``pgd-2`` of ``if_exists="new"``) says so in
Python as the CLI does: ``table.attrs["reruns"]`` and a warning at the caller's line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import animlib
from animlib.cli import main

X = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)
PROBS = [[0.9, 0.1], [0.2, 0.8]]


def attack(root, experiment: str, eps: float, *, crash: bool = False) -> None:
    """Two images attacked once (one step); ``crash``: the attack fails after it (left out)."""
    with animlib.BatchWriter(root, experiment=experiment, attack="PGD", class_names=["a", "b"],
                             true_labels=[0, 0], originals=X, params={"eps": eps},
                             layout="HWC") as w:  # fmt: skip
        w.log(images=X, confidences=PROBS)
        if crash:
            raise RuntimeError("the attack crashed")


def rerun_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [c for c in caught if "groups holding reruns" in str(c.message)]


def summarized(root, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = animlib.summarize(root, **options)
    return table, rerun_warnings(caught)


@pytest.fixture
def rerun(tmp_path):
    """PGD at ε 0.1 run twice (pgd, pgd-2: the same 2 images) and a sweep's ε 0.2 (no rerun)."""
    for experiment, eps in (("pgd", 0.1), ("pgd", 0.1), ("pgd-wide", 0.2)):
        attack(tmp_path, experiment, eps)
    return tmp_path


def test_summarize_names_the_groups_holding_reruns_and_warns_at_the_callers_line(rerun):
    """n was 4 for 2 images with no word of it in Python (the CLI printed a note)."""
    table, caught = summarized(rerun, by=["attack", "params.eps"])
    assert table["n"].tolist() == [4, 2]
    held = {"images": 2, "experiments": ["pgd", "pgd-2"]}
    assert table.attrs["reruns"] == {"PGD 0.1": held}
    assert len(caught) == 1 and caught[0].category is UserWarning
    assert caught[0].filename == __file__  # (summarized's line, not animlib's)
    message = str(caught[0].message)
    assert "count it more than once: PGD 0.1 (2 images in pgd, pgd-2)" in message
    assert 'by="experiment" keeps them apart' in message and "0.2" not in message


def test_a_summary_without_reruns_has_the_attr_empty_and_no_warning(rerun):
    for by in ("experiment", "params.eps,experiment"):
        table, caught = summarized(rerun, by=by)
        assert table.attrs["reruns"] == {} and caught == []
    table, caught = summarized(rerun, by="attack", experiments="pgd,pgd-wide")
    assert table.attrs["reruns"] == {} and caught == []  # an ε sweep: each ε attacks them anew


def test_a_spread_over_a_key_warns_once_for_its_rows(rerun):
    table, caught = summarized(rerun, by="attack", over="params.eps")
    assert table.attrs["reruns"] == {"PGD": {"images": 2, "experiments": ["pgd", "pgd-2"]}}
    assert len(caught) == 1 and "PGD (2 images in pgd, pgd-2)" in str(caught[0].message)


def test_a_rerun_left_out_of_the_numbers_is_no_pool(tmp_path):
    """A crashed first attempt is not counted (left_out), so its rerun counts each image once."""
    with pytest.raises(RuntimeError):
        attack(tmp_path, "pgd", 0.1, crash=True)
    attack(tmp_path, "pgd", 0.1)
    table, caught = summarized(tmp_path, by="attack")
    assert table["n"].tolist() == [2] and table.attrs["reruns"] == {} and caught == []
    table, caught = summarized(tmp_path, by="attack", include_incomplete=True)
    assert table["n"].tolist() == [4] and list(table.attrs["reruns"]) == ["PGD"]
    assert len(caught) == 1


def test_the_cli_prints_its_note_from_the_same_attr_and_no_warning(rerun, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["summary", str(rerun), "--by", "attack,params.eps"]) == 0
    assert rerun_warnings(caught) == []
    err = capsys.readouterr().err
    assert err.count("groups holding reruns") == 1
    assert "more than once: PGD 0.1 (2 images in pgd, pgd-2); --by experiment keeps" in err
