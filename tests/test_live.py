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
    assert [r.line().split()[0] for r in animlib.validate(tmp_path)] == ["OK"]

    assert effective_status(run.meta) == "running"
    monkeypatch.setenv("ANIMLIB_STALE_SECONDS", "0.5")
    time.sleep(1.6)
    assert effective_status(run.meta) == "stale"
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path.parent / f"{tmp_path.name}-cache"))
    index = open_index(tmp_path)
    index.refresh()
    shown = index.query(Query()).rows  # what the runs page lists
    assert shown["status"].to_pylist() == ["stale"]

    with animlib.RunWriter.resume(tmp_path / run_id) as w:  # the dead writer's lock is stale
        for i in range(n, n + 5):
            w.log(image=image_for(i), confidences=probs_for(i), loss=float(i))
    run = animlib.open_run(tmp_path / run_id)
    assert len(run) == n + 5 and run.status == "finished"
    np.testing.assert_array_equal(run.images[n + 4], image_for(n + 4))
    assert run.scalars["loss"].tolist() == [float(i) for i in range(n + 5)]
    assert run.summary["flip_step"] == next(i for i in range(n + 5) if probs_for(i).argmax())
    assert not (tmp_path / run_id / ".writer.lock").exists()


def test_second_writer_gets_a_clear_error(tmp_path):
    w = animlib.RunWriter(tmp_path, name="busy", class_names=CLASSES, true_label=0)
    w.log(image=image_for(0), confidences=probs_for(0))
    with pytest.raises(RunInputError, match="another writer") as info:
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
