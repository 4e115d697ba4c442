"""How often one CLI command lists the results folder and parses run.json files.

Review 133 (21,005 runs): ``animlib summary`` refreshed the run index three times (summarize,
then list_experiments and list_runs for a note: 63,929 ``stat`` calls) and parsed every sample
run.json again for the note on runs past their ``eps``; ``ls --experiment X`` parsed every
run.json of the folder for its status column before keeping the 5 % it shows.
"""

from __future__ import annotations

import shutil

import pytest
from helpers import moved_experiment, write_run

from animlib import meta as M
from animlib import outcomes
from animlib.cli import main
from animlib.index.runindex import RunIndex


@pytest.fixture
def folder(tmp_path):
    """Two experiments (one of them short of a sample run, one with a run past its ε), a
    plain run and a folder whose run.json cannot be read."""
    root = tmp_path / "runs"
    moved_experiment(root, "pgd", 0.1, moved=(0.05, 0.05, 0.05))
    moved_experiment(root, "buggy", 0.1, moved=(0.05, 0.3, 0.05))
    shutil.rmtree(root / "pgd-0002")
    write_run(root, "plain", steps=3)
    (root / "junk").mkdir()
    (root / "junk" / "run.json").write_text("{not json")
    return root


@pytest.fixture
def refreshes(monkeypatch) -> list[str]:
    """The run index refreshes made from now on (one per listing of the folder)."""
    made: list[str] = []
    real = RunIndex.refresh

    def refresh(self, *args, **kwargs):
        made.append(self.url)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RunIndex, "refresh", refresh)
    return made


@pytest.mark.parametrize(
    "extra", [[], ["--experiment", "pgd"], ["--by", "attack,params.eps"], ["--json"]]
)
def test_a_summary_lists_the_folder_once_and_its_notes_read_that_listing(
    folder, refreshes, capsys, extra
):
    assert main(["summary", str(folder), *extra]) == 0
    err = capsys.readouterr().err
    assert len(refreshes) == 1  # (before: 3)
    assert "note: experiment pgd: 1 of its 3 sample runs are not in the folder" in err
    if extra[:1] != ["--experiment"]:  # (narrowed: of its own runs only)
        assert "note: 1 run folder could not be read" in err
        assert "note: 1 successful run goes past params.eps: buggy-0001 (L∞ 0.3 > ε 0.1)" in err


def test_a_summary_of_no_experiment_lists_the_folder_once(tmp_path, refreshes, capsys):
    write_run(tmp_path, "plain", steps=3)
    write_run(tmp_path, "other", steps=3)
    assert main(["summary", str(tmp_path)]) == 0
    assert "none of its 2 readable runs was logged by a BatchWriter" in capsys.readouterr().out
    assert len(refreshes) == 1  # (before: 4)


def test_outcomes_lists_the_folder_once(folder, refreshes, capsys):
    assert main(["outcomes", str(folder), "--csv"]) == 0
    assert "note: experiment pgd: 1 of its 3 sample runs" in capsys.readouterr().err
    assert len(refreshes) == 1  # (before: 3)


def test_the_note_on_runs_past_eps_parses_only_the_runs_that_may_be(folder, monkeypatch, capsys):
    """The index's L∞ and eps columns leave one run of five to look at in its run.json."""
    looked = []
    real = outcomes.past_budget
    monkeypatch.setattr(outcomes, "past_budget", lambda meta: looked.append(meta) or real(meta))
    assert main(["summary", str(folder)]) == 0
    assert "goes past params.eps: buggy-0001 (L∞ 0.3 > ε 0.1)" in capsys.readouterr().err
    assert [m["name"] for m in looked] == ["buggy-0001"]  # (before: every sample run)


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
