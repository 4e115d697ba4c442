"""A BatchWriter killed mid-experiment: flushed steps stay readable, progress shows within 2 s,
and resume tidies what the kill left and carries on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import animlib
from animlib.errors import RunFormatError

B, K = 4, 3
LOGGER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    import animlib
    from test_batch_crash import batch, probs, B, K
    w = animlib.BatchWriter({root!r}, experiment="crash", class_names=["a", "b", "c"],
                            true_labels=[0, 1, 2, 0], originals=batch(0))
    step = 0
    while True:
        w.log(images=batch(step), confidences=probs(step), loss=np.arange(B) + step)
        print(step, time.time(), flush=True)
        step += 1
        time.sleep(0.03)
    """
)


def batch(step: int) -> np.ndarray:
    """(B, 3, 16, 12) float32 images on the 1/255 grid, a PGD-like walk (deterministic)."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (B, 3, 16, 12)).astype(np.float32) / np.float32(255)
    for s in range(step):
        sign = np.random.default_rng(s).choice(np.array([-1, 1], np.float32), x.shape)
        x = np.clip(x + np.float32(2 / 255) * sign, 0, 1).astype(np.float32)
    return x


def probs(step: int) -> np.ndarray:
    p = np.random.default_rng(100 + step).random((B, K)) + 0.1
    return p / p.sum(axis=1, keepdims=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    return env


def _visible(root) -> int:
    """The fewest steps any sample run shows (0 while they are not all there)."""
    try:
        infos = [i for i in animlib.list_runs(root) if i.get("experiment") == "crash"]
    except RunFormatError:
        return 0
    return min((i.get("steps") or 0 for i in infos), default=0) if len(infos) == B else 0


def test_sigkill_mid_experiment_keeps_every_flushed_step(tmp_path):
    code = LOGGER.format(tests=os.path.dirname(__file__), root=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=_env()
    )
    logged: dict[int, float] = {}  # step -> when its log() returned (writer's clock)
    seen: dict[int, float] = {}  # step count -> when a reader here first saw every sample at it

    def read_log() -> None:
        for line in proc.stdout:
            step, when = line.split()
            logged[int(step)] = float(when)

    threading.Thread(target=read_log, daemon=True).start()
    deadline = time.time() + 60
    try:
        while time.time() < deadline and (not seen or max(seen) < 40):
            n = _visible(tmp_path)
            if n and n not in seen:
                seen[n] = time.time()
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert seen and max(seen) >= 40, (sorted(seen), len(logged))
    # progress shows in another process within 2 s of each log() call
    lags = [seen[n] - logged[n - 1] for n in seen if n - 1 in logged]
    assert max(lags) < 2.0, sorted(lags)[-5:]

    for run_id in (f"crash-{i:04d}" for i in range(B)):
        run = animlib.open_run(tmp_path / run_id)  # every sample opens: no broken run
        n = len(run)
        assert run.status == "running" and n >= max(seen)
        stored = run.images[:]
        i = int(run_id[-1])
        for step in (0, n // 2, n - 1):
            want = np.moveaxis(batch(step)[i], 0, -1)
            assert stored[step].view(np.uint32).tolist() == want.view(np.uint32).tolist()
        assert run.scalars["loss"].tolist() == [float(i + s) for s in range(n)]
        report = animlib.validate(tmp_path / run_id)[0]
        assert report.ok, report.line()

    # what a kill mid-write may leave: temporary files; resume removes them and carries on
    leftovers = [
        tmp_path / "crash-0001" / ".tmp-0123abcd4567-run.json",
        tmp_path / "crash-0002" / "images" / ".tmp-89abcdef0123-c.0.0.0.0",
        tmp_path / "crash-0003" / "render.mp4.partial",
    ]
    for path in leftovers:
        path.write_bytes(b"half")
    w = animlib.BatchWriter.resume(tmp_path, "crash")
    assert not any(p.exists() for p in leftovers)
    start = len(w)
    with w:
        for step in range(start, start + 3):
            w.log(images=batch(step), confidences=probs(step), loss=np.arange(B) + step)
    for i in range(B):
        run = animlib.open_run(tmp_path / f"crash-{i:04d}")
        assert run.status == "finished" and len(run) >= start + 3
        last = np.moveaxis(batch(start + 2)[i], 0, -1)
        assert run.images[len(run) - 1].view(np.uint32).tolist() == last.view(np.uint32).tolist()
    assert all(r.ok for r in animlib.validate(tmp_path))


def test_resume_removes_what_a_killed_run_writer_left(tmp_path):
    with animlib.RunWriter(tmp_path, name="r", class_names=["a", "b", "c"]) as w:
        for step in range(5):
            w.log(image=batch(step)[0], confidences=probs(step)[0])
    leftovers = [tmp_path / "r" / ".tmp-aaaaaaaaaaaa-run.json", tmp_path / "r" / "x.partial"]
    for path in leftovers:
        path.write_bytes(b"half")
    with animlib.RunWriter.resume(tmp_path / "r") as w:
        assert w.next_step == 5
        w.log(image=batch(5)[0], confidences=probs(5)[0])
        assert w.next_step == 6
    assert not any(p.exists() for p in leftovers)
    run = animlib.open_run(tmp_path / "r")
    assert len(run) == 6 and animlib.validate(tmp_path / "r")[0].ok


HALF_FLUSHED = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    import animlib
    from test_batch_crash import batch, probs, B
    w = animlib.BatchWriter({root!r}, experiment="half", class_names=["a", "b", "c"])
    for step in range(3):
        w.log(images=batch(step), confidences=probs(step))
    w.flush()
    w.log(images=batch(3), confidences=probs(3), active=[True, True, False, True])
    w.log(images=batch(4), confidences=probs(4), active=[True, True, False, True])
    for sink in w._sinks[:2]:  # the kill comes while the background writes sample 2 of 4
        sink.appender.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_resume_realigns_samples_a_kill_caught_between_flushes(tmp_path):
    code = HALF_FLUSHED.format(tests=os.path.dirname(__file__), root=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), timeout=120)
    assert proc.returncode != 0
    steps = {i.id: i.get("steps") for i in animlib.list_runs(tmp_path)}
    assert steps == {"half-0000": 5, "half-0001": 5, "half-0002": 3, "half-0003": 3}
    w = animlib.BatchWriter.resume(tmp_path, "half")
    assert w.next_step == len(w) == 3  # the step every sample has stored: 0 and 1 cut back
    with w:
        for step in range(3, 6):
            w.log(images=batch(step), confidences=probs(step), active=[True, True, step > 4, 1])
    for i in range(B):
        run = animlib.open_run(tmp_path / f"half-{i:04d}")
        logged = [0, 1, 2, 3, 4, 5] if i != 2 else [0, 1, 2, 5]
        assert len(run) == len(logged) and run.status == "finished"
        for pos, step in enumerate(logged):  # every stored step is the image of its step
            want = np.moveaxis(batch(step)[i], 0, -1)
            assert run.images[pos].view(np.uint32).tolist() == want.view(np.uint32).tolist()
        np.testing.assert_allclose(run.confidences, [probs(s)[i] for s in logged], rtol=1e-6)
        assert run.meta["experiment_steps"] == 6
        assert animlib.validate(tmp_path / f"half-{i:04d}")[0].ok
    assert animlib.open_run(tmp_path / "half-0002").meta["experiment_index"] == [
        [0, 0, 3],
        [5, 3, 1],
    ]


FORGOTTEN = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import animlib
    from test_batch_crash import batch, probs
    w = animlib.BatchWriter({root!r}, experiment="open", class_names=["a", "b", "c"])
    for step in range(3):
        w.log(images=batch(step), confidences=probs(step))
    time.sleep(1.5)  # the background round has run: the next one may meet interpreter exit
    for step in range(3, 6):
        w.log(images=batch(step), confidences=probs(step))
    time.sleep(0.9)
    """
)


def test_a_writer_left_open_is_written_at_exit_without_a_traceback(tmp_path):
    """A script that never calls finish(): at interpreter exit every logged step is written
    and nothing is printed (the background thread must not trip over the shut-down pool)."""
    tests = os.path.dirname(os.path.abspath(__file__))
    code = FORGOTTEN.format(tests=tests, root=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(), timeout=120, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    runs = [animlib.open_run(tmp_path / i.id) for i in animlib.list_runs(tmp_path)]
    assert len(runs) == B and all(len(r) == 6 for r in runs)
    one = animlib.open_run(tmp_path / "open-0001")  # sample 1; stored channels last
    assert np.array_equal(one.images[5], batch(5)[1].transpose(1, 2, 0))


UNFLUSHED = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import animlib
    from test_batch_crash import batch, probs
    w = animlib.BatchWriter({root!r}, experiment="early", class_names=["a", "b", "c"],
                            true_labels=[0, 1, 2, 0])
    w.log(images=batch(0), confidences=probs(0))  # buffered: the first flush is 1 s away
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_kill_before_the_first_flush_leaves_empty_members_resume_explains(tmp_path, capsys):
    """Killed before anything was flushed: each sample run is an empty running run that says
    which experiment and sample it is; validate and ls agree it is not broken, the summary
    lists the experiment as stale (its writer of this host is gone), resume says there is
    nothing to resume and why, and a rerun with if_exists='overwrite' replaces the runs."""
    from animlib.cli import main
    from animlib.errors import Code

    code = UNFLUSHED.format(tests=os.path.dirname(__file__), root=str(tmp_path))
    assert subprocess.run([sys.executable, "-c", code], env=_env(), timeout=120).returncode
    infos = animlib.list_runs(tmp_path)
    assert [(i.id, i.ok, i.get("steps")) for i in infos] == [
        (f"early-{s:04d}", True, 0) for s in range(B)
    ]
    assert [(i.get("experiment"), i.get("sample")) for i in infos] == [
        ("early", s) for s in range(B)
    ]
    assert all(r.ok and r.steps == 0 for r in animlib.validate(tmp_path))
    with pytest.raises(RunFormatError, match="no step stored yet") as info:  # (not "broken")
        animlib.open_run(tmp_path / "early-0000")
    assert info.value.code == Code.EMPTY and info.value.run == "early-0000"
    assert main(["summary", str(tmp_path), "--json"]) == 0
    printed = capsys.readouterr()
    (row,) = json.loads(printed.out)
    # listed, its 4 runs left out of the numbers (no step: no result)
    got = (row["experiment"], row["status"], row["steps"], row["n"], row["left_out"])
    assert got == ("early", "stale", 0, 0, 4)
    assert "4 runs left out of the numbers" in printed.err
    try:
        animlib.BatchWriter.resume(tmp_path, "early")
    except animlib.RunInputError as exc:
        assert exc.code == Code.EMPTY and exc.field == "steps"
        assert "4 of its 4 sample runs have no stored step" in str(exc)
        assert "if_exists='overwrite'" in str(exc)
    else:
        raise AssertionError("resumed an experiment with nothing stored")
    with animlib.BatchWriter(tmp_path, experiment="early", if_exists="overwrite") as w:
        w.log(images=batch(0), confidences=probs(0))
    assert [i.get("steps") for i in animlib.list_runs(tmp_path)] == [1] * B


LAST_STEPS_PAUSED = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    import animlib
    from test_batch_crash import batch, probs
    w = animlib.BatchWriter({root!r}, experiment="paused", class_names=["a", "b", "c"])
    for step in range(5):
        w.log(images=batch(step), confidences=probs(step), active=None if step < 3 else [0] * 4)
    w.flush()
    os._exit(9)  # killed
    """
)


def test_resume_after_steps_every_sample_sat_out_continues_after_them(tmp_path):
    """Steps 3 and 4 left every sample out (``active=``): resume must restart at step 5, not
    at 3 (every later step would be stored two experiment steps off)."""
    code = LAST_STEPS_PAUSED.format(tests=os.path.dirname(__file__), root=str(tmp_path))
    assert subprocess.run([sys.executable, "-c", code], env=_env(), timeout=120).returncode == 9
    w = animlib.BatchWriter.resume(tmp_path, "paused")
    assert w.next_step == 5
    with w:
        w.log(images=batch(5), confidences=probs(5))
    assert animlib.open_run(tmp_path / "paused-0001").meta["experiment_index"] == [
        [0, 0, 3],
        [5, 3, 1],
    ]
