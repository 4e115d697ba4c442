"""A Run opened before its run was written again under its id (if_exists="overwrite", a notebook
cell run again) reads nothing of the new run: its images, confidences and renders raise
REPLACED instead of mixing the new run's pixels with the old run's numbers."""

from __future__ import annotations

import pickle
import uuid

import numpy as np
import pytest
from helpers import CLASSES, probs_for

import animlib
from animlib import run_reads
from animlib.errors import Code, RunFormatError
from animlib.tagging import retag


@pytest.fixture(autouse=True)
def render_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))


def write(root, steps: int, seed: int, **kw) -> None:
    rng = np.random.default_rng(seed)
    with animlib.RunWriter(
        root, name="pgd", class_names=CLASSES, true_label=0, if_exists="overwrite", **kw
    ) as w:
        for step in range(steps):
            w.log(image=rng.random((8, 8, 3), dtype=np.float32), confidences=probs_for(step))


def roots(tmp_path) -> dict[str, str]:
    return {"local": str(tmp_path / "runs"), "memory": f"memory://replaced-{uuid.uuid4().hex}"}


@pytest.mark.parametrize("where", ["local", "memory"])
@pytest.mark.parametrize("new_steps", [12, 4])  # as long (read silently) and shorter ("cut short")
def test_a_run_written_again_since_it_was_opened_is_said_to_be_replaced(
    tmp_path, monkeypatch, where, new_steps
):
    monkeypatch.setattr(run_reads, "RECHECK", 0.0)  # (object storage: looked at every read)
    root = roots(tmp_path)[where]
    write(root, 12, seed=1)
    old = animlib.open_run_in(root, "pgd")
    blob = pickle.dumps(animlib.open_run_in(root, "pgd"))  # (as sent to a Dask worker)
    first = np.asarray(old.images[0]).copy()
    write(root, new_steps, seed=2)
    for read in (
        lambda: old.images[2],
        lambda: old.images[0:3],
        lambda: old.confidences,
        lambda: animlib.run_metrics(old),
        lambda: animlib.render(old, tmp_path / "mixed.mp4"),
    ):
        with pytest.raises(RunFormatError) as err:
            read()
        assert err.value.code == Code.REPLACED and err.value.run == "pgd", err.value
        assert "was written again since it was opened" in str(err.value)
        assert "run.reopen()" in str(err.value)
    assert not (tmp_path / "mixed.mp4").exists()
    new = old.reopen()
    assert len(new) == new_steps and not np.array_equal(np.asarray(new.images[0]), first)
    copy = pickle.loads(blob)  # (a worker's copy checks at its first read)
    with pytest.raises(RunFormatError, match="written again"):
        copy.images[1]


def test_a_run_removed_since_it_was_opened_is_said_to_be_removed(tmp_path):
    root = tmp_path / "runs"
    write(root, 3, seed=1)
    old = animlib.open_run_in(root, "pgd")
    animlib.open_run_in(root, "pgd").store.remove(recursive=True)
    with pytest.raises(RunFormatError, match="was removed since it was opened") as err:
        old.images[1]
    assert err.value.code == Code.MISSING


def test_a_run_still_being_written_reads_on_under_its_snapshot(tmp_path):
    """run.json rewritten by the same run (more steps, a tag) is the same run: no refusal."""
    rng = np.random.default_rng(0)
    images = [rng.random((8, 8, 3), dtype=np.float32) for _ in range(9)]
    with animlib.RunWriter(tmp_path, name="live", class_names=CLASSES, true_label=0) as w:
        for step in range(4):
            w.log(image=images[step], confidences=probs_for(step))
        snap = animlib.open_run_in(tmp_path, "live")
        assert len(snap) == 4
        for step in range(4, 9):
            w.log(image=images[step], confidences=probs_for(step))
            assert np.array_equal(np.asarray(snap.images[step % 4]), images[step % 4])
    assert retag(tmp_path / "live", add=["seen"]) == ["seen"]
    assert np.array_equal(np.asarray(snap.images[3]), images[3])
    assert snap.confidences.shape == (4, len(CLASSES))


def test_a_run_without_a_run_uid_is_read_as_before(tmp_path):
    """Another tool's run.json names no run_uid: nothing to compare, nothing refused."""
    import json

    write(tmp_path, 3, seed=1)
    path = tmp_path / "pgd" / "run.json"
    meta = json.loads(path.read_text())
    del meta["run_uid"]
    path.write_text(json.dumps(meta))
    run = animlib.open_run_in(tmp_path, "pgd")
    write(tmp_path, 3, seed=2)
    assert np.asarray(run.images[1]).shape == (8, 8, 3)
