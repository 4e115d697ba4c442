"""A run whose attack fooled the model and then no longer did shows no flip step anywhere a
table ranks attacks by speed (the runs table, ``ls``, the viewer's card), as ``summarize`` and
``outcomes`` count it: the runs page showed 2 for such a failed run (and ranked it among the
fastest when sorted by flip step)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import animlib
from animlib.cli import main
from animlib.index import open_index
from animlib.index.query import Query
from animlib.metrics import run_metrics
from animlib.views import NO_VALUE, metric_cards

CLASSES = ["a", "b"]


def _run(root, name: str, preds: list[int], true_label: int = 0) -> None:
    x = np.full((8, 8, 3), 0.5, np.float32)
    with animlib.RunWriter(
        root, name=name, class_names=CLASSES, true_label=true_label, original=x
    ) as w:
        for p in preds:
            conf = np.array([0.8, 0.2]) if p == 0 else np.array([0.2, 0.8])
            w.log(image=x, confidences=conf)


def _runs(tmp_path):
    root = tmp_path / "runs"
    _run(root, "undone", [0, 0, 1, 0])  # fooled at step 2 only
    _run(root, "fooled", [0, 1, 1, 1])  # fooled from step 1 on
    _run(root, "wrong-start", [1, 1, 0, 0], true_label=0)  # wrong before the attack, right after
    return root


def test_the_runs_table_and_its_sort_leave_an_undone_flip_out(tmp_path):
    root = _runs(tmp_path)
    index = open_index(str(root))
    index.refresh()
    rows = index.query(Query(sort="flip_step")).rows
    flips = dict(zip(rows["id"].to_pylist(), rows["flip_step"].to_pylist(), strict=True))
    assert flips == {"undone": None, "fooled": 1, "wrong-start": 0}
    meta = animlib.open_run(root / "undone").meta
    assert meta["summary"]["flip_step"] == 2  # (run.json keeps the fact)


def test_ls_shows_no_flip_step_for_an_undone_flip(tmp_path, capsys):
    root = _runs(tmp_path)
    assert main(["ls", str(root)]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert lines["undone"][-1] != "2" and lines["fooled"][-1] == "1", lines
    assert lines["wrong-start"][-1] == "0"


def test_the_viewer_card_says_the_flip_was_undone(tmp_path):
    root = _runs(tmp_path)
    cards = {k: v for k, v, _ in metric_cards(run_metrics(animlib.open_run(root / "undone")))}
    assert cards["flip step"] == f"{NO_VALUE} (flipped at 2, not at the end)"
    cards = {k: v for k, v, _ in metric_cards(run_metrics(animlib.open_run(root / "fooled")))}
    assert cards["flip step"] == "1"


def _experiment(root, name: str, plans: list[list[int]], targets: list[int] | None) -> None:
    """A BatchWriter experiment of one sample per plan (its predictions step by step), true
    label 0 each (``targets``: a targeted attack's)."""
    x = np.full((len(plans), 8, 8, 3), 0.5, np.float32)
    with animlib.BatchWriter(
        root,
        experiment=name,
        attack="PGD-T" if targets else "PGD",
        class_names=CLASSES,
        true_labels=[0] * len(plans),
        target_labels=targets,
        params={"eps": 0.1},
        originals=x,
    ) as w:
        for step in range(len(plans[0])):
            conf = np.array([[0.8, 0.2] if p[step] == 0 else [0.2, 0.8] for p in plans])
            w.log(images=x, confidences=conf)


def test_every_per_run_outcome_leaves_an_undone_flip_out(tmp_path, capsys):
    """A targeted run that reached its target at step 2 and left it at step 3 (success False)
    had flip step 2 in ``run_outcomes``, ``outcomes --csv/--json`` and the grid's outcomes
    CSV, while ``ls``, the runs page and the flip-step table showed none: a mean flip step
    over the CSV counted failed runs. Every per-run view now gives the same."""
    import json

    from animlib.experiment_grid import outcomes as grid_outcomes
    from animlib.experiments import run_outcomes
    from animlib.index import grid as indexed

    root = tmp_path / "runs"
    _experiment(root, "tgt", [[0, 0, 1, 0], [0, 1, 1, 1]], targets=[1, 1])
    _experiment(root, "pgd", [[0, 0, 1, 0], [0, 1, 1, 1]], targets=None)
    undone, fooled = ["tgt-0000", "pgd-0000"], ["tgt-0001", "pgd-0001"]
    expected = dict.fromkeys(undone) | dict.fromkeys(fooled, 1)

    def flips(frame, id_column: str) -> dict:
        """Each run's flip step (None: empty), after checking its success."""
        runs, success = list(frame[id_column]), list(frame["success"])
        assert dict(zip(runs, success, strict=True)) == {
            **dict.fromkeys(undone, False),
            **dict.fromkeys(fooled, True),
        }
        flip = [None if pd.isna(f) else int(f) for f in frame["flip_step"]]
        return dict(zip(runs, flip, strict=True))

    assert flips(run_outcomes(root), "id") == expected
    assert flips(grid_outcomes(animlib.list_runs(root), ["tgt", "pgd"]), "run") == expected
    index = open_index(str(root))
    index.refresh()
    assert flips(indexed.outcomes(index, ["tgt", "pgd"]), "run") == expected
    rows = index.query(Query()).rows  # what ls and the runs page show
    assert dict(zip(rows["id"].to_pylist(), rows["flip_step"].to_pylist(), strict=True)) == expected
    capsys.readouterr()
    assert main(["outcomes", str(root), "--json"]) == 0
    got = {r["run"]: r["flip_step"] for r in json.loads(capsys.readouterr().out)}
    assert got == expected
    assert main(["outcomes", str(root), "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split(",")
    cells = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert {c["run"]: c["flip_step"] for c in cells} == {
        r: "" if f is None else str(f) for r, f in expected.items()
    }
