"""Zarr's local store with the link check of :class:`~animlib.store.local.LocalStore`."""

# The check runs on every key read or written. Imported only when arrays are opened, so listing
# never imports Zarr.

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import zarr.storage


def _no_guard(key: str) -> None:
    return None


class GuardedLocalStore(zarr.storage.LocalStore):
    """``zarr.storage.LocalStore`` that calls ``guard(key)`` before touching a key, so a chunk
    or a folder linked to a file outside the confined folder is refused, never read."""

    def __init__(
        self,
        root: Path | str,
        *,
        read_only: bool = False,
        guard: Callable[[str], None] = _no_guard,
    ) -> None:
        super().__init__(root, read_only=read_only)
        self.guard = guard

    def with_read_only(self, read_only: bool = False) -> GuardedLocalStore:
        return type(self)(self.root, read_only=read_only, guard=self.guard)

    def _readable(self, key: str) -> None:
        """The guard, then refuse a key that is no regular file: opening a FIFO waits for a
        writer forever (a validate, a runs page hung on it), a device never ends."""
        self.guard(key)
        try:
            mode = os.stat(Path(self.root) / key).st_mode
        except OSError:
            return  # missing (or unreadable): Zarr's own answer
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket or device"
            raise OSError(errno.EINVAL, f"{key} is not a regular file ({kind})")

    def get_sync(self, key: str, **kwargs: Any) -> Any:
        self._readable(key)
        return super().get_sync(key, **kwargs)

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        self._readable(key)
        return await super().get(key, prototype, byte_range)

    async def get_partial_values(
        self, prototype: Any, key_ranges: Iterable[tuple[str, Any]]
    ) -> list[Any]:
        key_ranges = list(key_ranges)
        for key, _ in key_ranges:
            self._readable(key)
        return await super().get_partial_values(prototype, key_ranges)

    async def exists(self, key: str) -> bool:
        self.guard(key)
        return await super().exists(key)

    def set_sync(self, key: str, value: Any) -> None:
        self.guard(key)
        super().set_sync(key, value)

    async def set(self, key: str, value: Any) -> None:
        self.guard(key)
        await super().set(key, value)

    async def set_if_not_exists(self, key: str, value: Any) -> None:
        self.guard(key)
        await super().set_if_not_exists(key, value)
