"""What one opened run read from object storage, kept while it is open: chunk bytes, listings."""

# A page opens a run once and hands it to its check, its player and its metrics; each of them
# reads the same image chunk and lists the same arrays. Over object storage every such read is a
# round trip (200 ms to a bucket far away), so a :class:`~animlib.reader.Run` of a remote store
# keeps what it read: a Run is a snapshot as of its opening anyway (its steps are fixed), and
# the next page run opens the run again and reads afresh, so a run still being written is never
# shown stale. Local folders keep nothing (the OS caches their files; a render of 10,000 steps
# keeps its memory flat). Chunk bytes are kept up to :data:`KEEP_BYTES` per run (stored bytes:
# about the size of its images on disk); later chunks are read each time.

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

KEEP_BYTES = 32 * 1024 * 1024  # most stored chunk bytes one opened remote run keeps


class RunReads:
    """The chunk bytes and listings one opened run read (nothing when not ``enabled``)."""

    def __init__(self, enabled: bool, max_bytes: int = KEEP_BYTES) -> None:
        self.enabled = enabled
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._chunks: dict[str, bytes] = {}
        self._listings: dict[str, list[str]] = {}
        self._bytes = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "max_bytes": self.max_bytes}  # (a copy reads afresh)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["enabled"], state["max_bytes"])

    def chunk(self, key: str) -> bytes | None:
        """The bytes of chunk ``key`` (a path in the run folder) if read before, else None."""
        return self._chunks.get(key) if self.enabled else None

    def keep_chunk(self, key: str, data: bytes) -> None:
        """Keep the bytes of chunk ``key`` (as checked by its reader), within the budget."""
        if not self.enabled:
            return
        with self._lock:
            if key not in self._chunks and self._bytes + len(data) <= self.max_bytes:
                self._chunks[key] = bytes(data)
                self._bytes += len(data)

    def listing(self, path: str, find: Callable[[], list[str]]) -> list[str]:
        """``find()`` (the files below ``path``), listed once; a failed listing is not kept."""
        if not self.enabled:
            return find()
        if (kept := self._listings.get(path)) is None:
            kept = self._listings.setdefault(path, list(find()))
        return list(kept)
