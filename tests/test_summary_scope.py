"""A summary narrowed to some experiments or a search, and rows that pool several models."""

from __future__ import annotations

import json

import numpy as np
import pytest

import animlib
from animlib.cli import main
from animlib.errors import AnimlibError, Code
from animlib.summary_scope import MIXED_MODELS, experiment_ids

SHAPE = (6, 5, 1)
TRUE = [0, 1, 2, 0]
FOOLED = [[0, 1, 2, 0], [1, 2, 0, 1]]  # every image fooled at step 1
HELD = [[0, 1, 2, 0], [0, 1, 2, 0]]  # no image fooled


def write(root, experiment: str, model: str, plan, *, tags=(), steps_left=None) -> None:
    probs = np.full((len(plan), 4, 3), 0.1)
    for step, preds in enumerate(plan):
        probs[step, np.arange(4), preds] = 0.8
    with animlib.BatchWriter(
        root, experiment=experiment, attack="PGD", model=model, class_names=list("abc"),
        true_labels=TRUE, params={"eps": 0.1}, tags=list(tags),
    ) as w:  # fmt: skip
        for step in range(len(plan)):
            w.log(
                images=np.full((4, *SHAPE), 0.5 + 0.01 * step, np.float32), confidences=probs[step]
            )


@pytest.fixture
def lab(tmp_path):
    """Two students' PGD at ε 0.1: mine on the cnn (every image fooled), theirs on the mlp (none
    fooled, and one of its runs crashed: left out), in one results folder."""
    write(tmp_path, "mine", "cnn", FOOLED, tags=["sweep1"])
    write(tmp_path, "theirs", "mlp", HELD)
    meta = tmp_path / "theirs-0000" / "run.json"
    meta.write_text(meta.read_text().replace('"finished"', '"failed"'))
    return tmp_path


def test_a_summary_by_attack_pools_models_and_says_so(lab):
    (row,) = animlib.summarize(lab, by="attack,params.eps").to_dict("records")
    assert (row["n"], row["robust_acc"], row["left_out"]) == (7, 3 / 7, 1)
    table = animlib.summarize(lab, by="attack,params.eps")
    assert table.attrs[MIXED_MODELS] == {"PGD 0.1": ["cnn", "mlp"]}
    assert animlib.summarize(lab, by="attack,model").attrs[MIXED_MODELS] == {}


@pytest.mark.parametrize(
    "narrow", [{"experiments": ["mine"]}, {"experiments": "mine,"}, {"search": "sweep1"},
               {"search": "cnn pgd"}, {"experiments": "mine", "search": "eps=0.1"}],
)  # fmt: skip
def test_a_summary_narrowed_counts_only_those_runs(lab, narrow):
    table = animlib.summarize(lab, by="attack,params.eps", **narrow)
    (row,) = table.to_dict("records")
    assert (row["n"], row["robust_acc"], row["success_rate"], row["left_out"]) == (4, 0, 1, 0)
    assert table.attrs[MIXED_MODELS] == {}
    by_experiment = animlib.summarize(lab, **narrow)
    assert by_experiment["experiment"].tolist() == ["mine"]
    assert by_experiment["n"].tolist() == [4]


def test_a_search_may_pick_some_runs_of_an_experiment(lab):
    table = animlib.summarize(lab, search="theirs-0001")
    assert table[["experiment", "n", "left_out"]].values.tolist() == [["theirs", 1, 0]]
    assert animlib.summarize(lab, search="no-such-word").empty


def test_an_unknown_experiment_is_an_error_not_a_smaller_table(lab):
    with pytest.raises(AnimlibError, match="no experiment 'mien'") as caught:
        animlib.summarize(lab, experiments=["mine", "mien"])
    assert (caught.value.field, caught.value.code) == ("experiments", Code.NOT_FOUND)
    with pytest.raises(AnimlibError) as caught:
        animlib.summarize(lab, experiments=[3])
    assert (caught.value.field, caught.value.code) == ("experiments", Code.INVALID)


def test_experiment_ids():
    assert experiment_ids(None) == experiment_ids("") == experiment_ids([]) == []
    assert experiment_ids(" a, b,,a ") == experiment_ids(["a", "b", "a"]) == ["a", "b"]


def test_cli_summary_narrowed_and_its_notes(lab, capsys):
    main(["summary", str(lab), "--by", "attack,params.eps"])
    out, err = capsys.readouterr()
    assert "1 row pools the runs of several models: PGD 0.1 (cnn, mlp)" in err
    assert "1 run left out" in err
    main(["summary", str(lab), "--by", "attack,params.eps", "--experiment", "mine"])
    out, err = capsys.readouterr()
    assert "several models" not in err and "left out" not in err  # (theirs is not counted)
    assert out.split("\n")[1].split()[:3] == ["PGD", "0.1", "4"]
    main(["summary", str(lab), "--search", "sweep1"])
    out, err = capsys.readouterr()
    assert "mine" in out and "theirs" not in out and "left out" not in err
    assert main(["summary", str(lab), "--experiment", "mine,mien"]) == 2
    out, err = capsys.readouterr()
    assert "error: experiments: no experiment 'mien' in" in err and out == ""
    main(["summary", str(lab), "--search", "zzz"])
    out, _ = capsys.readouterr()
    assert out.strip() == f"no readable run of an experiment in {lab} matches --search 'zzz'"


def test_run_outcomes_narrowed(lab):
    from animlib.experiments import run_outcomes

    assert set(run_outcomes(lab)["experiment"]) == {"mine", "theirs"}
    mine = run_outcomes(lab, experiments="mine")
    assert mine["id"].tolist() == [f"mine-{i:04d}" for i in range(4)]
    assert mine["success"].tolist() == [True] * 4
    assert run_outcomes(lab, search="theirs-0002")["id"].tolist() == ["theirs-0002"]
    with pytest.raises(AnimlibError, match="no experiment 'nope'"):
        run_outcomes(lab, experiments=["nope"])


def test_notes_of_a_narrowed_summary_and_its_messages(lab, capsys):
    (lab / "other-0000").mkdir()
    (lab / "other-0000" / "run.json").write_text("{ not json")
    main(["summary", str(lab)])
    assert "1 run folder could not be read" in capsys.readouterr().err
    main(["summary", str(lab), "--experiment", "mine"])
    assert "could not be read" not in capsys.readouterr().err  # (not one of mine)
    with animlib.RunWriter(lab, name="plain", class_names=list("abc"), true_label=0) as w:
        w.log(image=np.zeros(SHAPE, np.float32), confidences=[0.1, 0.8, 0.1])  # wrong at once
    assert main(["summary", str(lab), "--all-runs", "--search", "plain"]) == 2
    err = capsys.readouterr().err
    assert "none of the runs --search finds belongs to an experiment" in err
    main(["summary", str(lab), "--all-runs", "--by", "experiment"])
    err = capsys.readouterr().err
    assert "misclassified before the attack in (none) (1 of 1)" in err and "nan" not in err


def test_experiments_are_named_by_id_or_by_the_name_they_were_made_from(lab, capsys):
    """`--experiment` takes the name given to BatchWriter (as `tag` does), not only the id made
    from it; a name two experiments were made from is refused with their ids."""
    write(lab, "My sweep (cnn)", "cnn", FOOLED)
    (made,) = {e.id for e in animlib.list_experiments(lab)} - {"mine", "theirs"}
    assert made != "My sweep (cnn)"
    table = animlib.summarize(lab, experiments=["My sweep (cnn)", "mine"])
    assert table["experiment"].tolist() == sorted([made, "mine"])
    assert animlib.summarize(lab, experiments=made)["n"].tolist() == [4]
    assert main(["summary", str(lab), "--experiment", "My sweep (cnn)", "--json"]) == 0
    assert made in capsys.readouterr().out
    assert main(["outcomes", str(lab), "--experiment", "My sweep (cnn)", "--json"]) == 0
    rows = capsys.readouterr().out
    assert f"{made}-0000" in rows and "mine-0000" not in rows
    assert main(["ls", str(lab), "--experiment", "My sweep (cnn),mine", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 8
    write(lab, "My sweep (cnn)", "cnn", HELD)  # a rerun: a fresh experiment, the same name
    with pytest.raises(AnimlibError, match="2 experiments were made from the name") as caught:
        animlib.summarize(lab, experiments="My sweep (cnn)")
    assert (caught.value.field, caught.value.code) == ("experiments", Code.INVALID)
    assert made in str(caught.value)
    for command in ("summary", "outcomes", "ls"):
        assert main([command, str(lab), "--experiment", "My sweep (cnn)"]) == 2
        out, err = capsys.readouterr()
        assert "name one by its id" in err and out == ""
    assert main(["ls", str(lab), "--experiment", "mine,mien"]) == 2  # as summary says it
    assert capsys.readouterr().err == f"error: no experiment mien in {lab}\n"


def test_summary_never_writes_terminal_escapes_from_run_fields(tmp_path, capsys):
    """An attack or model named with ESC/OSC bytes (a tarball from someone else) retitled the
    terminal, cleared it or recoloured the output through the table and the notes."""
    hostile = "PGD\x1b]0;pwned\x07\x1b[2J"
    probs = np.full((4, 3), 1 / 3)
    for experiment, model in (("e1", "cnn\x1b[31m"), ("e2", "mlp")):
        with animlib.BatchWriter(
            tmp_path, experiment=experiment, attack=hostile, model=model,
            class_names=list("abc"), true_labels=TRUE, params={"eps": 0.1},
        ) as w:  # fmt: skip
            w.log(images=np.full((4, *SHAPE), 0.5, np.float32), confidences=probs)
    for by in ("experiment", "attack,params.eps", "attack,model"):
        assert main(["summary", str(tmp_path), "--by", by]) == 0
        out, err = capsys.readouterr()
        assert "\x1b" not in out + err and "\x07" not in out + err, by
        assert "PGD\\x1b]0;pwned\\x07" in out, by
    assert main(["summary", str(tmp_path), "--by", "attack,params.eps"]) == 0
    out, err = capsys.readouterr()
    assert "cnn\\x1b[31m" in err and "\x1b" not in err


def test_a_name_an_older_nameless_experiment_was_made_from_counts_it_too(lab, monkeypatch, capsys):
    """An experiment written before run.json kept experiment_name, then rerun under the same
    name: the name resolved silently to the rerun alone."""
    write(lab, "My Sweep", "cnn", FOOLED)
    write(lab, "My Sweep", "cnn", HELD)  # (if_exists="new": My-Sweep-2)
    for run in lab.glob("My-Sweep-000*"):
        meta = json.loads((run / "run.json").read_text())
        del meta["experiment_name"]
        (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(AnimlibError, match="2 experiments were made from the name 'My Sweep'"):
        animlib.summarize(lab, experiments="My Sweep")
    monkeypatch.setenv("ANIMLIB_RUNS", str(lab))  # tag names them alike (it tagged the rerun's)
    assert main(["tag", "My Sweep", "--add", "x"]) == 2
    assert "2 experiments were made from the name 'My Sweep'" in capsys.readouterr().err
    assert main(["tag", "My-Sweep", "--add", "x"]) == 0  # (by its id: those runs alone)
    assert capsys.readouterr().out.splitlines()[-1] == "4 runs tagged"
    write(lab, "My-Sweep", "cnn", HELD)  # (its own name: My-Sweep-3, not one of them)
    with pytest.raises(AnimlibError, match=r"\(My-Sweep, My-Sweep-2\)"):
        animlib.summarize(lab, experiments="My Sweep")


def test_an_unknown_experiment_gets_the_one_it_is_a_typo_of(lab, monkeypatch, capsys):
    write(lab, "PGD sweep", "cnn", FOOLED)  # (id PGD-sweep)
    with pytest.raises(AnimlibError, match=r"no experiment 'mien' in .* \(did you mean 'mine'\?\)"):
        animlib.summarize(lab, experiments="mien")
    with pytest.raises(AnimlibError, match=r"did you mean 'PGD-sweep'\?"):
        animlib.summarize(lab, experiments="PGD swep")  # (a typo of the name, spaces and all)
    with pytest.raises(AnimlibError) as caught:
        animlib.summarize(lab, experiments="zzz,mien")
    assert "did you mean" not in str(caught.value)  # (two unknown: no guess)
    assert main(["outcomes", str(lab), "--experiment", "theris"]) == 2
    assert "(did you mean 'theirs'?)" in capsys.readouterr().err
    monkeypatch.setenv("ANIMLIB_RUNS", str(lab))
    assert main(["tag", "PGD swep", "--add", "x"]) == 2
    assert "did you mean the experiment 'PGD-sweep'?" in capsys.readouterr().err
