"""RunWriter's if_exists: a rerun writes a fresh id, replaces the old run, or is refused."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CLASSES, image_for, probs_for

import animlib
from animlib.errors import Code, RunInputError


def write(root, steps: int, *, scalars: bool = False, **kw) -> str:
    with animlib.RunWriter(root, name="rerun", class_names=CLASSES, true_label=0, **kw) as w:
        for i in range(steps):
            extra = {"loss": float(i)} if scalars else {}
            w.log(image=image_for(i), confidences=probs_for(i), **extra)
    return w.run_id


def test_new_is_the_default_and_keeps_the_old_run(tmp_path):
    assert write(tmp_path, 2) == "rerun"
    assert write(tmp_path, 3) == "rerun-2"
    assert write(tmp_path, 1, if_exists="new") == "rerun-3"
    assert len(animlib.open_run_in(tmp_path, "rerun")) == 2


def test_overwrite_replaces_the_run_under_the_same_id(tmp_path):
    assert write(tmp_path, 4) == "rerun"
    assert write(tmp_path, 2, if_exists="overwrite") == "rerun"
    assert [r.id for r in animlib.list_runs(tmp_path)] == ["rerun"]
    run = animlib.open_run_in(tmp_path, "rerun")
    assert len(run) == 2 and np.array_equal(run.images[1], image_for(1))
    assert write(tmp_path / "fresh", 1, if_exists="overwrite") == "rerun"  # nothing to replace


def test_error_refuses_and_touches_nothing(tmp_path):
    write(tmp_path, 3)
    with pytest.raises(RunInputError, match="a run 'rerun' exists") as err:
        write(tmp_path, 1, if_exists="error")
    assert err.value.field == "if_exists" and err.value.run == "rerun"
    assert [r.id for r in animlib.list_runs(tmp_path)] == ["rerun"]
    assert len(animlib.open_run_in(tmp_path, "rerun")) == 3
    assert write(tmp_path / "other", 1, if_exists="error") == "rerun"


def test_overwrite_refuses_a_run_a_live_writer_holds(tmp_path):
    live = animlib.RunWriter(tmp_path, name="rerun", class_names=CLASSES, true_label=0)
    live.log(image=image_for(0), confidences=probs_for(0))
    with pytest.raises(RunInputError, match="cannot be overwritten") as err:
        write(tmp_path, 1, if_exists="overwrite")
    assert err.value.code == Code.BUSY
    live.log(image=image_for(1), confidences=probs_for(1))
    live.finish()
    assert len(animlib.open_run_in(tmp_path, "rerun")) == 2


def test_overwrite_leaves_a_folder_that_is_not_a_run_alone(tmp_path):
    (tmp_path / "rerun").mkdir()
    (tmp_path / "rerun" / "notes.txt").write_text("mine")
    with pytest.raises(RunInputError, match=r"not a run \(without a run.json file\): it is left"):
        write(tmp_path, 1, if_exists="overwrite")
    assert (tmp_path / "rerun" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["local", "memory"])
def test_overwrite_refuses_a_run_holding_files_its_writer_did_not_make(tmp_path, where):
    """Overwrite removed the old run folder whole: a NOTES.md and a myrenders/ folder the user
    had put in it were lost. Such a run is now refused before anything is removed, naming the
    files; a run holding only its writer's files (scalars, a kill's leftover) is replaced."""
    import uuid

    from animlib.store import open_store

    root = str(tmp_path) if where == "local" else f"memory://animlib-{uuid.uuid4().hex}/runs"
    write(root, 3, scalars=True)
    folder = open_store(root).child("rerun")
    folder.write_atomic(".tmp-0123abcd", b"")  # a killed writer's leftovers are the run's own
    folder.write_atomic("images/.tmp-4567cdef", b"")
    assert write(root, 2, if_exists="overwrite", scalars=True) == "rerun"
    assert not {".tmp-0123abcd", "images/.tmp-4567cdef"} & set(folder.find(""))
    folder.write_atomic("NOTES.md", b"my notes")
    folder.make_folder("myrenders")
    folder.write_atomic("myrenders/a.txt", b"x")
    before = sorted(folder.find(""))
    with pytest.raises(RunInputError) as err:
        write(root, 1, if_exists="overwrite")
    said = str(err.value)
    assert err.value.run == "rerun" and err.value.field == "if_exists"
    assert "holds files its writer did not make (NOTES.md, myrenders/a.txt)" in said
    assert "move them out of the run folder, or pass if_exists='new'" in said
    assert sorted(folder.find("")) == before and folder.read("NOTES.md") == b"my notes"
    assert len(animlib.open_run_in(root, "rerun")) == 2
    assert write(root, 1) == "rerun-2"  # "new" goes beside it


@pytest.mark.parametrize(
    ("make", "words", "code"),
    [
        ("link", "not a run (a symlink that leads outside the results folder)", Code.INVALID),
        ("loop", "is taken: another writer started a run with this id meanwhile, or", Code.BUSY),
        ("file", "not a run (without a run.json file)", Code.INVALID),
    ],
)
def test_overwrite_of_a_name_that_is_no_run_folder_says_what_it_is(tmp_path, make, words, code):
    """A link leading outside gave "StoreError: : is a symlink ..." (no run, no path); a link
    loop "a run exists ... 'overwrite' replaces it" to a writer that passed overwrite; a
    file was called a folder."""
    root = tmp_path / "runs"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    if make == "link":
        (root / "rerun").symlink_to(outside)
    elif make == "loop":
        (root / "rerun").symlink_to(root / "other")
        (root / "other").symlink_to(root / "rerun")
    else:
        (root / "rerun").write_text("mine")
    with pytest.raises(RunInputError) as err:
        write(root, 1, if_exists="overwrite")
    assert words in str(err.value) and err.value.code == code
    assert err.value.run == "rerun" and err.value.field == "if_exists"
    assert sorted(p.name for p in root.iterdir()) == (
        ["other", "rerun"] if make == "loop" else ["rerun"]
    )


def test_an_unknown_if_exists_is_named(tmp_path):
    with pytest.raises(RunInputError, match="must be one of new, overwrite, error") as err:
        write(tmp_path, 1, if_exists="replace")
    assert err.value.field == "if_exists"
    assert not list(tmp_path.iterdir())


def test_a_run_that_logged_nothing_leaves_nothing(tmp_path):
    """``with RunWriter(...): pass`` (a loop that logged nothing, e.g. an image the model
    already got wrong) left a finished run of zero steps, which validate and ls call broken;
    a failure before the first step already left nothing. Now both leave nothing."""
    from animlib.cli import main

    with pytest.warns(UserWarning, match="run 'empty' logged no step: nothing was kept") as said:
        with animlib.RunWriter(tmp_path, name="empty", class_names=["a", "b"], true_label=0):
            pass
    assert [m.filename for m in said] == [__file__]  # (it named writer.py's __exit__)
    with pytest.raises(KeyError):
        with animlib.RunWriter(tmp_path, name="failed", class_names=["a", "b"], true_label=0):
            raise KeyError("before any step")
    assert list(tmp_path.iterdir()) == []
    with animlib.RunWriter(tmp_path, name="one", class_names=["a", "b"], true_label=0) as w:
        w.log(image=np.zeros((4, 4, 3), np.float32), confidences=[0.5, 0.5])
    assert main(["validate", str(tmp_path)]) == 0


def test_a_whole_number_float_label_is_taken_as_batchwriter_takes_it(tmp_path):
    """RunWriter refused ``true_label=torch.tensor(6.)`` where BatchWriter takes float labels
    of whole numbers; a fraction is still refused."""
    import torch

    kw = dict(class_names=[str(k) for k in range(10)])
    with animlib.RunWriter(tmp_path, name="f", true_label=torch.tensor(6.0), **kw) as w:
        w.log(image=np.zeros((4, 4, 3), np.float32), confidences=np.full(10, 0.1))
    assert animlib.open_run(tmp_path / w.run_id).true_label == 6
    with pytest.raises(RunInputError, match="must be an integer class index; got 6.5"):
        animlib.RunWriter(tmp_path, name="g", true_label=6.5, **kw)


def test_a_run_named_like_a_run_file_cannot_make_its_results_folder_read_as_a_run(tmp_path):
    """A run named ``run.json`` got the id ``run.json``: its folder made the results folder
    pass for a run, so ``validate`` failed the whole folder and an ``if_exists="overwrite"``
    of that folder's name removed every run in it."""
    top = tmp_path / "top"
    results = top / "results"
    for name in ("good", "run.json", "ZARR.json"):
        with animlib.RunWriter(results, name=name, class_names=CLASSES) as w:
            w.log(image=image_for(0), confidences=probs_for(0))
    assert sorted(r.id for r in animlib.list_runs(results)) == ["ZARR-json", "good", "run-json"]
    (results / "run.json").mkdir()  # as an older animlib named the run's folder
    reports = animlib.validate(results)
    assert [r.id for r in reports if r.ok] == ["ZARR-json", "good", "run-json"]
    with pytest.raises(RunInputError, match="not a run .without a run.json file."):
        with animlib.RunWriter(top, name="results", class_names=CLASSES, if_exists="overwrite"):
            pass
    assert (results / "good" / "run.json").is_file()


def test_overwrite_holds_the_old_runs_lock_while_it_removes_it(tmp_path, monkeypatch):
    """Overwrite checked that no live writer held the old run, then removed it: a writer that
    took the run in between had its live run removed. The check is now taking the old run's
    lock (refused if held), kept while removing, RunWriter and BatchWriter alike."""
    import json
    import os

    from animlib.store import LocalStore

    write(tmp_path, 2)
    with animlib.BatchWriter(tmp_path, experiment="exp", class_names=CLASSES) as w:
        w.log(images=np.stack([image_for(0)] * 2), confidences=np.stack([probs_for(0)] * 2))
    held_while_removing = []
    original = LocalStore.remove

    def spy(self, path="", *, recursive=False):
        if recursive and path == "":
            lock = os.path.join(self.url, ".writer.lock")
            with open(lock) as f:
                held_while_removing.append((self.name, json.load(f)["pid"]))
        return original(self, path, recursive=recursive)

    monkeypatch.setattr(LocalStore, "remove", spy)
    write(tmp_path, 1, if_exists="overwrite")
    with animlib.BatchWriter(
        tmp_path, experiment="exp", class_names=CLASSES, if_exists="overwrite"
    ) as w:
        w.log(images=np.stack([image_for(1)] * 2), confidences=np.stack([probs_for(1)] * 2))
    # (an experiment's samples are all set aside first: removed under their tombstones' names)
    from animlib.store.tombstones import TOMBSTONE

    names = sorted(name for name, _ in held_while_removing)
    assert names[-1] == "rerun" and all(n.startswith(TOMBSTONE) for n in names[:-1])
    assert [pid for _, pid in held_while_removing] == [os.getpid()] * 3
    assert len(animlib.open_run_in(tmp_path, "rerun")) == 1


def test_overwrite_of_a_run_a_live_writer_took_is_refused_and_takes_no_lock(tmp_path):
    write(tmp_path, 2)
    with animlib.BatchWriter(tmp_path, experiment="exp", class_names=CLASSES) as w:
        w.log(images=np.stack([image_for(0)] * 2), confidences=np.stack([probs_for(0)] * 2))
    w = animlib.BatchWriter(tmp_path, experiment="exp", class_names=CLASSES, if_exists="overwrite")
    live = animlib.RunWriter.resume(tmp_path / "exp-0001")  # taken after the writer's check
    with pytest.raises(RunInputError, match="cannot be overwritten") as err:
        w.log(images=np.stack([image_for(1)] * 2), confidences=np.stack([probs_for(1)] * 2))
    assert err.value.code == Code.BUSY and err.value.run == "exp-0001"
    assert not (tmp_path / "exp-0000" / ".writer.lock").exists()  # the lock taken is given back
    assert len(animlib.open_run_in(tmp_path, "exp-0000")) == 1
    live.finish()
    w.finish()


def test_writers_refuse_a_run_folder_as_their_results_folder(tmp_path):
    """A run folder given as ``root`` (a run's path pasted for its results folder) took runs
    inside that run: listed nowhere, and removed with it."""
    write(tmp_path, 1)
    run = tmp_path / "rerun"
    before = sorted(p.name for p in run.iterdir())
    for make in (
        lambda: animlib.RunWriter(run, name="inner", class_names=CLASSES),
        lambda: animlib.BatchWriter(run, experiment="exp", class_names=CLASSES),
    ):
        with pytest.raises(RunInputError, match="is a run folder, not a results folder") as err:
            with make() as w:
                w.log(images=np.stack([image_for(0)] * 2), confidences=np.stack([probs_for(0)] * 2))
        assert err.value.field == "root"
    assert sorted(p.name for p in run.iterdir()) == before
    assert [r.id for r in animlib.list_runs(tmp_path)] == ["rerun"]


def test_resume_takes_the_layout_the_run_was_started_with(tmp_path):
    """RunWriter.resume had no layout=: a square CHW run resumed read its images as HWC."""
    chw = np.random.default_rng(0).random((3, 3, 3)).astype(np.float32)
    with animlib.RunWriter(tmp_path, name="chw", layout="CHW") as w:
        w.log(image=chw)
    with animlib.RunWriter.resume(tmp_path / "chw", layout="CHW") as w:
        w.log(image=chw)
    run = animlib.open_run(tmp_path / "chw")
    np.testing.assert_array_equal(run.images[1], run.images[0])
    np.testing.assert_array_equal(run.images[1], np.moveaxis(chw, 0, -1))
    with pytest.raises(RunInputError, match="layout"):
        animlib.RunWriter.resume(tmp_path / "chw", layout="NCHW")
