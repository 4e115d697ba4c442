"""Ctrl-C held back during a few microseconds of work that must happen whole (a batch step), and
SIGTERM turned into an exception while writers are open (so they close, flushed, as failed)."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

ESCALATE_S = 5.0  # a process still alive this long after SIGTERM is ended (see _on_sigterm)
_held = [0]  # how deep the main thread is in deferred_interrupt blocks
_term_pending: list[int] = []  # a SIGTERM that arrived in such a block (raised at its end)
terminated: list[bool] = []  # a SIGTERM was raised as Terminated (the exit's cause)


class _Dropped:
    """Put on an exception that ends a script (``sys.exit``'s, :class:`Terminated`): it goes
    with the exception. Dropped while Python code runs (an ``except`` block that caught it
    ended), ``caught`` is called: the exception is not what ends the script. Dropped by the
    interpreter as it exits (no Python frame below), or never (kept by a ``finally`` or a
    generator closing on its way out), it is."""

    __slots__ = ("caught",)

    def __init__(self, caught: Callable[[], None]) -> None:
        self.caught = caught

    def __del__(self) -> None:
        here = inspect.currentframe()
        if here is not None and here.f_back is not None:  # (none: the interpreter, exiting)
            self.caught()


def watched(exc: BaseException, caught: Callable[[], None]) -> BaseException:
    """``exc``, calling ``caught`` if it is caught and dropped (see :class:`_Dropped`)."""
    exc.animlib_dropped = _Dropped(caught)  # type: ignore[attr-defined]
    return exc


def _sigterm_caught() -> None:
    """The SIGTERM's exception was caught and dropped (see :func:`went_on`)."""
    if terminated:
        dropped.append(True)


dropped: list[bool] = []  # the last SIGTERM's exception was caught and dropped


def went_on() -> None:
    """The script opens a writer, all closed, after it caught the SIGTERM's exception and
    dropped it: later writers are not failed for it, and catch SIGTERM again (its watchdog
    still ends a script with writers open 5 s after the signal)."""
    if dropped:
        terminated.clear()
        dropped.clear()


class Terminated(SystemExit):
    """SIGTERM (``kill``, ``timeout``, a scheduler's preemption) while writers are open: raised
    in the main thread, so their ``with`` blocks (or the exit hook) flush every logged step and
    mark the runs failed; the process then exits with 143, as the signal's default would."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)

    def __str__(self) -> str:
        return "SIGTERM"


# what closes the open writers, True if there were any (set by animlib.open_writers; the
# watchdog calls it), and whether any is open
on_escalate: list[Callable[[], bool]] = []
any_open: list[Callable[[], bool]] = []


def _default_sigterm() -> None:
    """SIGTERM's default action, now: the process ends as killed by it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.kill(os.getpid(), signal.SIGTERM)


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM while writers are open: :class:`Terminated` is raised in the main thread (held
    back during a batch step). Installed as the handler (not called by the script's own), a
    second SIGTERM kills at once (the default is back), and a watchdog ends the process
    :data:`ESCALATE_S` later if writers are still open (a bare ``except:`` swallowed the
    exception, an executor waits for its queued work): it closes them (flushed, failed) and
    exits with 143. A script that caught the exception and closed its writers goes on. With
    no writer open (the last one was closed in another thread, which cannot put the default
    back), it is the default."""
    if any_open and not any_open[0]():
        _default_sigterm()
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if not terminated:
            threading.Thread(target=_watchdog, name="animlib-sigterm", daemon=True).start()
    terminated.append(True)
    dropped.clear()
    if _held[0]:
        _term_pending.append(signum)
        return
    raise watched(Terminated(), _sigterm_caught)


def _watchdog() -> None:
    time.sleep(ESCALATE_S)
    if any_open and not any_open[0]():  # the script closed its writers: it goes on
        return
    if not terminated:  # (it caught the exception: the writers still open are failed for it)
        terminated.append(True)
    were_open: list[bool] = []
    closing = threading.Thread(
        target=lambda: were_open.extend(close() for close in on_escalate), daemon=True
    )
    closing.start()
    closing.join(10.0)  # (a writer whose lock the stuck main thread holds: not forever)
    if any(were_open) or closing.is_alive():
        sys.stdout.flush()
        os._exit(128 + signal.SIGTERM)


def catch_sigterm() -> None:
    """Raise :class:`Terminated` on SIGTERM from now on, if the program left SIGTERM to its
    default (it kills at once: no writer would close) and this is the main thread (only it
    may set handlers: writers opened only in other threads are not closed by a SIGTERM)."""
    if threading.current_thread() is threading.main_thread() and not terminated:
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)


def release_sigterm() -> None:
    """Give SIGTERM its default back (no writer is open any more), if ours is still installed
    and this is the main thread."""
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is _on_sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def sigterm_held() -> Iterator[None]:
    """Run the block (the writers closed at exit) whole: a SIGTERM meanwhile ends the process
    when the block ends (as the signal's default would have), a second one at once. Only in
    the main thread, while SIGTERM has its default or animlib's handler (else the program
    handles it), and not after a first SIGTERM (the cause of this exit: the next one kills).
    Without it, a SIGTERM here (a ``multiprocessing.Pool`` terminating its workers as they
    close the writers a task left open) stopped the close part-way, leaving runs ``running``
    and steps unwritten."""
    try:
        ours = (
            threading.current_thread() is threading.main_thread()
            and not terminated
            and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, _on_sigterm)
        )
    except (ValueError, OSError):
        ours = False
    if not ours:
        yield
        return
    came: list[int] = []

    def held(signum: int, frame: Any) -> None:
        if came:
            _default_sigterm()
        came.append(signum)

    signal.signal(signal.SIGTERM, held)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # (no writer is open any more)
        if came:
            _default_sigterm()


@contextlib.contextmanager
def deferred_interrupt(*, raise_it: bool = True) -> Iterator[list[int]]:
    """Run the block whole: a Ctrl-C (SIGINT) that arrives meanwhile raises KeyboardInterrupt
    when the block ends, not in its middle, and a SIGTERM :class:`Terminated`. Only in the main
    thread (elsewhere signals do not interrupt), Ctrl-C only with Python's own SIGINT handler
    installed (else the program handles it).

    With ``raise_it=False`` the caller raises the KeyboardInterrupt: the block gets the list
    the Ctrl-Cs are put in, and a public method raising it in its own frame gives a traceback
    of the user's line and that one (raised here, it also ran through contextlib and this
    module)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    own = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if own:
        signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    _held[0] += 1
    try:
        yield caught
    finally:
        _held[0] -= 1
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if _term_pending and not _held[0]:
        _term_pending.clear()
        raise watched(Terminated(), _sigterm_caught)
    if caught and raise_it:
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_ends_command() -> Iterator[None]:
    """Inside the block, SIGTERM (``timeout``, a cancelled CI job) raises :class:`Terminated`
    in the main thread, so a command ends through its cleanup as on Ctrl-C (a render removes
    its partial file and stops ffmpeg, which had kept writing it) and exits with 143. Nothing
    changes where the program handles SIGTERM itself or in another thread."""
    main, ours = threading.current_thread() is threading.main_thread(), False
    with contextlib.suppress(ValueError, OSError):
        ours = main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if not ours:
        yield
        return

    def raise_terminated(signum: int, frame: Any) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
