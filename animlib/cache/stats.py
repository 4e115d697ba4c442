"""Counters of what the render cache did in this process (for tests, benchmarks and logs)."""

from __future__ import annotations

import threading
from collections import Counter

_counts: Counter[str] = Counter()
_lock = threading.Lock()

KINDS = ("renders", "appends", "hits", "downloads", "waits", "takeovers", "copies")


def count(kind: str, n: int = 1) -> None:
    """Add ``n`` to the counter ``kind``."""
    with _lock:
        _counts[kind] += n


def stats() -> dict[str, int]:
    """The counters since the process started (or :func:`reset`): ``renders`` (full renders),
    ``appends`` (live renders that appended frames), ``hits`` (served without rendering),
    ``downloads`` (hits fetched from a shared cache), ``waits`` (waited for another renderer),
    ``takeovers`` (expired leases taken over), ``copies`` (``render(..., cache=True)`` copies).

    Returns:
        A new dict, every kind present.
    """
    with _lock:
        return {kind: _counts[kind] for kind in KINDS}


def reset() -> None:
    """Set every counter to zero."""
    with _lock:
        _counts.clear()
