"""Whether a process still runs: a zombie (killed, not reaped) does not, for locks and leases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from animlib.processes import pid_alive


def _wait_zombie(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never became a zombie")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="no /proc here")
def test_a_killed_process_not_yet_reaped_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid) and pid_alive(os.getpid())
        os.kill(child.pid, signal.SIGKILL)
        _wait_zombie(child.pid)
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert not pid_alive(child.pid)  # reaped: gone
    assert not pid_alive(0) and not pid_alive(-5)


def test_the_lock_and_the_cache_leases_ask_the_same_question():
    from animlib import lock
    from animlib.cache import leases

    assert lock.pid_alive is pid_alive and leases.pid_alive is pid_alive
