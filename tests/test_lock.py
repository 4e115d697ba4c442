"""The writer lock: of processes taking a killed writer's lock at once, exactly one gets it."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from helpers import CLASSES, image_for, probs_for

import animlib
from animlib import lock
from animlib.errors import Code, RunInputError
from animlib.store import LocalStore, open_store


@pytest.fixture
def killed_run(tmp_path):
    """A run whose writer died: its lock names a process of this host that is gone."""
    with animlib.RunWriter(tmp_path, name="r", class_names=CLASSES) as w:
        w.log(image=image_for(0), confidences=probs_for(0))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = {"host": socket.gethostname(), "pid": gone.pid, "since": 0}
    (tmp_path / "r" / lock.LOCK_NAME).write_text(json.dumps(dead))
    return tmp_path / "r"


def test_writers_taking_a_dead_lock_at_once_leave_exactly_one_holding_it(killed_run, monkeypatch):
    """Each read the dead lock, then removed "it": a slow one removed the lock the other had
    just taken, and both resumed the run (one's steps were overwritten). Reads of the lock
    are slowed here so that every taker reads the dead one before any removes it."""
    real = LocalStore.read

    def slow(self, path, **kw):
        data = real(self, path, **kw)
        if path == lock.LOCK_NAME:
            time.sleep(0.1)
        return data

    monkeypatch.setattr(LocalStore, "read", slow)
    store, start = open_store(killed_run), threading.Barrier(4)
    won, busy = [], []

    def take(k: int) -> None:
        start.wait()
        try:
            lock.acquire(store, "r")
            won.append(k)
        except RunInputError as exc:
            busy.append(exc.code)

    threads = [threading.Thread(target=take, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and busy == [Code.BUSY] * 3
    assert sorted(p.name for p in killed_run.iterdir() if p.name.startswith(".")) == [
        lock.LOCK_NAME
    ]  # no takeover marker left


def test_a_marker_left_by_a_taker_that_died_does_not_block_the_run(killed_run):
    dead_lock = (killed_run / lock.LOCK_NAME).read_bytes()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    marker = killed_run / f"{lock.LOCK_NAME}.takeover-{hashlib.sha1(dead_lock).hexdigest()[:16]}"
    marker.write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid}))
    with animlib.RunWriter.resume(killed_run) as w:  # the marker's taker is gone: taken over
        w.log(image=image_for(1), confidences=probs_for(1))
    assert len(animlib.open_run(killed_run)) == 2 and not marker.exists()


def test_an_unreadable_takeover_marker_does_not_block_the_run(killed_run):
    """An empty marker (not one of ours: ours are written whole) blocked resume for good."""
    dead_lock = (killed_run / lock.LOCK_NAME).read_bytes()
    marker = killed_run / f"{lock.LOCK_NAME}.takeover-{hashlib.sha1(dead_lock).hexdigest()[:16]}"
    marker.write_text("")
    with animlib.RunWriter.resume(killed_run) as w:
        w.log(image=image_for(1), confidences=probs_for(1))
    assert not marker.exists()


def test_a_folder_a_writer_claimed_and_left_says_so(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / ".claim").write_bytes(b"")
    (info,) = animlib.list_runs(tmp_path)
    assert "a writer created this folder and stopped before writing it" in info.error


def test_a_lock_this_process_holds_is_named_as_this_processs(tmp_path):
    """Refused by a writer this very process had left open (a notebook cell run again), the
    error said "another writer (pid N on host) is writing this run" with N the kernel's own
    pid, and an experiment's said "this run" too: the user looked for another process. Now "a
    writer in this process", how to close it, and "this experiment" for an experiment; a lock
    of another live process is named by its pid as before."""
    from animlib.errors import ExperimentInputError
    from animlib.experiment_ids import check_free, remove_runs

    w = animlib.RunWriter(tmp_path, name="r", class_names=CLASSES)
    w.log(image=image_for(0), confidences=probs_for(0))
    store = open_store(tmp_path / "r")
    with pytest.raises(RunInputError) as err:
        lock.acquire(store, "r")
    assert err.value.code == Code.BUSY and err.value.field == "lock"
    assert err.value.message.startswith("a writer in this process is writing this run (close")
    assert ".finish()" in err.value.message and "another" not in err.value.message
    with pytest.raises(ExperimentInputError) as err:
        remove_runs(str(tmp_path), ["r"], experiment="exp")
    assert str(err.value).startswith(
        "experiment 'exp': if_exists: a writer in this process is writing this experiment "
        "(its run 'r'); it cannot be overwritten (close it first: its .finish()"
    )
    assert err.value.code == Code.BUSY and err.value.run == "r"
    held = json.loads((tmp_path / "r" / lock.LOCK_NAME).read_text())
    other = {**held, "pid": os.getppid()}  # a live process of this host, not this one
    (tmp_path / "r" / lock.LOCK_NAME).write_text(json.dumps(other))
    with pytest.raises(RunInputError, match=f"^run 'r': lock: another writer .pid {os.getppid()} "):
        lock.acquire(store, "r")
    with pytest.raises(ExperimentInputError) as err:
        check_free(open_store(tmp_path), ["r"], "exp")
    assert f"another writer (pid {os.getppid()} on" in err.value.message
    assert "this experiment (its run 'r')" in err.value.message and "finish" not in str(err.value)
    (tmp_path / "r" / lock.LOCK_NAME).write_text(json.dumps(held))
    w.finish()
