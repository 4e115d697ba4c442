"""Removals killed half-way (``rm``, an overwrite) and creations killed before their run.json:
what is left is the run whole or nothing a reader lists, and animlib itself can clear it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from helpers import CLASSES, image_for, probs_for

import animlib
from animlib import lock
from animlib.cli import main
from animlib.store import open_store, tombstones
from animlib.store.tombstones import TOMBSTONE


def _run(root, name: str, steps: int = 3) -> None:
    with animlib.RunWriter(root, name=name, class_names=CLASSES, true_label=0) as w:
        for i in range(steps):
            w.log(image=image_for(i), confidences=probs_for(i))


def _killed_in_rmtree(monkeypatch) -> None:
    """``shutil.rmtree`` dies (as a SIGKILL would) once it removed a file or two."""
    real = shutil.rmtree

    def dies(path, *args, **kwargs):
        files = sorted(f for f in os.listdir(path) if os.path.isfile(os.path.join(path, f)))
        for name in files[:2]:
            os.unlink(os.path.join(path, name))
        monkeypatch.setattr(shutil, "rmtree", real)
        raise SystemExit(137)

    monkeypatch.setattr(shutil, "rmtree", dies)


def _dead_writer_left(folder) -> None:
    """A folder a writer made and died in before its first run.json (a lock naming a process
    of this host that is gone, the temporary file of run.json)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder.mkdir(parents=True)
    dead = {"host": socket.gethostname(), "pid": gone.pid, "since": 0}
    (folder / lock.LOCK_NAME).write_text(json.dumps(dead))
    (folder / ".tmp-0a1b2c-run.json").write_text("{")


@pytest.mark.parametrize("how", ["rm", "overwrite"])
def test_a_removal_killed_half_way_leaves_the_run_gone_not_broken(tmp_path, monkeypatch, how):
    """``shutil.rmtree`` killed after run.json went left arrays without it: listed as broken,
    refused by ``rm`` and by the overwrite (no run.json), ``validate`` failing for the whole
    folder until a shell ``rm -r``; killed after a chunk went, a run missing a chunk that
    ``ls`` listed as whole."""
    monkeypatch.setattr(tombstones, "_swept", set())
    _run(tmp_path, "pgd")
    _run(tmp_path, "other")
    _killed_in_rmtree(monkeypatch)
    with pytest.raises(SystemExit):
        if how == "rm":
            main(["rm", str(tmp_path / "pgd"), "--yes"])
        else:
            animlib.RunWriter(tmp_path, name="pgd", class_names=CLASSES, if_exists="overwrite")
    infos = animlib.list_runs(tmp_path)
    assert [(i.id, i.ok) for i in infos] == [("other", True)]
    assert main(["validate", str(tmp_path)]) == 0
    (tomb,) = [p for p in tmp_path.iterdir() if p.name.startswith(TOMBSTONE)]
    _run(tmp_path, "pgd", steps=2)  # the name is free again
    assert len(animlib.open_run(tmp_path / "pgd")) == 2
    tombstones._swept.clear()  # (a later process: its first removal here clears tombstones)
    main(["rm", str(tmp_path / "other"), "--yes"])
    assert not tomb.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pgd"]


def test_an_experiments_overwrite_killed_half_way_leaves_it_whole_or_gone(tmp_path, monkeypatch):
    """The old samples went one ``rmtree`` after another: a kill left half of the experiment
    (still summarized), one sample half-deleted, and the same overwrite then refused it."""
    monkeypatch.setattr(tombstones, "_swept", set())

    def experiment(**kw):
        w = animlib.BatchWriter(tmp_path, experiment="eo", class_names=CLASSES,
                                true_labels=[0, 1, 2, 0], **kw)  # fmt: skip
        w.log(images=np.full((4, 8, 8), 0.5, np.float32), confidences=np.full((4, 4), 0.25))
        return w

    experiment().finish()
    _killed_in_rmtree(monkeypatch)
    with pytest.raises(SystemExit):
        experiment(if_exists="overwrite")
    assert [i.id for i in animlib.list_runs(tmp_path)] == []  # every old sample out of sight
    w = experiment(if_exists="overwrite")  # run again: it goes through
    w.finish()
    assert [e.id for e in animlib.list_experiments(tmp_path)] == ["eo"]


def test_a_folder_whose_writer_died_creating_it_is_cleared_by_rm_and_overwrite(tmp_path):
    """Killed between making the folder and its first run.json, a writer left its lock and a
    temporary run.json: listed as an empty folder, refused by ``rm``, by the overwrite and by
    ``resume``, so ``validate`` failed for the results folder until a shell ``rm -r``."""
    _dead_writer_left(tmp_path / "pgd")
    (info,) = animlib.list_runs(tmp_path)
    assert "stopped before writing it" in info.error and "animlib rm" in info.error
    assert main(["rm", str(tmp_path / "pgd"), "--yes"]) == 0
    assert not (tmp_path / "pgd").exists()
    _dead_writer_left(tmp_path / "pgd")
    with animlib.RunWriter(tmp_path, name="pgd", class_names=CLASSES, if_exists="overwrite") as w:
        w.log(image=image_for(0), confidences=probs_for(0))
    assert w.run_id == "pgd" and len(animlib.open_run(tmp_path / "pgd")) == 1


def test_an_experiment_sample_whose_writer_died_creating_it_is_overwritten(tmp_path):
    with animlib.BatchWriter(tmp_path, experiment="eo", class_names=CLASSES,
                             true_labels=[0, 1]) as w:  # fmt: skip
        w.log(images=np.full((2, 8, 8), 0.5, np.float32), confidences=np.full((2, 4), 0.25))
    _dead_writer_left(tmp_path / "eo-0002")  # (a sample of a wider rerun, killed being made)
    with animlib.BatchWriter(tmp_path, experiment="eo", class_names=CLASSES,
                             true_labels=[0, 1, 2], if_exists="overwrite") as w:  # fmt: skip
        w.log(images=np.full((3, 8, 8), 0.5, np.float32), confidences=np.full((3, 4), 0.25))
    assert sorted(i.id for i in animlib.list_runs(tmp_path) if i.ok) == [
        "eo-0000",
        "eo-0001",
        "eo-0002",
    ]


def test_a_live_writers_folder_is_not_taken_for_a_dead_one(tmp_path):
    """A folder being created right now holds the same files: its lock, held by a live writer,
    refuses the removal."""
    folder = tmp_path / "pgd"
    folder.mkdir()
    lock.acquire(open_store(str(folder)), "pgd")
    assert main(["rm", str(folder), "--yes"]) != 0
    assert (folder / lock.LOCK_NAME).exists()


def test_an_object_store_removes_a_runs_arrays_before_its_run_json(monkeypatch):
    """An object store has no rename: a removal cut short leaves run.json beside what is left
    (``rm`` or an overwrite finds it again), never arrays without it."""
    import uuid

    store = open_store(f"memory://animlib-{uuid.uuid4().hex}/runs").child("pgd")
    for path in ("run.json", "zarr.json", "images/zarr.json", "images/c.0.0.0.0"):
        store.write_atomic(path, b"{}")
    calls = []
    real = store.fs.rm
    monkeypatch.setattr(store.fs, "rm", lambda path, **kw: calls.append(path) or real(path, **kw))
    store.remove(recursive=True)
    assert all("/images/" in p for p in calls[0]) and len(calls[0]) == 2
    assert not store.contains("run.json") and not store.contains("images/zarr.json")


def test_tombstones_of_a_folder_that_cannot_be_listed_are_left_quietly(tmp_path, monkeypatch):
    def refused(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(tombstones.os, "scandir", refused)
    tombstones._sweep(str(tmp_path), keep="")  # (an UnboundLocalError after the rename)


def test_a_users_hidden_folder_beside_a_removed_run_is_left_alone(tmp_path, monkeypatch):
    """The first removal in a folder swept every ``.rm-*`` folder beside it: a user's
    ``.rm-later/thesis.tex`` went with ``rm`` of a run, unsaid."""
    monkeypatch.setattr(tombstones, "_swept", set())
    for name in (".rm-later", ".animlib-removing-later", f"{TOMBSTONE}0123456789abcdeg"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "thesis.tex").write_text("mine")
    _run(tmp_path, "pgd")
    assert main(["rm", str(tmp_path / "pgd"), "--yes"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{TOMBSTONE}0123456789abcdeg",
        ".animlib-removing-later",
        ".rm-later",
    ]


def test_an_empty_folder_a_writer_was_killed_making_is_cleared_once_old(tmp_path):
    """Killed between making the run folder and its lock, a writer left it empty: refused by
    ``rm``, an overwrite and an experiment's rerun. A folder made just now may be a live
    writer's that is about to take its lock: it is left alone."""
    (tmp_path / "pgd").mkdir()
    assert main(["rm", str(tmp_path / "pgd"), "--yes"]) == 2  # (just made)
    old = os.stat(tmp_path / "pgd").st_mtime - 60
    os.utime(tmp_path / "pgd", (old, old))
    assert main(["rm", str(tmp_path / "pgd"), "--yes"]) == 0
    (tmp_path / "pgd").mkdir()
    os.utime(tmp_path / "pgd", (old, old))
    (tmp_path / "eo-0001").mkdir()  # (just now: no writer holds the experiment's claim)
    with animlib.RunWriter(tmp_path, name="pgd", class_names=CLASSES, if_exists="overwrite") as w:
        w.log(image=image_for(0), confidences=probs_for(0))
    with animlib.BatchWriter(tmp_path, experiment="eo", class_names=CLASSES,
                             true_labels=[0, 1], if_exists="overwrite") as b:  # fmt: skip
        b.log(images=np.full((2, 8, 8), 0.5, np.float32), confidences=np.full((2, 4), 0.25))
    ok = sorted(i.id for i in animlib.list_runs(tmp_path) if i.ok)
    assert ok == ["eo-0000", "eo-0001", "pgd"]
