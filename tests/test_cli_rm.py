"""``animlib rm``: an experiment's runs (and no rerun's: ``rm -r runs/pgd-*`` also took
``pgd-2``'s), a run, after a listing and a question; never a live writer's run, a folder that
is no run, or a run holding files its writer did not make."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

import animlib
from animlib.cli import main


def _experiment(root, name: str = "pgd", samples: int = 3) -> None:
    with animlib.BatchWriter(root, experiment=name, class_names=["a", "b"],
                             true_labels=[0] * samples) as w:  # fmt: skip
        w.log(images=np.full((samples, 6, 6, 1), 0.5), confidences=np.array([[0.8, 0.2]] * samples))


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path))
    _experiment(tmp_path)
    _experiment(tmp_path)  # the rerun: pgd-2
    return tmp_path


def test_an_experiment_goes_and_its_rerun_stays(lab, capsys):
    assert main(["rm", "pgd", "--yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:-1]] == ["pgd-0000", "pgd-0001", "pgd-0002"]
    assert out[-1].startswith("removed 3 runs (") and out[-1].endswith(" freed)")
    assert sorted(os.listdir(lab)) == ["pgd-2-0000", "pgd-2-0001", "pgd-2-0002"]
    assert main(["validate", str(lab), "--quick"]) == 0  # (nothing missing: it went whole)
    assert [e.id for e in animlib.list_experiments(lab)] == ["pgd-2"]


def test_dry_run_and_no_terminal_remove_nothing(lab, capsys, monkeypatch):
    before = sorted(os.listdir(lab))
    assert main(["rm", "pgd-2", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("would remove 3 runs (")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # (not a terminal: --yes is needed)
    assert main(["rm", "pgd-2"]) == 2
    assert "error: pass --yes to remove 3 runs" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", None)  # (stdin closed: a service, ``<&-``) no traceback
    assert main(["rm", "pgd-2"]) == 2
    assert "error: pass --yes to remove 3 runs" in capsys.readouterr().err
    assert sorted(os.listdir(lab)) == before


def test_a_no_at_the_question_removes_nothing(lab, capsys, monkeypatch):
    answers = io.StringIO("n\n")
    answers.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", answers)
    assert main(["rm", "pgd-0001"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].endswith("? [y/N] nothing removed")
    assert (lab / "pgd-0001" / "run.json").is_file()


def test_a_live_writers_run_and_a_users_file_are_refused(lab, capsys):
    w = animlib.RunWriter(lab, name="live", class_names=["a", "b"], true_label=0)
    w.log(image=np.full((6, 6, 1), 0.5), confidences=[0.8, 0.2])
    (lab / "pgd-0002" / "notes.txt").write_text("mine")
    try:
        assert main(["rm", "live", "pgd-0002", "pgd-0000", "--yes"]) == 1
        out, err = capsys.readouterr()
        assert "error: run 'live': lock: a writer in this process is writing this run" in err
        assert "holds files its writer did not make (notes.txt): nothing was removed" in err
        assert out.splitlines()[-1].startswith("removed 1 run (") and out.endswith(", 2 not\n")
        assert (lab / "live" / "run.json").is_file() and (lab / "pgd-0002" / "notes.txt").is_file()
        assert not (lab / "pgd-0000").exists()
    finally:
        w.finish()


def test_an_unknown_target_removes_nothing(lab, capsys):
    before = sorted(os.listdir(lab))
    assert main(["rm", "pgd-0000", "nope", "--yes"]) == 2
    assert "error: run 'nope'" in capsys.readouterr().err
    assert sorted(os.listdir(lab)) == before


def test_a_name_whose_experiment_is_gone_is_not_taken_for_its_rerun(lab, capsys):
    """A second ``rm pgd`` took the rerun pgd-2: once the id pgd was gone, the name pgd
    resolved to pgd-2."""
    assert main(["rm", "pgd", "--yes"]) == 0
    capsys.readouterr()
    assert main(["rm", "pgd", "--yes"]) == 2
    assert "the name experiment 'pgd-2' was made from: name that one by its id" in (
        capsys.readouterr().err
    )
    assert sorted(os.listdir(lab)) == ["pgd-2-0000", "pgd-2-0001", "pgd-2-0002"]


def test_links_and_folders_that_are_no_run_are_refused_and_nothing_goes(lab, capsys):
    """A link to a run was removed and the run it led to kept a writer lock; a results folder
    or "/" was listed (and sized, walking the disk) as a run to remove."""
    os.symlink(lab / "pgd-0000", lab / "alias")
    for target in ("alias", str(lab), "."):
        assert main(["rm", "pgd-0001", target, "--dry-run"]) == 2, target
        err = capsys.readouterr().err
        assert "nothing removed" in err and ("a link to a folder" in err or "no run.json" in err)
    assert main(["rm", "pgd-0001", "alias", "--yes"]) == 2
    capsys.readouterr()
    assert sorted(p.name for p in (lab / "pgd-0000").iterdir()) == sorted(
        p.name for p in (lab / "pgd-0002").iterdir()
    )  # (no lock left in the run the link leads to)
    assert (lab / "pgd-0001").is_dir()


def test_two_spellings_of_a_run_are_one_and_ctrl_d_removes_nothing(lab, capsys, monkeypatch):
    assert main(["rm", "pgd-0001", str(lab / "pgd-0001"), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("would remove 1 run (")
    answers = io.StringIO("")  # (Ctrl-D: end of input)
    answers.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", answers)
    assert main(["rm", "pgd-0001"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "nothing removed"
    assert (lab / "pgd-0001").is_dir()


def test_a_path_into_the_results_folder_names_that_run_whatever_the_working_folder(
    lab, tmp_path_factory, capsys, monkeypatch
):
    """From inside another results folder, ``rm /abs/A/pgd-0000`` removed that folder's own
    pgd-0000 (the path was cut to its id, and an id is looked up in the working folder first);
    ``rm /abs/A/.`` from inside a run removed that run."""
    other = tmp_path_factory.mktemp("other")
    _experiment(other)
    monkeypatch.chdir(other)
    assert main(["rm", str(lab / "pgd-0000"), "--yes"]) == 0
    assert not (lab / "pgd-0000").exists() and (other / "pgd-0000").is_dir()
    monkeypatch.chdir(other / "pgd-0001")
    for target in (f"{lab}/.", f"{lab}/pgd-0002/images/../.."):
        assert main(["rm", target, "--yes"]) == 2, target
        assert "nothing removed" in capsys.readouterr().err
    assert (other / "pgd-0001").is_dir() and (lab / "pgd-0002").is_dir()
    capsys.readouterr()
    os.symlink(lab / "pgd-0002", other / "pgd-0001" / "alias")
    assert main(["rm", "alias/.", "--yes"]) == 2
    assert "a link to a folder" in capsys.readouterr().err
    assert sorted(p.name for p in (lab / "pgd-0002").iterdir()) == sorted(
        p.name for p in (lab / "pgd-0001").iterdir()
    )  # (no lock left behind)


def test_an_id_naming_a_run_and_an_experiment_is_refused(lab, capsys):
    """``rm solo`` took the run, a second ``rm solo`` the experiment's runs."""
    with animlib.RunWriter(lab, name="pgd-2", class_names=["a", "b"], true_label=0) as w:
        w.log(image=np.full((6, 6, 1), 0.5), confidences=[0.8, 0.2])
    assert main(["rm", "pgd-2", "--yes"]) == 2
    assert "names a run and an experiment: name the run by its folder" in capsys.readouterr().err
    assert main(["rm", str(lab / "pgd-2"), "--yes"]) == 0  # (by its folder: the run alone)
    assert (lab / "pgd-2-0000").is_dir() and not (lab / "pgd-2").exists()


def test_a_folder_named_run_json_is_no_run(lab, capsys):
    (lab / "odd" / "run.json").mkdir(parents=True)
    assert main(["rm", str(lab / "odd"), "--dry-run"]) == 2
    assert "no run.json file" in capsys.readouterr().err


def test_a_run_outside_the_results_folder_is_listed_by_its_folder(
    lab, tmp_path_factory, capsys, monkeypatch
):
    """An id is looked up in the working folder first: the list said only ``pgd-0000``,
    whichever folder would go."""
    other = tmp_path_factory.mktemp("other")
    _experiment(other)
    monkeypatch.chdir(other)
    assert main(["rm", "pgd-0000", "pgd-2-0001", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == str(other / "pgd-0000") and lines[1].split()[0] == "pgd-2-0001"


def test_runs_go_from_a_full_disk_which_stores_no_lock(lab, capsys, monkeypatch):
    """``rm`` first wrote its lock, which a full disk refused ("lock: cannot be written: no
    space left"): removing runs, what a full disk calls for, removed nothing. A live writer's
    run is still refused."""
    import errno

    from animlib.store import LocalStore
    from animlib.store.base import storage_error

    w = animlib.RunWriter(lab, name="live", class_names=["a", "b"], true_label=0)
    w.log(image=np.full((6, 6, 1), 0.5), confidences=[0.8, 0.2])

    def full(self, path, data):
        raise storage_error(OSError(errno.ENOSPC, "No space left on device"), path, self.url)

    monkeypatch.setattr(LocalStore, "create_exclusive", full)
    try:
        assert main(["rm", "pgd", "live", "--yes"]) == 1
        out, err = capsys.readouterr()
        assert "error: run 'live': lock: a writer in this process is writing this run" in err
        assert out.splitlines()[-1].startswith("removed 3 runs (") and out.endswith(", 1 not\n")
        assert sorted(os.listdir(lab)) == ["live", "pgd-2-0000", "pgd-2-0001", "pgd-2-0002"]
    finally:
        monkeypatch.undo()
        w.finish()
