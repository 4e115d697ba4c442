"""Writers still open when the interpreter exits: finished, or failed with what ended the script."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any, Protocol

from . import interrupts
from .errors import AnimlibError, Code
from .interrupts import Terminated, catch_sigterm, on_escalate, release_sigterm


class Finishable(Protocol):
    """A RunWriter or BatchWriter: what :func:`finish_open_writers` calls."""

    def finish(self, status: str = "finished", error: str | None = None) -> None: ...


_open: dict[int, tuple[Finishable, int]] = {}  # id(writer) -> (writer, pid that opened it)
_lock = threading.Lock()
_hooked: set[int] = set()  # the processes whose exit closes their writers
_exit_code: list[object] = []  # what ``sys.exit`` was last called with (no hook tells it)


def track(writer: Finishable) -> None:
    """Remember an open writer, so that it is closed at interpreter exit if the script never
    closes it (as W&B closes a run whose script ends without ``finish()``): at the exit of a
    multiprocessing child too (it leaves through ``os._exit``, which runs no atexit hook)."""
    catch_sigterm()  # (a kill, a timeout, a preemption closes the writers too)
    with _lock:
        _open[id(writer)] = (writer, os.getpid())
        if os.getpid() in _hooked:
            return
        _hooked.add(os.getpid())
    atexit.register(finish_open_writers)
    if not _exit_code and sys.exit.__module__ == "sys":  # (once: another wrapper stays)
        _exit_code.append(None)
        sys.exit = _recording_exit(sys.exit)
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        from multiprocessing.util import Finalize

        Finalize(None, finish_open_writers, exitpriority=10)


def _recording_exit(exit_: Any) -> Any:
    def exit(status: object = None) -> None:
        _exit_code[:] = [status]
        exit_(status)

    exit.__doc__ = exit_.__doc__
    return exit


def untrack(writer: Finishable) -> None:
    """Forget a writer that has been closed."""
    with _lock:
        _open.pop(id(writer), None)
        last = not _open
    if last:
        release_sigterm()


def error_text(exc: BaseException) -> str:
    """How a run records the exception that ended it: ``"ValueError: bad step"``, or the
    exception's name alone when it has no message (``"KeyboardInterrupt"``)."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def exit_error() -> str | None:
    """The uncaught exception that is ending a script (``"KeyboardInterrupt"``, ...) or its
    ``sys.exit`` with a failing status, else None. Python keeps the exception in
    ``sys.last_value`` after printing its traceback (an interactive session keeps any earlier
    error there too, so there it is never taken for the end); ``sys.exit`` is recorded, and a
    SIGTERM (:class:`~animlib.interrupts.Terminated`, interactive sessions too)."""
    if interrupts.terminated:  # (a SystemExit leaves no last_value)
        return error_text(Terminated())
    if hasattr(sys, "ps1") or sys.flags.interactive or _in_ipython():
        return None
    exc = getattr(sys, "last_value", None)
    if isinstance(exc, BaseException):
        return error_text(exc)
    status = _exit_code[0] if _exit_code else None
    if status is None or status == 0 or status is False:
        return None
    return f"SystemExit: {status}"  # sys.exit(1), sys.exit("fatal: ...")


def finish_open_writers() -> bool:
    """At interpreter exit (or SIGTERM's watchdog): close every writer this process opened and
    left open, ``finished`` or ``failed`` (with the exception that ended the script); True if
    there was any. A forked child leaves its parent's writers alone. Errors are printed (nobody
    is left to catch them), except for a run folder removed under its writer."""
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
    return bool(writers)


on_escalate.append(finish_open_writers)  # (SIGTERM's watchdog closes them before it exits)


def _in_ipython() -> bool:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return callable(get) and get() is not None
