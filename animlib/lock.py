"""One writer per run: an exclusive lock file holding the writer's host and pid."""

from __future__ import annotations

import json
import os
import socket
import time

from .errors import RunInputError
from .location import Location

LOCK_NAME = ".writer.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(loc: Location) -> dict | None:
    """Who holds the lock of the run at ``loc`` (None if nobody or the holder is dead)."""
    try:
        info = json.loads(loc.read_bytes(LOCK_NAME))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    if info.get("host") == socket.gethostname() and not _pid_alive(int(info.get("pid", -1))):
        return None  # a killed writer on this machine: the lock is stale
    return info


def acquire(loc: Location, run_id: str) -> None:
    """Take the run's writer lock, or raise RunInputError naming who holds it."""
    payload = json.dumps(
        {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
    ).encode()
    if not loc.is_local:  # object stores have no exclusive create: best effort
        current = holder(loc)
        if current and current.get("pid") != os.getpid():
            raise _busy(run_id, current)
        loc.write_atomic(LOCK_NAME, payload)
        return
    path = loc.path(LOCK_NAME)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            current = holder(loc)
            if current is not None:
                raise _busy(run_id, current) from None
            try:
                os.unlink(path)  # stale lock of a dead writer
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        return
    raise RunInputError("could not take the writer lock", run=run_id, field="lock")


def release(loc: Location) -> None:
    """Drop the writer lock (ignored if it is already gone)."""
    try:
        loc.fs.rm_file(loc.path(LOCK_NAME))
    except (FileNotFoundError, OSError):
        pass


def _busy(run_id: str, info: dict) -> RunInputError:
    return RunInputError(
        f"another writer (pid {info.get('pid')} on {info.get('host')}) is writing this run",
        run=run_id,
        field="lock",
    )
