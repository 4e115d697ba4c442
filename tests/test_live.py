"""Live runs: a writer killed with SIGKILL, stale detection, resuming, and one writer per run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from helpers import CLASSES, image_for, probs_for

import animlib
from animlib.errors import RunInputError
from animlib.index import Query, open_index
from animlib.lock import run_status
from animlib.meta import effective_status

ENDLESS = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import animlib
    from helpers import image_for, probs_for, CLASSES
    w = animlib.RunWriter({root!r}, name="killed", class_names=CLASSES, true_label=0,
                          original=image_for(0))
    print(w.run_id, flush=True)
    i = 0
    while True:
        w.log(image=image_for(i), confidences=probs_for(i), loss=float(i))
        i += 1
    """
)


def test_sigkill_mid_run_keeps_steps_then_stale_then_resume(tmp_path, monkeypatch):
    code = ENDLESS.format(tests=os.path.dirname(__file__), root=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if len(animlib.open_run(tmp_path / run_id)) >= 15:
                break
        except animlib.RunFormatError:
            pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)

    run = animlib.open_run(tmp_path / run_id)
    n = len(run)
    assert n >= 15 and run.status == "running"
    for i in range(n):  # every complete step is readable and right
        np.testing.assert_array_equal(run.images[i], image_for(i))
    np.testing.assert_allclose(
        run.confidences, np.stack([probs_for(i) for i in range(n)]), rtol=1e-6
    )
    (report,) = animlib.validate(tmp_path)
    assert report.ok and report.status == "stale"  # as ls and the runs page say (not running)

    assert effective_status(run.meta) == "running"  # (silent for less than 10 minutes)
    assert run_status(run.meta, run.store) == "stale"  # its writer, of this host, is gone
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path.parent / f"{tmp_path.name}-cache"))
    index = open_index(tmp_path)
    index.refresh()
    assert index.writers_gone == {run_id}
    shown = index.query(Query()).rows  # what the runs page lists: stale at once
    assert shown["status"].to_pylist() == ["stale"] and index.counts().running == 0
    monkeypatch.setenv("ANIMLIB_STALE_SECONDS", "0.5")
    time.sleep(1.6)
    assert effective_status(run.meta) == "stale"  # (a writer elsewhere: after its silence)

    with animlib.RunWriter.resume(tmp_path / run_id) as w:  # the dead writer's lock is stale
        for i in range(n, n + 5):
            w.log(image=image_for(i), confidences=probs_for(i), loss=float(i))
    run = animlib.open_run(tmp_path / run_id)
    assert len(run) == n + 5 and run.status == "finished"
    np.testing.assert_array_equal(run.images[n + 4], image_for(n + 4))
    assert run.scalars["loss"].tolist() == [float(i) for i in range(n + 5)]
    assert run.summary["flip_step"] == next(i for i in range(n + 5) if probs_for(i).argmax())
    assert not (tmp_path / run_id / ".writer.lock").exists()
    index.refresh_changes()
    assert (
        index.writers_gone == set() and index.query(Query()).rows["status"][0].as_py() == "finished"
    )


def test_run_status_of_a_live_writer_and_of_one_on_another_host(tmp_path):
    """A running run is stale at once only when its lock names a process of this host that is
    gone: a live writer's run stays running, and so does one whose writer is elsewhere."""
    import json

    w = animlib.RunWriter(tmp_path, name="live", class_names=CLASSES, true_label=0)
    w.log(image=image_for(0), confidences=probs_for(0))
    run = animlib.open_run(tmp_path / w.run_id)
    assert run_status(run.meta, run.store) == "running"
    lock = tmp_path / w.run_id / ".writer.lock"
    held = json.loads(lock.read_text())
    lock.write_text(json.dumps({**held, "host": "elsewhere", "pid": 2**22 + 1}))
    assert run_status(run.meta, run.store) == "running"
    lock.write_text("not json")
    assert run_status(run.meta, run.store) == "running"
    lock.write_text(json.dumps(held))
    w.finish()
    run = animlib.open_run(tmp_path / w.run_id)
    assert run_status(run.meta, run.store) == "finished"


def test_second_writer_gets_a_clear_error(tmp_path):
    w = animlib.RunWriter(tmp_path, name="busy", class_names=CLASSES, true_label=0)
    w.log(image=image_for(0), confidences=probs_for(0))
    with pytest.raises(RunInputError, match="a writer in this process is writing this run") as info:
        animlib.RunWriter.resume(tmp_path / w.run_id)
    assert info.value.run == "busy" and info.value.field == "lock"
    w.log(image=image_for(1), confidences=probs_for(1))  # the first writer is unharmed
    w.finish()
    with animlib.RunWriter.resume(tmp_path / w.run_id) as again:
        again.log(image=image_for(2), confidences=probs_for(2))
    assert len(animlib.open_run(tmp_path / "busy")) == 3


def test_resume_refuses_bad_steps_like_a_new_writer(tmp_path):
    from helpers import write_run

    run_id = write_run(tmp_path, "rs", steps=3)
    with (
        pytest.raises(RunInputError, match="shape"),
        animlib.RunWriter.resume(tmp_path / run_id) as w,
    ):
        w.log(image=np.zeros((5, 5, 3), np.float32), confidences=probs_for(0))
    run = animlib.open_run(tmp_path / run_id)
    assert len(run) == 3 and run.status == "failed"


@pytest.mark.parametrize("steps", [0, -1, True, False, 2.5, "2", [2]])
def test_resume_refuses_a_bad_steps_argument_and_keeps_every_step(tmp_path, steps):
    """steps=0, -1 or True used to cut the run to one step, silently; 2.5 and "2" said the run
    could not be read, or raised a bare TypeError."""
    from helpers import write_run

    run_id = write_run(tmp_path, "rs", steps=4)
    before = (tmp_path / run_id / "run.json").read_bytes()
    with pytest.raises(RunInputError, match="steps") as err:
        animlib.RunWriter.resume(tmp_path / run_id, steps=steps)
    assert err.value.field == "steps" and err.value.run == run_id
    assert (tmp_path / run_id / "run.json").read_bytes() == before
    assert not (tmp_path / run_id / ".writer.lock").exists()
    assert len(animlib.open_run(tmp_path / run_id)) == 4


@pytest.mark.parametrize(("steps", "kept"), [(np.int64(2), 2), (4, 4), (9, 4)])
def test_resume_keeps_the_first_steps_or_all_when_more_are_asked(tmp_path, steps, kept):
    from helpers import write_run

    run_id = write_run(tmp_path, "rs", steps=4)
    animlib.RunWriter.resume(tmp_path / run_id, steps=steps).finish()
    assert len(animlib.open_run(tmp_path / run_id)) == kept


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="no /proc here")
def test_a_killed_writer_not_yet_reaped_counts_as_gone(tmp_path):
    """A notebook kills its writer subprocess and never waits for it: the zombie left is not
    a writer (the run is stale at once and resume takes it over)."""
    import json
    import signal
    import subprocess
    import sys
    import time

    w = animlib.RunWriter(tmp_path, name="zombie", class_names=CLASSES, true_label=0)
    w.log(image=image_for(0), confidences=probs_for(0))
    lock = tmp_path / w.run_id / ".writer.lock"
    held = json.loads(lock.read_text())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({**held, "pid": child.pid}))
        run = animlib.open_run(tmp_path / w.run_id)
        assert run_status(run.meta, run.store) == "running"  # alive: its writer
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # (not waited for: a zombie)
            with open(f"/proc/{child.pid}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.05)
        assert run_status(run.meta, run.store) == "stale"
        with animlib.RunWriter.resume(tmp_path / w.run_id) as again:
            assert again.next_step == 1
    finally:
        child.wait()
        lock.write_text(json.dumps(held))
        w.finish()
