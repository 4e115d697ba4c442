"""The render cache: renders kept outside the results folder, shared when it is a URL.

``ANIMLIB_CACHE`` is a local folder (default: the user's cache folder) or any fsspec URL
(``s3://bucket/prefix``) shared by every process pointing there. Modules:

- :mod:`~animlib.cache.keys`: the one content key of a render (:func:`render_key`), the identity
  key of a live run's render, and the names of entries and their sidecars;
- :mod:`~animlib.cache.folder`: the cache folder (local, or shared plus a bounded local folder
  of read-through copies and player strips), last-use records and LRU eviction;
- :mod:`~animlib.cache.leases`: one renderer per entry across threads, processes and machines
  (an exclusive lease object with a heartbeat; dead leases expire and are taken over);
- :mod:`~animlib.cache.renders`: :func:`cached_render` and :func:`cached_copy`
  (``animlib.render(..., cache=True)``);
- :mod:`~animlib.cache.live`: live runs, one entry each, appended to as they grow;
- :mod:`~animlib.cache.stats`: what the cache did in this process.
"""

from __future__ import annotations

from pathlib import Path

from ..settings import settings
from .folder import CacheFolder
from .keys import entry_name, live_key, render_key
from .renders import cached_copy, cached_render
from .stats import reset as reset_stats
from .stats import stats

__all__ = [
    "CacheFolder",
    "cache_dir",
    "cached_copy",
    "cached_render",
    "evict",
    "live_key",
    "lookup",
    "max_bytes",
    "render_key",
    "reset_stats",
    "stats",
]


def cache_dir() -> Path:
    """The local cache folder, created: the cache itself when ``ANIMLIB_CACHE`` is a folder
    (default: the user's cache folder), else the local folder of the shared cache (read-through
    copies, player strips).

    Raises:
        StoreError: if ``ANIMLIB_CACHE`` is a URL of an unknown scheme, or the folder cannot be
            created.
    """
    return CacheFolder.current().local


def max_bytes() -> int:
    """The cache's size bound (``ANIMLIB_CACHE_MAX_MB``, default 2048 MB)."""
    return settings().cache_max_bytes


def lookup(key: str, fmt: str) -> Path | None:
    """The local file of the cached render ``key`` in ``fmt`` if the cache holds it (downloaded
    from a shared cache if need be); marks it recently used."""
    return CacheFolder.current().get(entry_name(key, fmt))


def evict(keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Delete least recently used files of the local cache folder until it fits its bound
    (``limit`` bytes if given); return what was removed. Hidden files (renders in progress,
    leases) are left alone unless older than a day. A shared cache's own bound is kept by each
    render that adds to it.

    Args:
        keep: a file that stays (the one about to be served).
        limit: the bound in bytes (default: the local folder's).

    Returns:
        The removed files.
    """
    from ..store import LocalStore
    from .folder import evict_store

    folder = CacheFolder.current()
    bound = folder.local_max_bytes if limit is None else limit
    names = evict_store(LocalStore(folder.local), bound, keep.name if keep is not None else None)
    return [folder.local / name for name in names]
