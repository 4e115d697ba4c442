"""Writers a script leaves open are closed at interpreter exit: finished after a normal end,
failed (with the exception) after an uncaught one; a forked child leaves them alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import animlib

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import animlib
    root, ending = sys.argv[1], sys.argv[2]
    w = animlib.BatchWriter(root, experiment="e", class_names=["a", "b", "c"], true_labels=[0, 1])
    r = animlib.RunWriter(root, name="single", class_names=["a", "b", "c"], true_label=0)
    for step in range(4):
        w.log(images=np.full((2, 8, 8), step / 255, np.float32), confidences=np.full((2, 3), 1 / 3))
        r.log(image=np.full((8, 8), step / 255, np.float32), confidences=np.full(3, 1 / 3))
    if ending == "raise":
        raise ValueError("the attack diverged")
    if ending == "interrupt":
        print("ready", flush=True)
        time.sleep(60)
    if ending == "term-with":  # a writer in a with block, logging when the signal comes
        with animlib.BatchWriter(root, experiment="w", class_names=["a", "b", "c"],
                                 true_labels=[0, 1]) as b:
            for step in range(10_000):
                b.log(images=np.full((2, 8, 8), step % 255, np.uint8),
                      confidences=np.full((2, 3), 1 / 3))
                print(step, flush=True)
                time.sleep(0.02)
    if ending == "own-handler":  # the script's own SIGTERM handler is left alone
        import signal
        signal.signal(signal.SIGTERM, lambda *a: print("own handler", flush=True))
        w.log(images=np.zeros((2, 8, 8), np.float32), confidences=np.full((2, 3), 1 / 3))
        print("ready", flush=True)
        time.sleep(3)
        print("still here", flush=True)
    if ending == "bare-except":  # a loop that swallows everything, SIGTERM's exception too
        for step in range(10_000):
            try:
                print(step, flush=True)
                time.sleep(0.05)
                r.log(image=np.full((8, 8), 0.5, np.float32), confidences=np.full(3, 1 / 3))
            except:  # noqa: E722
                pass
    if ending == "catch-term":  # catches the exception on purpose, closes, then saves for 6 s
        from animlib.interrupts import Terminated
        w.finish()
        r.finish()
        try:
            with animlib.RunWriter(root, name="ckpt", class_names=["a", "b", "c"]) as c:
                print("ready", flush=True)
                for step in range(10_000):
                    c.log(image=np.zeros((8, 8), np.float32), confidences=np.full(3, 1 / 3))
                    time.sleep(0.05)
        except Terminated:
            time.sleep(6)  # (the watchdog fires 5 s after the signal: no writer is open)
            print("checkpoint saved", flush=True)
    if ending == "chain":  # the script's own handler, installed later, calls the one before
        import signal
        previous = signal.getsignal(signal.SIGTERM)

        def mine(signum, frame):
            print("mine", flush=True)
            previous(signum, frame)

        signal.signal(signal.SIGTERM, mine)
        print("ready", flush=True)
        try:
            time.sleep(60)
        except SystemExit:
            w.finish("failed", "stopped")
            time.sleep(6)
            print("saved", signal.getsignal(signal.SIGTERM) is mine, flush=True)
            r.finish()
    if ending == "released":  # every writer closed: SIGTERM kills as it always did
        import signal
        w.finish()
        r.finish()
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
        print(sys.exit.__module__ == "sys", flush=True)  # (recorded only while one is open)
    if ending == "exit1":
        sys.exit("fatal: diverged")
    if ending == "term-at-exit":  # a SIGTERM while the exit hook closes the writers left open
        import signal
        real = type(w).finish

        def finish(self, *args, **kwargs):  # (as a Pool's terminate() comes in the middle)
            os.kill(os.getpid(), signal.SIGTERM)
            return real(self, *args, **kwargs)

        type(w).finish = finish
    if ending == "caught-exit":  # argparse's sys.exit(2), caught: the script goes on, ends well
        try:
            sys.exit(2)
        except SystemExit:
            pass
        r.log(image=np.zeros((8, 8), np.float32), confidences=np.full(3, 1 / 3))
    if ending in ("caught-term", "caught-term-soon"):  # SIGTERM caught, its writers closed
        import signal
        from animlib.interrupts import Terminated
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        except Terminated:
            w.finish("failed", "stopped")
            r.finish("failed", "stopped")
    if ending == "caught-term":  # it goes on after the watchdog (no writer was open)
        time.sleep(5.5)
        n = animlib.RunWriter(root, name="next", class_names=["a", "b", "c"])
        n.log(image=np.zeros((8, 8), np.float32), confidences=np.full(3, 1 / 3))
        print(signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, flush=True)
    if ending == "exit-through-finally":  # a sys.exit(1) not caught, a finally logs on its way
        try:
            sys.exit(1)
        finally:
            try:
                os.stat("/nonexistent")
            except OSError:  # (handling another exception meanwhile)
                r.log(image=np.zeros((8, 8), np.float32), confidences=np.full(3, 1 / 3))
    if ending == "caught-term-soon":  # a new run at once: the watchdog still comes
        with animlib.RunWriter(root, name="next", class_names=["a", "b", "c"]) as n:
            for _ in range(16):  # 8 s: past the first SIGTERM's watchdog
                n.log(image=np.zeros((8, 8), np.float32), confidences=np.full(3, 1 / 3))
                time.sleep(0.5)
    if ending == "closed-in-thread":  # closed off the main thread: SIGTERM's default is back
        import threading
        closing = threading.Thread(target=lambda: (w.finish(), r.finish()))
        closing.start()
        closing.join()
        print("ready", flush=True)
        try:
            time.sleep(30)
        except BaseException:
            print("survived", flush=True)
            time.sleep(8)
    if ending == "full-caught":  # the close's final write fails (a full disk), caught: ends well
        import errno
        from animlib.store import LocalStore
        from animlib.store.base import storage_error
        real = LocalStore.write_atomic

        def full(self, path, data):
            if self.url.endswith("e-0001") and "images" in path:
                raise storage_error(OSError(errno.ENOSPC, "No space left"), path, self.url)
            return real(self, path, data)

        w.flush()
        w.log(images=np.zeros((2, 8, 8), np.float32), confidences=np.full((2, 3), 1 / 3))
        LocalStore.write_atomic = full
        try:
            w.finish()
        except animlib.AnimlibError:
            print("caught", flush=True)
        r.finish()
    if ending == "daemon":  # a thread still logging when the script ends
        import threading

        def loop():
            while True:
                w.log(images=np.zeros((2, 8, 8), np.uint8), confidences=np.full((2, 3), 1 / 3))

        threading.Thread(target=loop, daemon=True).start()
        time.sleep(0.5)
    if ending == "mpfork":
        import multiprocessing

        def child():
            c = animlib.RunWriter(root, name="child", class_names=["a", "b"])
            c.log(image=np.zeros((4, 4), np.uint8), confidences=[0.5, 0.5])

        p = multiprocessing.get_context("fork").Process(target=child)
        p.start()
        p.join()
    if ending == "fork-exit":  # a forked helper that simply ends while the parent writes on
        from animlib.cache.unwritable import temp_path
        kept = temp_path("x.mp4").parent  # (the parent's own folder of uncached renders)
        x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
        b = animlib.BatchWriter(root, experiment="f", class_names=["a", "b", "c"])
        for step in range(3):
            b.log(images=x, confidences=np.full((4, 3), 1 / 3))
        animlib.list_runs(root)  # (the parent's run index, open: the child's exit saved it)
        child = os.fork()
        if child == 0:
            from animlib.index import registry
            sys.exit(3 if registry._OPEN else 0)
        for _ in range(300):  # (the child hung for ever on a lock held at the fork)
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                print("child status", os.waitstatus_to_exitcode(status), flush=True)
                break
            time.sleep(0.1)
        else:
            os.kill(child, 9)
            print("the child hung", flush=True)
        print("kept", kept.is_dir(), flush=True)
        b.log(images=x, confidences=np.full((4, 3), 1 / 3))
        b.finish()
    if ending == "fork":
        if os.fork() == 0:
            sys.exit(0)  # the child's interpreter exits normally, running its exit handlers
        os.wait()
        with open(os.path.join(root, "child-done"), "w"):
            pass
        time.sleep(60)
    """
)


def _run(root, ending: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(root), ending],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _statuses(root) -> dict[str, tuple[str, int, str | None]]:
    return {
        i.id: (i.get("status"), i.get("steps"), i.get("error")) for i in animlib.list_runs(root)
    }


def test_writers_left_open_are_finished_when_the_script_ends(tmp_path):
    proc = _run(tmp_path, "end")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _statuses(tmp_path) == {
        "e-0000": ("finished", 4, None),
        "e-0001": ("finished", 4, None),
        "single": ("finished", 4, None),
    }
    last = animlib.open_run(tmp_path / "e-0001").images[3]
    assert np.array_equal(last, np.full((8, 8, 1), 3 / 255, np.float32))  # the last step too
    assert all(report.ok for report in animlib.validate(tmp_path))


def test_an_uncaught_exception_marks_them_failed_with_it(tmp_path):
    proc = _run(tmp_path, "raise")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "the attack diverged" in err
    for status, steps, error in _statuses(tmp_path).values():
        assert (status, steps, error) == ("failed", 4, "ValueError: the attack diverged")


def test_a_failing_sys_exit_marks_them_failed(tmp_path):
    """``sys.exit("fatal: ...")`` (or 1) ended the script as a failure, yet its runs were
    marked finished: no exit hook tells the status, so ``sys.exit`` is recorded."""
    proc = _run(tmp_path, "exit1")
    proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert {v[0] for v in _statuses(tmp_path).values()} == {"failed"}
    assert {v[2] for v in _statuses(tmp_path).values()} == {"SystemExit: fatal: diverged"}


def test_a_final_write_failing_again_at_the_end_marks_the_samples_failed(tmp_path):
    """A script that caught the error of a failed final write (a full disk) and ended well left
    every sample running: the exit hook finished it again, which failed again."""
    proc = _run(tmp_path, "full-caught")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out == "caught\n", err
    # (sample 1, whose write fails, cannot be marked either: said, it stays running)
    assert "could not close a writer at exit: run 'e-0001': images/" in err
    got = _statuses(tmp_path)
    assert got["e-0000"][:2] == ("failed", 5)
    assert "final write of sample 1 failed" in got["e-0000"][2]
    assert got["single"][0] == "finished"


def test_a_thread_still_logging_at_the_end_leaves_every_sample_aligned(tmp_path):
    """The close at exit raced a daemon thread's log: one sample ended a step short."""
    proc = _run(tmp_path, "daemon")
    proc.communicate(timeout=120)
    samples = {k: v for k, v in _statuses(tmp_path).items() if k.startswith("e-")}
    assert len({steps for _, steps, _ in samples.values()}) == 1, samples
    infos = [i for i in animlib.list_runs(tmp_path) if i.id.startswith("e-")]
    assert len({i.get("experiment_steps") for i in infos}) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_multiprocessing_child_closes_its_writers(tmp_path):
    """A fork-started child leaves through os._exit (no atexit hook): its runs stayed running."""
    proc = _run(tmp_path, "mpfork")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _statuses(tmp_path)["child"][0] == "finished"


def test_ctrl_c_marks_them_failed(tmp_path):
    proc = _run(tmp_path, "interrupt")
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert {v[0] for v in _statuses(tmp_path).values()} == {"failed"}
    assert {v[2] for v in _statuses(tmp_path).values()} == {"KeyboardInterrupt"}


def test_sigterm_flushes_every_logged_step_and_marks_them_failed(tmp_path):
    """``kill``, ``timeout`` and a scheduler's preemption send SIGTERM, which killed the script
    at once: its runs stayed "running", the last second of steps lost, locks left behind."""
    proc = _run(tmp_path, "interrupt")
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM  # as the signal's default says
    assert set(_statuses(tmp_path).values()) == {("failed", 4, "Terminated: SIGTERM")}
    assert not list(tmp_path.glob("*/.writer.lock"))


def test_sigterm_inside_a_with_block_keeps_every_step_it_logged(tmp_path):
    proc = _run(tmp_path, "term-with")
    for _ in range(30):  # 30 steps logged
        logged = int(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    logged = max([logged, *(int(line) for line in out.split())])
    assert proc.returncode == 128 + signal.SIGTERM
    runs = {k: v for k, v in _statuses(tmp_path).items() if k.startswith("w-")}
    assert set(runs.values()) == {("failed", logged + 1, "Terminated: SIGTERM")}


def test_sigterm_ends_a_script_that_swallows_its_exception(tmp_path):
    """A bare ``except:`` in the loop caught the exception and the script ran on to its end,
    the run then "finished" with a step missing: a watchdog now ends it a few seconds later,
    its writers closed as failed, and a second SIGTERM kills at once."""
    proc = _run(tmp_path, "bare-except")
    for _ in range(5):
        proc.stdout.readline()
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 128 + signal.SIGTERM and took < 20, took
    assert {v[0] for v in _statuses(tmp_path).values()} == {"failed"}
    assert {v[2] for v in _statuses(tmp_path).values()} == {"Terminated: SIGTERM"}
    again = _run(tmp_path / "again", "bare-except")
    for _ in range(5):
        again.stdout.readline()
    again.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    again.send_signal(signal.SIGTERM)  # the default is back: killed by the signal
    again.communicate(timeout=60)
    assert again.returncode == -signal.SIGTERM


@pytest.mark.parametrize(("ending", "said"), [("catch-term", "checkpoint saved"),
                                             ("chain", "saved True")])  # fmt: skip
def test_a_script_that_handles_sigterm_itself_is_not_cut_short(tmp_path, ending, said):
    """The watchdog killed a script 5 s after SIGTERM although it had caught the exception and
    closed its writers on purpose (its checkpoint cut short); and a handler of the script's own
    that calls the one before (as Lightning and submitit do) was replaced by the default."""
    proc = _run(tmp_path, ending)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert said in out.splitlines()


def test_a_killed_interactive_sessions_writers_are_failed_not_finished(monkeypatch):
    """In IPython or Jupyter the exit hook called every writer finished, SIGTERM too."""
    from animlib import interrupts, open_writers

    monkeypatch.setattr(interrupts, "terminated", [True])
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    assert open_writers.exit_error() == "Terminated: SIGTERM"


def test_a_scripts_own_sigterm_handler_is_left_alone(tmp_path):
    proc = _run(tmp_path, "own-handler")
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.split("\n")[:2] == ["own handler", "still here"]


def test_a_sigterm_while_the_exit_closes_the_writers_ends_the_process_once_they_are_closed(
    tmp_path,
):
    """A SIGTERM in the middle of the exit's close (a ``multiprocessing.Pool`` terminating
    workers that close the writers a task left open) stopped it: the writers not yet closed
    stayed ``running`` (a BatchWriter's buffered steps unwritten) and the process exited 0."""
    proc = _run(tmp_path, "term-at-exit")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM, err  # as the signal's default, once closed
    assert set(_statuses(tmp_path).values()) == {("finished", 4, None)}, err
    assert "Exception ignored" not in err


def test_a_sigterm_after_the_last_writer_closed_in_a_thread_is_the_default(tmp_path):
    """Only the main thread can put SIGTERM's default back: after the last writer was closed
    in another thread, a SIGTERM still became an exception a ``try`` could swallow."""
    proc = _run(tmp_path, "closed-in-thread")
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM and "survived" not in out


def test_a_sys_exit_the_script_caught_does_not_fail_its_runs(tmp_path):
    """argparse's ``sys.exit(2)`` caught in a ``try``: the script went on and ended with 0,
    yet its writers closed at exit were ``failed`` with "SystemExit: 2"."""
    proc = _run(tmp_path, "caught-exit")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    statuses = _statuses(tmp_path)
    assert statuses.pop("single") == ("finished", 5, None)
    assert set(statuses.values()) == {("finished", 4, None)}


def test_after_a_caught_sigterm_a_new_writer_is_not_failed_and_sigterm_is_caught_again(tmp_path):
    """A script that caught ``Terminated`` and closed its writers went on: its next writer was
    ``failed`` with "Terminated: SIGTERM" at the exit, and a SIGTERM then killed it at once."""
    proc = _run(tmp_path, "caught-term")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split()[-1:] == ["True"]  # animlib's handler again
    assert _statuses(tmp_path)["next"] == ("finished", 1, None)


def test_an_exit_under_way_through_a_finally_that_logs_still_fails_the_runs(tmp_path):
    proc = _run(tmp_path, "exit-through-finally")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert {v[2] for v in _statuses(tmp_path).values()} == {"SystemExit: 1"}


def test_a_run_cut_short_by_the_watchdog_of_a_caught_sigterm_is_failed_for_it(tmp_path):
    """A script that caught the SIGTERM and opened a new writer at once is still ended 5 s
    after the signal (a bare ``except:`` per sample looks the same); its new run, cut short,
    was marked ``finished`` once the caught signal no longer failed runs."""
    proc = _run(tmp_path, "caught-term-soon")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    status, steps, error = _statuses(tmp_path)["next"]
    assert (status, error) == ("failed", "Terminated: SIGTERM") and steps < 16


def test_sigterm_gets_its_default_back_when_every_writer_is_closed(tmp_path):
    proc = _run(tmp_path, "released")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split()[:2] == ["True", "True"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_leaves_its_parents_writers_open(tmp_path):
    proc = _run(tmp_path, "fork")
    try:
        deadline = time.time() + 60
        while not (tmp_path / "child-done").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "child-done").exists(), proc.stderr.read() if proc.poll() else ""
        time.sleep(1.5)  # the parent's background flush
        assert {v[0] for v in _statuses(tmp_path).values()} == {"running"}
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_that_ends_leaves_at_once_and_touches_nothing_of_its_parent(tmp_path):
    """A child forked while a BatchWriter was open ran its parent's exit hooks when it ended
    (sys.exit): it hung for ever on a lock the parent's flush thread held at the fork, or
    wrote the parent's buffered steps into the parent's runs; it also removed the parent's
    folder of uncached renders and saved the parent's run indexes."""
    proc = _run(tmp_path, "fork-exit")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "the child hung" not in out and "kept True" in out and "child status 0" in out
    samples = {k: v for k, v in _statuses(tmp_path).items() if k.startswith("f-")}
    assert len(samples) == 4 and set(samples.values()) == {("finished", 4, None)}


def test_a_closed_writer_is_not_closed_again(tmp_path):
    from animlib import open_writers

    with animlib.RunWriter(tmp_path, name="r", class_names=["a", "b"]) as w:
        w.log(image=np.zeros((4, 4), np.uint8), confidences=[0.5, 0.5])
    with animlib.BatchWriter(tmp_path, experiment="e", class_names=["a", "b"]) as b:
        b.log(images=np.zeros((2, 4, 4), np.uint8), confidences=np.full((2, 2), 0.5))
    assert all(entry[0] not in (w, b) for entry in open_writers._open.values())
    open_writers.finish_open_writers()  # nothing of these is touched
    assert {v[0] for v in _statuses(tmp_path).values()} == {"finished"}


def _status(root, run_id: str) -> tuple[str, int, str | None]:
    meta = animlib.open_run(root / run_id).meta
    return meta["status"], meta["steps"], meta.get("error")


def test_a_notebook_cell_run_again_is_told_and_animlib_finish_closes_the_earlier_writer(
    tmp_path, monkeypatch
):
    """Re-running a cell that makes a writer rebinds its variable: the earlier writer, out of
    reach, held its run open (refusing overwrite and resume) until the kernel ended, then
    called it finished. A warning now names both and animlib.finish() closes the earlier."""
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    image, conf = np.full((8, 8), 0.5, np.float32), np.full(3, 1 / 3)
    w = animlib.RunWriter(tmp_path, name="bare", class_names=list("abc"), true_label=0)
    w.log(image=image, confidences=conf)
    b = animlib.BatchWriter(tmp_path, experiment="bexp", class_names=list("abc"), true_labels=[0])
    b.log(images=image[None], confidences=conf[None])
    with pytest.warns(UserWarning, match=r"'bare' \(made with the name 'bare'\) is still open"):
        w = animlib.RunWriter(tmp_path, name="bare", class_names=list("abc"), true_label=0)
    assert w.run_id == "bare-2"
    with pytest.warns(UserWarning, match="'bexp' .* this writer writes 'bexp-2'.*animlib.finish"):
        b = animlib.BatchWriter(
            tmp_path, experiment="bexp", class_names=list("abc"), true_labels=[0]
        )
    assert _status(tmp_path, "bare")[0] == "running"
    closed = animlib.finish(status="failed", error="abandoned: the cell was run again")
    assert closed == ["bare", "bexp", "bare-2", "bexp-2"]
    assert _status(tmp_path, "bare") == ("failed", 1, "abandoned: the cell was run again")
    assert _status(tmp_path, "bexp-0000")[0] == "failed"
    assert animlib.finish() == []  # (nothing left open)
    with animlib.RunWriter(tmp_path, name="bare", if_exists="overwrite") as again:
        again.log(image=image)  # (the earlier writer no longer holds it)
    assert _status(tmp_path, "bare") == ("finished", 1, None)


def test_a_script_keeping_writers_of_one_name_open_is_not_warned(tmp_path, recwarn):
    writers = [animlib.RunWriter(tmp_path, name="img") for _ in range(3)]
    assert [w.run_id for w in writers] == ["img", "img-2", "img-3"]
    assert not [w for w in recwarn if "still open" in str(w.message)]
    assert animlib.finish() == ["img", "img-2", "img-3"]


def test_finish_refuses_a_status_a_run_cannot_have_before_touching_any_writer(tmp_path):
    """animlib.finish(status="Failed") wrote that status into every open run: all broken."""
    w = animlib.RunWriter(tmp_path, name="a", class_names=list("abc"), true_label=0)
    w.log(image=np.full((8, 8), 0.5, np.float32), confidences=np.full(3, 1 / 3))
    b = animlib.BatchWriter(tmp_path, experiment="e", class_names=list("abc"), true_labels=[0])
    b.log(images=np.full((1, 8, 8), 0.5, np.float32), confidences=np.full((1, 3), 1 / 3))
    for bad in ("Failed", "done", None, "running"):
        with pytest.raises(animlib.RunInputError, match="must be one of finished, failed") as e:
            animlib.finish(status=bad)
        assert e.value.field == "status"
        with pytest.raises(animlib.RunInputError, match="must be one of finished, failed"):
            w.finish(bad)
        with pytest.raises(animlib.RunInputError, match="must be one of finished, failed"):
            b.finish(bad)
    for run in ("a", "e-0000"):
        assert json.loads((tmp_path / run / "run.json").read_text())["status"] == "running"
    assert animlib.finish(status="failed") == ["a", "e"]
    assert all(r.ok for r in animlib.validate(tmp_path))


def test_finish_forgets_a_writer_whose_run_folder_was_removed(tmp_path):
    import shutil

    image, conf = np.full((8, 8), 0.5, np.float32), np.full(3, 1 / 3)
    gone = animlib.RunWriter(tmp_path, name="gone", class_names=list("abc"), true_label=0)
    kept = animlib.RunWriter(tmp_path, name="kept", class_names=list("abc"), true_label=0)
    for w in (gone, kept):
        w.log(image=image, confidences=conf)
    shutil.rmtree(tmp_path / "gone")
    with pytest.warns(UserWarning, match="'gone' was not closed"):
        assert animlib.finish() == ["kept"]
    assert animlib.finish() == []  # (it raised MISSING at every call, forever)
