"""Whether a process of this host still runs (a killed one not yet reaped does not)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` of this host runs (or might: no permission to ask); False when
    it does not exist or is a zombie (killed, its parent, a notebook say, not waiting for it).

    Args:
        pid: a process id.

    Returns:
        False only when the process is known not to run.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """True if ``/proc`` says ``pid`` has exited and waits to be reaped (False where there is
    no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    # "pid (comm) state ...": the name may hold spaces and ")", the state follows the last ")"
    end = stat.rfind(b")")
    return stat[end + 2 : end + 3] == b"Z"
