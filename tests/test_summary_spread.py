"""A summary's spread over seeds (``summarize(over=)``, ``summary --over``): each rate's
standard deviation across the values of one more key, recomputed here from the runs."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

import animlib
from animlib.cli import main
from animlib.errors import AnimlibError, Code

FOOLED = {  # (eps, seed) -> which of 6 images the attack fools
    (0.1, 0): [1, 0, 0, 0, 0, 0],
    (0.1, 1): [1, 1, 0, 0, 0, 0],
    (0.1, 2): [1, 1, 1, 1, 0, 0],
    (0.2, 0): [1, 1, 1, 1, 1, 0],
    (0.2, 1): [1, 1, 1, 1, 1, 1],
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("spread")
    for (eps, seed), fooled in FOOLED.items():
        probs = np.full((2, 6, 3), 0.1)
        probs[0, :, 0] = 0.8
        probs[1, np.arange(6), np.where(fooled, 1, 0)] = 0.8
        with animlib.BatchWriter(
            root, experiment=f"pgd-{eps}-s{seed}", attack="PGD", class_names=list("abc"),
            true_labels=[0] * 6, params={"eps": eps, "seed": seed},
        ) as w:  # fmt: skip
            for step in range(2):
                w.log(images=np.full((6, 4, 4, 1), 0.5 + 0.1 * step), confidences=probs[step])
    return root


def test_each_rate_gets_its_deviation_across_seeds(sweep):
    table = animlib.summarize(sweep, by="attack,params.eps", over="params.seed")
    rows = {row["params.eps"]: row for row in table.to_dict("records")}
    for eps in (0.1, 0.2):
        per_seed = [1 - sum(f) / 6 for (e, _), f in FOOLED.items() if e == eps]  # robust acc
        row = rows[eps]
        assert row["over_n"] == len(per_seed) and row["n"] == 6 * len(per_seed)
        assert row["robust_acc"] == pytest.approx(statistics.mean(per_seed))  # (equal n)
        assert row["robust_acc_sd"] == pytest.approx(statistics.stdev(per_seed))
        assert row["success_rate_sd"] == pytest.approx(statistics.stdev(per_seed))
        assert row["clean_acc_sd"] == 0
    plain = animlib.summarize(sweep, by="attack,params.eps")
    assert list(table.columns[: len(plain.columns)]) == list(plain.columns)
    assert table[list(plain.columns)].equals(plain)  # (the rows themselves unchanged)


def test_one_value_has_no_deviation_and_the_key_is_checked(sweep):
    table = animlib.summarize(sweep, over="params.seed")  # by experiment: one seed each
    assert set(table["over_n"]) == {1} and table["robust_acc_sd"].isna().all()
    with pytest.raises(AnimlibError, match="no run has 'params.sed'") as caught:
        animlib.summarize(sweep, by="attack", over="params.sed")
    assert (caught.value.field, caught.value.code) == ("over", Code.NOT_FOUND)
    with pytest.raises(AnimlibError, match="'attack' is one of them") as caught:
        animlib.summarize(sweep, by="attack", over="attack")
    assert (caught.value.field, caught.value.code) == ("over", Code.INVALID)


def test_cli_summary_over(sweep, capsys):
    assert main(["summary", str(sweep), "--by", "params.eps", "--over", "params.seed"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[-4:] == ["over_n", "clean_acc_sd", "robust_acc_sd", "success_rate_sd"]
    sd = f"{statistics.stdev([5 / 6, 4 / 6, 2 / 6]):.4g}"  # (eps 0.1's robust acc per seed)
    assert out[1].split()[-4:] == ["3", "0", sd, sd]
    args = ["summary", str(sweep), "--by", "params.eps", "--over", "params.seed", "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["over_n"] for r in rows] == [3, 2] and rows[1]["robust_acc_sd"] == pytest.approx(
        statistics.stdev([1 / 6, 0])
    )
    assert main(["summary", str(sweep), "--by", "params.eps", "--over", "params.sed"]) == 2
    assert "error: over: no run has 'params.sed'" in capsys.readouterr().err


def test_runs_without_the_key_or_without_rates_are_not_a_value_of_it(tmp_path, capsys):
    """Runs with no seed (or seed null) were pooled as one more "seed"; a seed whose runs have
    no confidences counted in over_n but in no deviation."""

    def write(name, params, confidences=True):
        probs = np.full((6, 3), 0.1)
        probs[:, 0] = 0.8
        with animlib.BatchWriter(tmp_path, experiment=name, attack="PGD", true_labels=[0] * 6,
                                 class_names=list("abc"), params=params) as w:  # fmt: skip
            given = {"confidences": probs} if confidences else {}
            w.log(images=np.full((6, 4, 4, 1), 0.5), **given)

    for seed in (0, 1):
        write(f"s{seed}", {"eps": 0.1, "seed": seed})
    write("none", {"eps": 0.1})
    write("null", {"eps": 0.1, "seed": None})
    write("blind", {"eps": 0.1, "seed": 7}, confidences=False)
    table = animlib.summarize(tmp_path, by="params.eps", over="params.seed")
    (row,) = table.to_dict("records")
    assert row["over_n"] == 2 and row["n"] == 30 and row["robust_acc_sd"] == 0
    assert table.attrs["over_missing"] == 12
    assert main(["summary", str(tmp_path), "--by", "params.eps", "--over", "params.seed"]) == 0
    err = capsys.readouterr().err
    assert "note: 12 runs counted in the rates hold no params.seed (or null)" in err


def test_a_refused_status_leaves_the_writer_open(tmp_path):
    w = animlib.RunWriter(tmp_path, name="r", class_names=list("abc"), true_label=0)
    w.log(image=np.zeros((4, 4, 1), np.float32), confidences=[0.8, 0.1, 0.1])
    with pytest.raises(animlib.RunInputError, match="run 'r': status: must be one of") as caught:
        w.finish("done")
    assert caught.value.code == Code.INVALID
    w.log(image=np.zeros((4, 4, 1), np.float32), confidences=[0.8, 0.1, 0.1])  # (still open)
    w.finish("finished")
    assert animlib.open_run(tmp_path / "r").meta["steps"] == 2
