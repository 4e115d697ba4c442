"""Ctrl-C while a BatchWriter creates its runs (the first log) or closes them: held back."""

from __future__ import annotations

import signal
import threading
import time
import traceback

import pytest
from test_experiment_writer import B, batch, probs, run_dirs, writer

import animlib
from animlib.appender import RunAppender
from animlib.flusher import WORKERS, shared_pool
from animlib.sample_sink import SampleSink


def ctrl_c_from_a_worker() -> None:
    """A Ctrl-C (a kernel interrupt) reaching the main thread while it waits for the writer's
    worker that calls this."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    time.sleep(0.05)  # (the main thread handles it meanwhile: raised at once, or held back)


@pytest.fixture
def started_pool():
    """Every thread of the shared pool started (an interrupt in the submit that starts one
    leaves a thread the interpreter's exit waits for forever)."""
    gate = threading.Event()
    futures = [shared_pool().submit(gate.wait, 10) for _ in range(WORKERS)]
    gate.set()
    for future in futures:
        future.result()


def the_first_creation_interrupted(monkeypatch) -> None:
    real, calls = SampleSink.create, []

    def create(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            ctrl_c_from_a_worker()
        return real(*args, **kwargs)

    monkeypatch.setattr(SampleSink, "create", staticmethod(create))


def statuses(root) -> list[tuple[str, int]]:
    runs = [animlib.open_run(root / run_id) for run_id in run_dirs(root)]
    return [(run.status, len(run)) for run in runs]


def frames(exc: pytest.ExceptionInfo) -> list[str]:
    return [frame.name for frame in traceback.extract_tb(exc.value.__traceback__)]


def test_ctrl_c_while_the_first_log_creates_the_runs_waits_for_them(
    tmp_path, monkeypatch, started_pool
):
    """Ctrl-C while the first log created the sample runs left them `running` with no step,
    held by this process: the writer's finish() and animlib.finish() closed none, and an
    overwrite rerun was refused, naming animlib.finish(); the traceback ran through futures and
    threading. The runs are now made with the step, the interrupt raised where log was called."""
    w = writer(tmp_path)
    the_first_creation_interrupted(monkeypatch)
    with pytest.raises(KeyboardInterrupt) as exc:
        w.log(images=batch(0), confidences=probs(0))
    monkeypatch.undo()
    assert len(w) == 1 and "status='open'" in repr(w)
    assert animlib.finish() == [w.experiment]
    assert statuses(tmp_path) == [("finished", 1)] * B
    with writer(tmp_path, if_exists="overwrite") as again:  # in the same process
        again.log(images=batch(0), confidences=probs(0))
        again.log(images=batch(1), confidences=probs(1))
    assert again.experiment == w.experiment
    assert statuses(tmp_path) == [("finished", 2)] * B
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert frames(exc)[1:] == ["log"]  # (after the test's own frame), 7 lines in all
    assert exc.value.__context__ is None


def test_ctrl_c_in_the_first_log_of_a_with_block_fails_the_runs(
    tmp_path, monkeypatch, started_pool
):
    """Inside ``with``, that interrupt left the runs `running` while the writer said closed.
    It marks them failed with KeyboardInterrupt, as one later in the block does."""
    the_first_creation_interrupted(monkeypatch)
    with pytest.raises(KeyboardInterrupt), writer(tmp_path) as w:
        w.log(images=batch(0), confidences=probs(0))
        w.log(images=batch(1), confidences=probs(1))  # (not reached)
    monkeypatch.undo()
    assert "status='closed'" in repr(w) and animlib.finish() == []
    assert statuses(tmp_path) == [("failed", 1)] * B
    for run_id in w.run_ids:
        assert animlib.open_run(tmp_path / run_id).meta["error"] == "KeyboardInterrupt"


def test_ctrl_c_while_leaving_the_with_block_waits_for_the_close(
    tmp_path, monkeypatch, started_pool
):
    """Ctrl-C in the final write when the ``with`` block ended left the runs `running` while
    the writer said closed, and animlib.finish() (or the exit) later marked them finished; the
    traceback ran 45-55 lines through futures and threading. The close now ends first."""
    real, calls = RunAppender.flush, []

    def flush(self, *args, **kwargs):
        if kwargs.get("final"):
            calls.append(self)
            if len(calls) == 1:
                ctrl_c_from_a_worker()
        return real(self, *args, **kwargs)

    with pytest.raises(KeyboardInterrupt) as exc, writer(tmp_path) as w:
        w.log(images=batch(0), confidences=probs(0))
        w.log(images=batch(1), confidences=probs(1))
        monkeypatch.setattr(RunAppender, "flush", flush)
    monkeypatch.undo()
    assert len(calls) == B
    assert statuses(tmp_path) == [("finished", 2)] * B
    assert "status='closed'" in repr(w) and animlib.finish() == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert frames(exc)[1:] == ["__exit__", "finish"]


def test_ctrl_c_in_the_with_block_still_fails_the_runs(tmp_path):
    """A real Ctrl-C in the block's body (between steps) marks the runs failed."""
    with pytest.raises(KeyboardInterrupt), writer(tmp_path) as w:
        w.log(images=batch(0), confidences=probs(0))
        signal.raise_signal(signal.SIGINT)
    assert statuses(tmp_path) == [("failed", 1)] * B
    for run_id in w.run_ids:
        assert animlib.open_run(tmp_path / run_id).meta["error"] == "KeyboardInterrupt"
