"""Ctrl-C held back during a few microseconds of work that must happen whole (a batch step)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the block whole: a Ctrl-C (SIGINT) that arrives meanwhile raises KeyboardInterrupt
    when the block ends, not in its middle. Only in the main thread with Python's own SIGINT
    handler installed (elsewhere signals do not interrupt, or the program handles them)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt
