"""At-exit hooks that run only in the process that registered them, never in a forked child."""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import Any


def at_exit_here(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], None]:
    """Register ``func(*args, **kwargs)`` to run at the interpreter's exit in this process only.

    A child forked from this process inherits the registration (``atexit`` is copied with the
    process) but skips the call: the hook would act on its parent's state, its threads, locks
    and files (a writer's hook waited for ever on a lock a parent thread held at the fork, or
    wrote the parent's buffered steps into the parent's runs).

    Args:
        func: what to call.
        *args: its arguments.
        **kwargs: its keyword arguments.

    Returns:
        The registered hook (for ``atexit.unregister``).
    """
    pid = os.getpid()

    def hook() -> None:
        if os.getpid() == pid:
            func(*args, **kwargs)

    atexit.register(hook)
    return hook
