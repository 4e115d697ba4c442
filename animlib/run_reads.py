"""What one opened run read from object storage, kept while it is open: chunk bytes, listings."""

# A page opens a run once and hands it to its check, its player and its metrics; each of them
# reads the same image chunk and lists the same arrays. Over object storage every such read is a
# round trip (200 ms to a bucket far away), so a :class:`~animlib.reader.Run` of a remote store
# keeps what it read: a Run is a snapshot as of its opening anyway (its steps are fixed), and
# the next page run opens the run again and reads afresh, so a run still being written is never
# shown stale. Local folders keep nothing (the OS caches their files; a render of 10,000 steps
# keeps its memory flat). Chunk bytes are kept up to :data:`KEEP_BYTES` per run (stored bytes:
# about the size of its images on disk) and :data:`TOTAL_BYTES` for all the open runs of the
# process; later chunks are read each time.
#
# A snapshot must never mix two runs: a run written again under its id since it was opened
# (``if_exists="overwrite"``, a notebook cell run again) would give the old run.json's steps,
# confidences and labels the new run's images. Before a chunk is read, :meth:`RunReads.same_run`
# checks that run.json still names the ``run_uid`` it named at opening (local folders: one stat
# per chunk, run.json read only when it changed; object storage: at most every
# :data:`RECHECK` s), and a failed read checks at once, so it is named for what it is.

from __future__ import annotations

import json
import threading
import time
import weakref
from typing import Any

from .errors import Code, RunFormatError, StoreError
from .meta import RUN_JSON
from .store import Store

KEEP_BYTES = 32 * 1024 * 1024  # most stored chunk bytes one opened remote run keeps
# most chunk bytes the opened remote runs of a process keep together (the experiments grid
# keeps 128 runs open; a notebook may hold hundreds): freed when a run is garbage-collected
TOTAL_BYTES = 256 * 1024 * 1024
_total = [0]  # chunk bytes kept now by every RunReads of this process
_total_lock = threading.RLock()  # (re-entered when a collection frees a run while it is held)
RECHECK = 1.0  # seconds between reads of a remote run's run.json by :meth:`RunReads.same_run`


def _reserve(nbytes: int) -> bool:
    with _total_lock:
        if _total[0] + nbytes > TOTAL_BYTES:
            return False
        _total[0] += nbytes
        return True


def _release(held: list[int]) -> None:
    with _total_lock:
        _total[0] -= held[0]
        held[0] = 0


def kept_bytes() -> int:
    """The chunk bytes every opened remote run of this process keeps now."""
    return _total[0]


class RunReads:
    """The chunk bytes and listings one opened run read (nothing when not ``enabled``), and
    the identity of that run (``store``: its folder, ``uid``: the ``run_uid`` its run.json
    named; None: not checked, as for another tool's run without one)."""

    def __init__(
        self,
        enabled: bool,
        max_bytes: int = KEEP_BYTES,
        *,
        store: Store | None = None,
        uid: str | None = None,
    ) -> None:
        self.enabled = enabled
        self.max_bytes = max_bytes
        self._store, self._uid = store, uid
        self._seen = store.write_time(RUN_JSON) if store is not None and uid else ""
        self._checked_at = time.monotonic()
        self._lock = threading.Lock()
        self._chunks: dict[str, bytes] = {}
        self._listings: dict[str, list[str]] = {}
        self._bytes = 0
        self._held = [0]  # (this run's share of TOTAL_BYTES, returned when it is collected)
        if enabled:
            weakref.finalize(self, _release, self._held)

    def __getstate__(self) -> dict[str, Any]:
        return {  # (a copy reads afresh, and checks the run's identity at its first read)
            "enabled": self.enabled,
            "max_bytes": self.max_bytes,
            "identity": (self._store, self._uid, self._seen),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        store, uid, seen = state.get("identity") or (None, None, "")
        self.__init__(state["enabled"], state["max_bytes"], store=store, uid=uid)
        self._seen, self._checked_at = seen, float("-inf")

    def chunk(self, key: str) -> bytes | None:
        """The bytes of chunk ``key`` (a path in the run folder) if read before, else None.
        Called before every chunk read: first checks :meth:`same_run`.

        Raises:
            RunFormatError: (REPLACED, MISSING) the run was written again or removed since it
                was opened."""
        self.same_run()
        return self._chunks.get(key) if self.enabled else None

    def same_run(self, *, now: bool = False) -> None:
        """Raise if the run folder no longer holds the run opened (see the module's notes);
        ``now``: look at once (a read failed), else as often as is cheap.

        Raises:
            RunFormatError: (REPLACED) run.json names another run (or none); (MISSING) the
                run folder or its run.json is gone."""
        store = self._store
        if store is None or not self._uid:
            return
        if self._seen:  # local: run.json read again only when it changed
            seen = store.write_time(RUN_JSON)
            if seen == self._seen and not now:
                return
        elif not now and time.monotonic() - self._checked_at < RECHECK:
            return
        else:
            seen = ""
        try:
            raw = store.read(RUN_JSON)
        except StoreError as exc:
            if exc.code != Code.MISSING:
                return  # (cannot tell now: the read itself says what fails)
            raise RunFormatError(
                "was removed since it was opened", run=store.name, field=RUN_JSON, code=Code.MISSING
            ) from None
        self._checked_at = time.monotonic()
        try:
            uid = json.loads(raw).get("run_uid")
        except (ValueError, AttributeError):
            uid = None
        if uid != self._uid:
            raise RunFormatError(
                "was written again since it was opened (another run is stored under its id "
                "now, as after if_exists='overwrite'): open it again (run.reopen())",
                run=store.name,
                field="run_uid",
                code=Code.REPLACED,
            )
        self._seen = seen

    def keep_chunk(self, key: str, data: bytes) -> None:
        """Keep the bytes of chunk ``key`` (as checked by its reader), within the budget."""
        if not self.enabled:
            return
        with self._lock:
            fits = key not in self._chunks and self._bytes + len(data) <= self.max_bytes
            if fits and _reserve(len(data)):
                self._chunks[key] = bytes(data)
                self._bytes += len(data)
                self._held[0] += len(data)

    def forget(self) -> None:
        """Drop every kept chunk (a chunk that passed its checks but did not decode must not
        be served again from here: the next read fetches it afresh)."""
        with self._lock:
            self._chunks.clear()
            self._bytes = 0
            _release(self._held)

    def listing(self, store: Store, path: str) -> list[str]:
        """``store.find(path)`` (the files below ``path``), listed once (or taken from the kept
        listing of a folder holding ``path``: ``scalars/loss`` from ``scalars``); a failed
        listing is not kept."""
        if not self.enabled:
            return store.find(path)
        for folder, kept in list(self._listings.items()):
            if path.startswith(folder + "/"):
                below = path[len(folder) + 1 :] + "/"
                return [p[len(below) :] for p in kept if p.startswith(below)]
        if (kept := self._listings.get(path)) is None:
            kept = self._listings.setdefault(path, list(store.find(path)))
        return list(kept)

    def tagged_listing(self, store: Store, path: str) -> list[tuple[str, str]]:
        """``store.find_tagged(path)`` (the files below ``path`` with a version tag each), read
        afresh every time: it is what a cached check is keyed by. Its names are kept as the
        listing of ``path`` (:meth:`listing` then asks the storage no more)."""
        found = store.find_tagged(path)
        if self.enabled:
            self._listings.setdefault(path, [name for name, _ in found])
        return found


def scalar_names_in(found: list[str]) -> list[str]:
    """The scalar series a run stores, from the files below its ``scalars`` folder (each one a
    folder with a zarr.json, named as an identifier; ``scalars/zarr.json``, the group's, may be
    missing: zarr-python's ``create_array("run/scalars/loss")`` writes none)."""
    names = {p.split("/", 1)[0] for p in found if p.count("/") == 1 and p.endswith("/zarr.json")}
    return sorted(n for n in names if n.isidentifier())


def run_json_or_none(store: Store) -> bytes | None:
    """The run.json of the run folder ``store``, or None if it is not there or cannot be
    reached through the folder (the caller then finds out why): over object storage a run is
    opened with this one GET, not a HEAD and a listing of its folder first.

    Raises:
        StoreError: (STORAGE) the storage failed (unreachable, throttled, refused), naming the
            run: asking again through the folder would only double the failed requests.
    """
    try:
        return store.read(RUN_JSON)
    except StoreError as exc:
        if exc.code == Code.STORAGE:
            raise exc.with_run(store.name) from None
        return None
