"""Writers still open when the interpreter exits: finished, or failed with what ended the script."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Protocol

from .errors import AnimlibError, Code


class Finishable(Protocol):
    """A RunWriter or BatchWriter: what :func:`finish_open_writers` calls."""

    def finish(self, status: str = "finished", error: str | None = None) -> None: ...


_open: dict[int, tuple[Finishable, int]] = {}  # id(writer) -> (writer, pid that opened it)
_lock = threading.Lock()
_registered = False


def track(writer: Finishable) -> None:
    """Remember an open writer, so that it is closed at interpreter exit if the script never
    closes it (as W&B closes a run whose script ends without ``finish()``)."""
    global _registered
    with _lock:
        _open[id(writer)] = (writer, os.getpid())
        if not _registered:
            atexit.register(finish_open_writers)
            _registered = True


def untrack(writer: Finishable) -> None:
    """Forget a writer that has been closed."""
    with _lock:
        _open.pop(id(writer), None)


def exit_error() -> str | None:
    """The uncaught exception that is ending a script (``"KeyboardInterrupt: "``, ...), else
    None. Python keeps it in ``sys.last_value`` after printing its traceback; an interactive
    session keeps any earlier error there too, so there it is never taken for the end."""
    if hasattr(sys, "ps1") or sys.flags.interactive or _in_ipython():
        return None
    exc = getattr(sys, "last_value", None)
    if not isinstance(exc, BaseException):
        return None
    return f"{type(exc).__name__}: {exc}"


def finish_open_writers() -> None:
    """At interpreter exit: close every writer this process opened and left open, ``finished``
    or ``failed`` (with the exception that ended the script). A forked child leaves its
    parent's writers alone. Errors are printed (nobody is left to catch them), except for a run
    folder removed under its writer."""
    error = exit_error()
    status = "failed" if error else "finished"
    with _lock:
        writers = [w for w, pid in _open.values() if pid == os.getpid()]
        _open.clear()
    for writer in writers:
        try:
            writer.finish(status, error)
        except Exception as exc:  # noqa: BLE001 - reported, the other writers still closed
            if not (isinstance(exc, AnimlibError) and exc.code == Code.MISSING):
                print(f"animlib: could not close a writer at exit: {exc}", file=sys.stderr)


def _in_ipython() -> bool:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return callable(get) and get() is not None
