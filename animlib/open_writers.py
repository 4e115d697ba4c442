"""Writers still open when the interpreter exits: finished, or failed with what ended the script."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any, Protocol

from . import interrupts
from .caller import warn_caller
from .errors import AnimlibError, Code
from .interrupts import (
    Terminated,
    any_open,
    catch_sigterm,
    on_escalate,
    release_sigterm,
    sigterm_held,
    watched,
)


class Finishable(Protocol):
    """A RunWriter or BatchWriter: what :func:`finish_open_writers` calls."""

    def finish(self, status: str = "finished", error: str | None = None) -> None: ...


_open: dict[int, tuple[Finishable, int]] = {}  # id(writer) -> (writer, pid that opened it)
_made_as: dict[int, tuple[tuple[str, str], str]] = {}  # id(writer) -> ((folder, name), its id)
_lock = threading.Lock()
_hooked: set[int] = set()  # the processes whose exit closes their writers
_exit_code: list[object] = []  # what ``sys.exit`` was last called with (no hook tells it)
_exits: list[Any] = []  # (sys.exit, its recording wrapper) while writers are open
_exits_raised = [0]  # how many exits the wrapper raised (the last: _exit_code's)


def track(writer: Finishable, made_as: tuple[str, str] | None = None, writes: str = "") -> None:
    """Remember an open writer, so that it is closed at interpreter exit if the script never
    closes it (as W&B closes a run whose script ends without ``finish()``): at the exit of a
    multiprocessing child too (it leaves through ``os._exit``, which runs no atexit hook).

    ``made_as``: the results folder and the name a new writer was made with, ``writes``: the
    run or experiment id it writes. In an interactive session (a notebook, the prompt), a
    writer made as one still open in this process was made by a cell run again: the earlier
    one, out of reach once its variable is rebound, would hold its run open until the session
    ends. A warning names both and says how to close the earlier one."""
    with _lock:
        if not _open_here() and not _exiting():
            interrupts.went_on()  # (a SIGTERM the script caught, and closed its writers for)
    going_on()
    catch_sigterm()  # (a kill, a timeout, a preemption closes the writers too)
    with _lock:
        _open[id(writer)] = (writer, os.getpid())
        if made_as is not None:
            folder, name = made_as
            made_as = (folder if "://" in folder else os.path.abspath(folder), name)
            _warn_if_made_again(made_as, writes)
            _made_as[id(writer)] = (made_as, writes)
        if not _exit_code:
            _exit_code.append(None)
        if not _exits and sys.exit.__module__ == "sys":  # (put back when the last one closes)
            _exits[:] = [sys.exit, _recording_exit(sys.exit)]
            sys.exit = _exits[1]
        if os.getpid() in _hooked:
            return
        _hooked.add(os.getpid())
    atexit.register(finish_open_writers)
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        from multiprocessing.util import Finalize

        Finalize(None, finish_open_writers, exitpriority=10)


def going_on() -> None:
    """The script's main thread goes on using writers (a writer logs or opens), handling no
    exception, after the ``sys.exit`` it called was caught and dropped (argparse's, in a
    ``try``): that is not what ends the script, and its runs left open are not failed for it.
    Both are needed: an exit on its way out may be dropped early (freed by the GC from a
    reference cycle), and code that logs on the way out (a ``finally``) may handle no
    exception of its own."""
    if len(_exit_code) == 2 and not _exiting():
        _exit_code[:] = [None]


def _exiting() -> bool:
    """Whether an exception is being handled here (an exit passing through an ``except`` or
    ``finally``), or this is not the main thread (no exit stops it)."""
    if threading.current_thread() is not threading.main_thread():
        return True
    return sys.exc_info()[1] is not None


def _open_here() -> bool:
    """Whether this process has writers open (a forked child: not its parent's)."""
    return any(pid == os.getpid() for _, pid in list(_open.values()))


def _recording_exit(exit_: Any) -> Any:
    def exit(status: object = None) -> None:
        _exit_code[:] = [status]  # (a second item: it was caught and dropped)
        _exits_raised[0] += 1
        mine = _exits_raised[0]

        def caught() -> None:  # (argparse's, in a try): maybe not what ends the script
            if _exits_raised[0] == mine:
                _exit_code[1:] = [True]

        raise watched(SystemExit(status), caught)  # (what exit_ raises)

    exit.__doc__ = exit_.__doc__
    return exit


def _warn_if_made_again(made_as: tuple[str, str], writes: str) -> None:
    if not (hasattr(sys, "ps1") or sys.flags.interactive or _in_ipython()):
        return  # (a script may well keep several writers of one name open on purpose)
    earlier = [w for key, (m, w) in _made_as.items() if m == made_as and key in _open]
    if earlier:
        warn_caller(
            f"{earlier[0]!r} (made with the name {made_as[1]!r}) is still open in this process: "
            f"this writer writes {writes!r}. Close the earlier one with animlib.finish() (every "
            "writer this process left open; status='failed' marks them failed)"
        )


def finish(*, status: str = "finished", error: str | None = None) -> list[str]:
    """Close every run and experiment writer this process opened and has not closed, as
    ``wandb.finish()`` does: the way to close a writer out of reach (a notebook cell that made
    one was run again, rebinding its variable), which otherwise holds its run open, refusing
    ``if_exists="overwrite"`` and resumes, until the session ends.

    Args:
        status: ``"finished"`` or ``"failed"``.
        error: A message stored with failed runs.

    Returns:
        The ids of the runs and experiments closed, in the order they were opened.

    Raises:
        AnimlibError: the first error met (every writer is still tried; calling again retries
            the ones that could not be closed).
    """
    from .meta import end_status

    end_status(status)  # (before any writer: a typo must not reach every run)
    with _lock:
        writers = [(key, w) for key, (w, pid) in _open.items() if pid == os.getpid()]
        names = {key: _made_as.get(key, (None, ""))[1] for key, _ in writers}
    closed, first = [], None
    for key, writer in writers:
        try:
            writer.finish(status, error)
        except AnimlibError as exc:
            if exc.code == Code.MISSING:  # its folder was removed: nothing left to close
                untrack(writer)
                warn_caller(f"{names[key] or _label(writer)!r} was not closed: {exc.message}")
                continue
            first = first or exc
            continue
        closed.append(names[key] or _label(writer))
    if first is not None:
        raise first
    return closed


def _label(writer: Finishable) -> str:
    return str(getattr(writer, "run_id", None) or getattr(writer, "experiment", None) or "")


def untrack(writer: Finishable) -> None:
    """Forget a writer that has been closed."""
    with _lock:
        _open.pop(id(writer), None)
        _made_as.pop(id(writer), None)
        last = not _open
        if last and _exits and sys.exit is _exits[1]:  # (another's wrapper over it: kept)
            sys.exit = _exits.pop(0)
            _exits.clear()
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
        _made_as.clear()
    if not writers:
        return False
    with sigterm_held():  # (a SIGTERM now ends the process once they are closed)
        for writer in writers:
            try:
                _close(writer, status, error)
            except Exception as exc:  # noqa: BLE001 - reported, the other writers still closed
                if not (isinstance(exc, AnimlibError) and exc.code == Code.MISSING):
                    print(f"animlib: could not close a writer at exit: {exc}", file=sys.stderr)
    return True


def _close(writer: Finishable, status: str, error: str | None) -> None:
    """``writer.finish(status, error)``; if it cannot be finished (a BatchWriter whose final
    write fails again: a full disk), it is marked failed rather than left running."""
    try:
        writer.finish(status, error)
    except AnimlibError as exc:
        if status == "failed" or exc.code == Code.MISSING:
            raise
        writer.finish("failed", f"not finished at exit: {exc}")  # (if it fails: said once)
        print(f"animlib: could not finish a writer at exit ({exc}): marked failed", file=sys.stderr)


on_escalate.append(finish_open_writers)  # (SIGTERM's watchdog closes them before it exits)
any_open.append(_open_here)


def _in_ipython() -> bool:
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return callable(get) and get() is not None
