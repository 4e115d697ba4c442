"""BufferPool: reusable batch buffers (buffering a batch costs a copy, not fresh memory pages)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

MAX_FREE_BYTES = 64 * 2**20  # free buffers kept at most (the flusher has a few in flight)


class BufferPool:
    """Hands out arrays of one shape and dtype, and takes them back once every user released
    them. Memory a process touches for the first time costs a page fault per 4 KiB (more than
    the copy itself on virtual machines); reused buffers do not."""

    def __init__(self) -> None:
        self._free: list[np.ndarray] = []
        self._users: dict[int, int] = {}
        self._lock = threading.Lock()

    def copy(self, data: np.ndarray, users: int) -> tuple[np.ndarray, Callable[[], None]]:
        """A pooled copy of ``data`` and the callback each of its ``users`` calls when done
        with it (the last call returns the buffer to the pool).

        Args:
            data: The array to copy.
            users: How many times the callback will be called.

        Returns:
            The copy and the release callback.
        """
        with self._lock:
            buf = next(
                (b for b in self._free if b.shape == data.shape and b.dtype == data.dtype), None
            )
            if buf is not None:
                self._free.remove(buf)
        if buf is None:
            buf = np.empty_like(data)
        np.copyto(buf, data)
        with self._lock:
            self._users[id(buf)] = max(1, users)

        def release() -> None:
            with self._lock:
                left = self._users[id(buf)] - 1
                if left:
                    self._users[id(buf)] = left
                    return
                del self._users[id(buf)]
                if sum(b.nbytes for b in self._free) + buf.nbytes <= MAX_FREE_BYTES:
                    self._free.append(buf)

        return buf, release
