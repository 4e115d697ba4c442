"""A Dask worker preload: ``render --all``'s local workers ignore the Ctrl-C their parent stops."""

# A Ctrl-C in a terminal reaches every process of its group: each worker printed a
# KeyboardInterrupt traceback while the parent, which closes them, said "interrupted".

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """Called by Dask in each worker process as it starts (``preload=["animlib.dask_quiet"]``)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
