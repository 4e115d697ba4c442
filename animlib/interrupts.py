"""Ctrl-C held back during a few microseconds of work that must happen whole (a batch step), and
SIGTERM turned into an exception while writers are open (so they close, flushed, as failed)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_held = [0]  # how deep the main thread is in deferred_interrupt blocks
_term_pending: list[int] = []  # a SIGTERM that arrived in such a block (raised at its end)
terminated: list[bool] = []  # a SIGTERM was raised as Terminated (the exit's cause)


class Terminated(SystemExit):
    """SIGTERM (``kill``, ``timeout``, a scheduler's preemption) while writers are open: raised
    in the main thread, so their ``with`` blocks (or the exit hook) flush every logged step and
    mark the runs failed; the process then exits with 143, as the signal's default would."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)

    def __str__(self) -> str:
        return "SIGTERM"


def _on_sigterm(signum: int, frame: Any) -> None:
    if _held[0]:
        _term_pending.append(signum)
        return
    terminated.append(True)
    raise Terminated


def catch_sigterm() -> None:
    """Raise :class:`Terminated` on SIGTERM from now on, if the program left SIGTERM to its
    default (it kills at once: no writer would close) and this is the main thread."""
    if threading.current_thread() is threading.main_thread():
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
def deferred_interrupt() -> Iterator[None]:
    """Run the block whole: a Ctrl-C (SIGINT) that arrives meanwhile raises KeyboardInterrupt
    when the block ends, not in its middle, and a SIGTERM :class:`Terminated`. Only in the main
    thread (elsewhere signals do not interrupt), Ctrl-C only with Python's own SIGINT handler
    installed (else the program handles it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    own = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    caught: list[int] = []
    if own:
        signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    _held[0] += 1
    try:
        yield
    finally:
        _held[0] -= 1
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if _term_pending and not _held[0]:
        _term_pending.clear()
        terminated.append(True)
        raise Terminated
    if caught:
        raise KeyboardInterrupt
