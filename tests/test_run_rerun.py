"""RunWriter's if_exists: a rerun writes a fresh id, replaces the old run, or is refused."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import CLASSES, image_for, probs_for

import animlib
from animlib.errors import Code, RunInputError


def write(root, steps: int, **kw) -> str:
    with animlib.RunWriter(root, name="rerun", class_names=CLASSES, true_label=0, **kw) as w:
        for i in range(steps):
            w.log(image=image_for(i), confidences=probs_for(i))
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
    with pytest.raises(RunInputError, match="not a run, and is left alone"):
        write(tmp_path, 1, if_exists="overwrite")
    assert (tmp_path / "rerun" / "notes.txt").read_text() == "mine"


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

    with pytest.warns(UserWarning, match="run 'empty' logged no step: nothing was kept"):
        with animlib.RunWriter(tmp_path, name="empty", class_names=["a", "b"], true_label=0):
            pass
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
    with pytest.raises(RunInputError, match="holds no run.json: it is not a run"):
        with animlib.RunWriter(top, name="results", class_names=CLASSES, if_exists="overwrite"):
            pass
    assert (results / "good" / "run.json").is_file()
