"""Where cached renders live: a local folder, or a shared one (any fsspec URL) plus a local one."""

# A :class:`CacheFolder` has
#
# - ``store``: the folder entries are published to (:func:`animlib.store.open_store` of
#   ``ANIMLIB_CACHE``), shared by every process pointing there when it is a URL;
# - ``local``: a folder on this machine. For a local cache it *is* the store's folder. For a shared
#   cache it holds read-through copies of entries (a hit downloads an entry once, then serves the
#   local file: Streamlit needs a file or bytes), renders on their way up, and the player's PNG
#   strips (registered with Streamlit's media store as local files; they are cheap to rebuild, so
#   they are not shared). It is bounded by ``ANIMLIB_CACHE_LOCAL_MB``.
#
# Last use (for the LRU bound): a local entry's mtime, set on every hit. In a shared folder an
# object's time cannot be changed without rewriting it, so a hit writes an empty ``.used-<entry>``
# object (one small PUT, at most once per ``TOUCH_SECONDS`` per entry and process); an entry's last
# use is the later of its own time and its record's. Eviction lists the folder once (one LIST
# request per 1,000 objects on S3) and deletes least recently used entries, with their sidecars,
# until the folder fits its bound. Several processes may evict at once: the bound is approximate by
# at most what they render meanwhile.

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Code, StoreError, found
from ..settings import settings
from ..store import LocalStore, Store, open_store
from ..store.paths import shown_inside
from . import keys
from .whole import is_whole

log = logging.getLogger(__name__)

STALE_TEMP_SECONDS = 24 * 3600  # hidden files older than this (left by a crash) are removed
TOUCH_SECONDS = 60.0  # a shared entry's use is recorded at most this often per process

_touched: dict[tuple[str, str], float] = {}
_touched_lock = threading.Lock()


def open_cache_store(location: str) -> Store:
    """The store of the render cache at ``location`` (``ANIMLIB_CACHE``'s value).

    Raises:
        StoreError: (field ``ANIMLIB_CACHE``) naming the value, for a URL of an unknown scheme.
    """
    try:
        return open_store(location)
    except StoreError as exc:
        message = exc.message.replace("s3://bucket/runs", "s3://bucket/animlib-cache")
        raise StoreError(
            message if location in message else f"{location!r}: {message}",
            field="ANIMLIB_CACHE",
            code=exc.code,
        ) from None


def check_outside(results: str) -> None:
    """Refuse a render cache (``ANIMLIB_CACHE``, or the local folder of a shared one) inside
    the results folder ``results`` (a URL or path), checked before anything is created: the
    renders, strips and run index written there would list as broken runs, and nothing that
    shows runs may write among them. A hidden folder in it (``runs/.cache``) is fine: listings
    skip it.

    Raises:
        StoreError: (INVALID, field ``ANIMLIB_CACHE`` or ``ANIMLIB_CACHE_LOCAL``) naming both.
    """
    s = settings()
    store = open_cache_store(s.cache_location())
    local = store.path if isinstance(store, LocalStore) else s.cache_local_location()
    top = open_store(results).url
    for where, env in ((store.url, "ANIMLIB_CACHE"), (str(local), "ANIMLIB_CACHE_LOCAL")):
        if shown_inside(where, top):
            raise StoreError(
                f"{where} is inside the results folder {results}: its renders would list as "
                "broken runs there; point it at another folder (or a hidden one in it, such as "
                ".cache)",
                field=env,
                code=Code.INVALID,
            )


@dataclass
class CacheFolder:
    """The render cache in force (see the module docstring)."""

    store: Store
    local: Path
    max_bytes: int
    local_max_bytes: int
    lease_seconds: float
    shared: bool = field(init=False)

    def __post_init__(self) -> None:
        self.shared = not (
            isinstance(self.store, LocalStore) and Path(self.store.path) == self.local
        )

    @classmethod
    def current(cls) -> CacheFolder:
        """The cache the settings name (``ANIMLIB_CACHE`` and friends), local folder created.

        Raises:
            StoreError: if ``ANIMLIB_CACHE`` is a URL of an unknown scheme, or the local folder
                cannot be created.
        """
        s = settings()
        store = open_cache_store(s.cache_location())
        if isinstance(store, LocalStore):
            local, local_max = Path(store.path), s.cache_max_bytes
        else:
            local, local_max = Path(s.cache_local_location()), s.cache_local_bytes
        try:
            local.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the cache folder ({exc.strerror})",
                field=str(local),
                code=Code.STORAGE,
            ) from None
        return cls(store, local, s.cache_max_bytes, local_max, s.cache_lease_seconds)

    def local_only(self) -> CacheFolder:
        """This cache without its shared folder (when the shared one fails).

        Returns:
            A local cache in this cache's local folder, with its local bound.
        """
        store = LocalStore(self.local)
        return CacheFolder(
            store, self.local, self.local_max_bytes, self.local_max_bytes, self.lease_seconds
        )

    # -- entries --------------------------------------------------------------------------------
    def local_path(self, name: str) -> Path:
        """Where the entry ``name`` is (or goes) on this machine.

        Args:
            name: an entry name (:mod:`animlib.cache.keys`).

        Returns:
            The path in the local folder (it may not exist).
        """
        return self.local / name

    def get(self, name: str) -> Path | None:
        """The local file of the entry ``name``: the local copy if there is one, else (shared
        cache) a fresh download; None if the cache does not hold it. Marks it used.

        Args:
            name: a content-keyed entry (a local copy of it never goes stale).

        Returns:
            The local file, or None.

        Raises:
            StoreError: (STORAGE) if the shared folder cannot be read.
        """
        path = self.local_path(name)
        if _utime(path) and self._whole(path, shared=False):
            self.touch(name)
            return path
        if not self.shared or not self.download(name) or not self._whole(path, shared=True):
            return None
        self.touch(name)
        return path

    def _whole(self, path: Path, *, shared: bool) -> bool:
        """Whether the local file of an entry is whole (:mod:`~animlib.cache.whole`); a torn
        one is removed (``shared``: the shared entry it came from too), so it is made again."""
        if is_whole(path):
            return True
        log.warning("cached render %s is damaged (cut short or empty): made again", path.name)
        if shared:
            self.remove(path.name)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        return False

    def download(self, name: str) -> bool:
        """Copy the shared entry ``name`` into the local folder.

        Args:
            name: the entry.

        Returns:
            False if the shared folder has no such entry.

        Raises:
            StoreError: (STORAGE) if it cannot be read or the local file written.
        """
        return found(lambda: self.store.download(name, self.local_path(name)), StoreError)

    def publish(self, name: str) -> None:
        """Make the local file of ``name`` (just rendered) the shared entry ``name`` (nothing
        to do for a local cache).

        Args:
            name: the entry.

        Raises:
            StoreError: (STORAGE) if the upload fails.
        """
        if self.shared:
            self.store.upload(self.local_path(name), name)

    def touch(self, name: str) -> None:
        """Record a use of ``name`` (see the module docstring); failures are ignored.

        Args:
            name: the entry used.
        """
        if not self.shared:
            return
        slot = (self.store.url, name)
        now = time.monotonic()
        with _touched_lock:
            if now - _touched.get(slot, -TOUCH_SECONDS) < TOUCH_SECONDS:
                return
            _touched[slot] = now
        with contextlib.suppress(StoreError):
            self.store.write_atomic(keys.sidecar(keys.USED, name), b"")

    def remove(self, name: str) -> None:
        """Delete the entry ``name`` and its sidecars, shared and local (missing is fine;
        failures are ignored: eviction gets another chance).

        Args:
            name: the entry.
        """
        for store in {self.store.url: self.store, str(self.local): LocalStore(self.local)}.values():
            for path in (name, keys.sidecar(keys.USED, name), keys.sidecar(keys.LIVE, name)):
                with contextlib.suppress(StoreError):
                    store.remove(path)

    # -- the size bound -------------------------------------------------------------------------
    def evict(self, keep: str | None = None) -> list[str]:
        """Bring the shared folder and the local one within their bounds (least recently used
        entries go first).

        Args:
            keep: an entry that stays (the one about to be served).

        Returns:
            The names removed (the shared folder's first).

        Raises:
            StoreError: (STORAGE) if a folder cannot be listed.
        """
        removed = evict_store(self.store, self.max_bytes, keep)
        if self.shared:
            removed += evict_store(LocalStore(self.local), self.local_max_bytes, keep)
        return removed


def _utime(path: Path) -> bool:
    try:
        os.utime(path)
    except OSError:
        return False
    return path.is_file()


def evict_store(store: Store, limit: int, keep: str | None = None) -> list[str]:
    """Delete least recently used entries of the cache folder ``store`` (each with its
    sidecars) until its files fit ``limit`` bytes; return the names deleted.

    Only renders and the cache's own hidden files are touched (the folder may hold files of
    the user's). Hidden files are renders in progress, leases and records: left alone unless
    older than a day with no entry of their own (left behind by a crash).

    Args:
        store: the cache folder.
        limit: the bound in bytes.
        keep: an entry never deleted (the one about to be served).

    Returns:
        The deleted names (entries, their sidecars and stale hidden files).
    """
    try:
        listing = [e for e in store.list(detail=True) if not e.is_dir]
    except StoreError as exc:
        if exc.code == Code.NOT_FOUND:
            return []
        raise
    now = time.time()
    entries = {e.name: e for e in listing if keys.is_entry(e.name)}
    sidecars: dict[str, list[str]] = {}
    last_use = {name: e.mtime or 0.0 for name, e in entries.items()}
    sizes = {name: e.size or 0 for name, e in entries.items()}
    stale = []
    for e in listing:
        if not e.name.startswith("."):
            continue
        entry = keys.owner(e.name)
        if entry in entries:
            sidecars.setdefault(entry, []).append(e.name)
            sizes[entry] += e.size or 0
            if e.name == keys.sidecar(keys.USED, entry):
                last_use[entry] = max(last_use[entry], e.mtime or 0.0)
        elif keys.is_ours(e.name) and now - (e.mtime or now) > STALE_TEMP_SECONDS:
            stale.append(e.name)
    removed = _remove_all(store, stale)
    total = sum(sizes.values())
    for name in sorted(entries, key=lambda n: last_use[n]):
        if total <= limit:
            break
        if name == keep or keys.sidecar(keys.LEASE, name) in sidecars.get(name, []):
            continue  # being served, or being replaced (a live render) right now
        gone = _remove_all(store, [name, *sidecars.get(name, [])])
        if name in gone:
            total -= sizes[name]
            removed += gone
    return removed


def _remove_all(store: Store, names: list[str]) -> list[str]:
    removed = []
    for name in names:
        try:
            store.remove(name)
        except StoreError:
            continue
        removed.append(name)
    return removed
