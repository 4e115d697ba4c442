"""The run index of one results folder: refreshed incrementally, kept as Parquet in the cache."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import lock
from .. import meta as M
from ..errors import StoreError
from ..listing import RunInfo, folder_error, read_infos
from ..store import Store, open_store
from . import files
from . import versions as V
from .columns import column
from .order import take_rows, with_changes
from .query import Counts, Query, Result, counts, facets, run_query, same_source
from .rows import info_of, row_of, table_of
from .versions import MISSING, UNSAFE, hot_ids, is_hot, settled, version_of

log = logging.getLogger("animlib.index")

SAVE_INTERVAL_S = 30.0  # at most one rewrite of the index file per this many seconds


@dataclass(frozen=True)
class Refresh:
    """What one refresh did: folders listed, run.json files read, runs dropped, seconds spent
    (``cached`` when it was skipped because the last one is recent enough)."""

    listed: int = 0
    read: int = 0
    removed: int = 0
    seconds: float = 0.0
    cached: bool = False


class RunIndex:
    """The index of the results folder ``root``.

    Rows (one per run folder, :data:`animlib.index.rows.SCHEMA`) live in memory as an Arrow table
    in the order of :func:`animlib.list_runs`, and in a Parquet file in the cache folder (written
    to a temporary file and renamed over the old one, so readers and a crash never see half a
    file). :meth:`refresh` lists the folder once (with each run.json's version tag) and reads
    only the run.json files that are new or changed; removed runs drop out. The folder being
    indexed is only ever read.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | Store,
        storage_options: dict[str, Any] | None = None,
        *,
        path: str | None = None,
    ) -> None:
        self.store = open_store(root, storage_options)
        self.url = self.store.url
        self.path = path if path is not None else files.index_path(self.url)
        self.generation = 0  # bumps whenever the rows change
        self._uid = uuid.uuid4().hex  # tells this object's generations from an earlier one's
        self.last = Refresh()
        self._lock = threading.Lock()
        self._table: pa.Table | None = None
        self._versions: dict[str, str] = {}  # run id -> its run.json's listed version
        self._unread: dict[str, float] = {}  # run.json the storage failed to read -> retry at
        self._checked = self._full_at = float("-inf")
        self._stamp: str | None = None  # the folder's own version at the last full refresh
        self._hot: set[str] = set()  # runs whose run.json is looked at by refresh_changes
        self._gone: frozenset[str] = frozenset()  # hot runs whose writer is gone (see below)
        self._saved, self._dirty = float("-inf"), False
        self._infos: dict[str, tuple[str, RunInfo]] = {}
        self._worker: threading.Thread | None = None
        self._listed: tuple[int, list[RunInfo]] | None = None  # infos() of one generation
        self._facets: tuple[int, dict[str, list[str]]] = (-1, {})  # facets() of one generation
        self.failed: Exception | None = None  # the error of the last refresh (None: it worked)
        self.busy_since: float | None = None  # when the running background refresh began
        self._classes: dict[str, Any] = {}

    # -- refreshing -----------------------------------------------------------------------------
    def refresh(self, max_age: float = 0.0) -> Refresh:
        """Bring the index up to date with the folder: one full listing, then the new or
        changed run.json files are read and removed runs dropped.

        Args:
            max_age: nothing is done if the last refresh is younger than this many seconds.

        Returns:
            What was done.

        Raises:
            RunFormatError: the folder does not exist, is not a folder or cannot be listed.
        """
        with self._lock:
            if self._table is not None and time.monotonic() - self._checked < max_age:
                return Refresh(self.last.listed, cached=True)
            return self._full()

    def _full(self) -> Refresh:
        started = time.monotonic()
        if self._table is None:
            self._load()
        stamp = self.store.folder_version()  # before the scan: later changes are seen next time
        try:
            listing = self.store.member_versions(M.RUN_JSON, hints=list(self._versions))
        except StoreError as exc:
            raise folder_error(self.store, exc) from None
        current, todo = self._versions_of(listing)
        removed = [n for n in self._versions if n not in current]
        if todo or removed or self._table is None:
            self._apply(todo, removed, current)
        now = self.store.folder_version() if stamp is not None else None
        if now != stamp:
            # runs were added or removed during the scan (polls skip while it runs): read them
            # now, so a slow scan never delays a new run by one more poll
            stamp = now
            more, new, gone = self._changes(True)
            if new or gone:
                self._apply(new, gone, more)
        if self._table is not None:
            self._hot = hot_ids(self._table)  # (running runs gone stale since are left out)
        self._look_for_gone_writers()
        self._save_when_due()
        self._stamp, self._checked = stamp, time.monotonic()
        self._full_at = self._checked
        self.last = Refresh(len(current), len(todo), len(removed), self._checked - started)
        return self.last

    @property
    def watchable(self) -> bool:
        """True if the folder tells cheaply when runs are added or removed (local folders), so
        :meth:`refresh_changes` can skip the full scan."""
        return self.store.folder_version() is not None

    def refresh_changes(self, max_age: float = 0.0) -> Refresh:
        """A cheap refresh for polling: the run.json of *hot* runs is looked at (running, no
        run.json yet, or changed within the last seconds), and when the folder's own version
        changed (a run folder was added or removed) its names are listed, without a look
        inside each folder, to read the new runs and drop the removed ones. Edits of other
        runs are found by the next full :meth:`refresh`; a folder without such a version
        (object storage) gets a full refresh. While another refresh runs, nothing is done (a
        poll never waits for a full refresh, which finds at least as much).

        Args:
            max_age: nothing is done if the last refresh is younger than this many seconds.

        Returns:
            What was done (``cached`` when skipped).

        Raises:
            RunFormatError: the folder does not exist, is not a folder or cannot be listed.
        """
        if not self._lock.acquire(blocking=self._table is None):
            return Refresh(self.last.listed, cached=True)  # a refresh is running: it sees more
        try:
            if self._table is not None and time.monotonic() - self._checked < max_age:
                return Refresh(self.last.listed, cached=True)
            stamp = self.store.folder_version()
            if stamp is None or self._table is None:
                return self._full()
            started = time.monotonic()
            current, todo, removed = self._changes(stamp != self._stamp)
            if todo or removed:
                self._apply(todo, removed, current)
            self._look_for_gone_writers()
            # (not saved here: a poll must not wait for the file; full refreshes and exit save)
            self._stamp, self._checked = stamp, time.monotonic()
            return Refresh(len(current), len(todo), len(removed), self._checked - started)
        finally:
            self._lock.release()

    def _changes(self, renamed: bool) -> tuple[dict[str, str], list[str], list[str]]:
        """The versions of the hot runs (and, when folders were added or removed, of the new
        ones), and the runs whose folder is gone (RunFormatError if it cannot be listed)."""
        try:
            return self._look(renamed)
        except StoreError as exc:
            raise folder_error(self.store, exc) from None

    def _look(self, renamed: bool) -> tuple[dict[str, str], list[str], list[str]]:
        look, removed = set(self._hot), []
        if renamed:
            mapped = {
                (name if name.isascii() else V.utf8(name)): name
                for name in self.store.folder_names()
                if not name.startswith(".")
            }
            removed = list(self._versions.keys() - mapped.keys())
            look = {n for n in look if n in mapped}
            look |= {mapped[key] for key in mapped.keys() - self._versions.keys()}
        listing = self.store.member_versions(M.RUN_JSON, only=sorted(look)) if look else {}
        current, todo = self._versions_of({name: listing.get(name) for name in look})
        return current, todo, removed

    def _look_for_gone_writers(self) -> None:
        """:attr:`writers_gone` anew from the locks of the hot runs (one batch of reads), but
        those whose run.json could not be read (no status to tell stale: no GET per poll)."""
        gone = lock.writers_gone(self.store, self._hot - self._unread.keys())
        if gone != self._gone:
            self._gone = gone
            self.generation += 1  # what is built from the rows shows them stale now

    @property
    def writers_gone(self) -> frozenset[str]:
        """The runs the last refresh found with a writer of this host that no longer runs
        (killed, out of memory: :func:`animlib.lock.writer_gone`); shown ``stale`` at once
        when running, instead of after ``ANIMLIB_STALE_SECONDS`` of silence."""
        return self._gone

    def _versions_of(self, listing: dict[str, str | None]) -> tuple[dict[str, str], list[str]]:
        """The version of each listed folder's run.json (hidden folders skipped), and the
        folders whose version differs from the index. A name is checked for being a run id
        only when it is new (names of indexed runs were checked before)."""
        known, out, todo = self._versions, {}, []
        if listing == known:  # nothing changed (compared in C; the usual warm listing)
            out = dict(listing)  # type: ignore[arg-type]
        else:
            for name, tag in listing.items():
                if name.startswith("."):
                    continue
                key = name if name.isascii() else V.utf8(name)
                old = known.get(key)
                listed = MISSING if tag is None else tag
                version = version_of(name, tag) if old is None or old == UNSAFE else listed
                out[key] = version
                if version != old:
                    todo.append(key)
        return out, [*todo, *(i for i in V.due(self._unread, out) if i not in todo)]

    def refresh_soon(self, max_age: float) -> None:
        """Start :meth:`refresh` in a background thread: readers keep the rows they have
        meanwhile (a page never waits for a slow listing). A failure is kept in :attr:`failed`
        until a refresh succeeds.

        Args:
            max_age: nothing starts if the last full refresh is younger than this many seconds,
                or a refresh is running (this never waits for one).
        """
        if not self._lock.acquire(blocking=False):
            return  # a refresh is running (a page must not wait for it)
        try:
            due = time.monotonic() - self._full_at >= max_age
            if not due or (self._worker is not None and self._worker.is_alive()):
                return
            self._worker = threading.Thread(
                target=self._background, name="animlib-index", daemon=True
            )
            self.busy_since = time.monotonic()
            self._worker.start()
        finally:
            self._lock.release()

    def _background(self) -> None:
        try:
            self.refresh()
            self.failed = None
        except Exception as exc:  # kept for the next reader, never lost in a thread
            log.warning("run index refresh of %s failed: %s", self.url, exc)
            self.failed = exc
        self.busy_since = None

    def preload(self) -> int:
        """Read the index file saved by an earlier process, if no rows are held yet, so that
        they can be shown while the first full refresh runs (it may take seconds on 100,000
        runs). Never waits for a refresh in progress.

        Returns:
            How many rows the index holds now (0 without a saved file).
        """
        if self._table is None and self._lock.acquire(blocking=False):
            try:
                if self._table is None:
                    self._load()
            finally:
                self._lock.release()
        return self._table.num_rows if self._table is not None else 0

    @property
    def listed_ago(self) -> float:
        """Seconds since a refresh last listed the folder in this process (inf: none did)."""
        return time.monotonic() - self._checked

    @property
    def refreshed(self) -> bool:
        """True once a refresh has listed the folder in this process."""
        return self.listed_ago != float("inf")

    def _apply(self, todo: Sequence[str], removed: Sequence[str], current: dict[str, str]) -> None:
        infos = read_infos(self.store, todo)
        rows = [row_of(info, V.kept_version(info.code, current[info.id])) for info in infos]
        fresh = table_of(rows)
        old = self._table if self._table is not None else table_of([])
        quiet = not removed and V.unread_again(old, rows, self._unread)
        gone = [*(n for n in todo if n in self._versions), *removed]
        self._table = with_changes(old, gone, fresh)
        for name in removed:
            self._versions.pop(name, None)
            self._unread.pop(name, None)
            self._infos.pop(name, None)
            self._hot.discard(name)
        for row in rows:
            run_id = row["id"]
            self._versions[run_id] = current[run_id]  # (an unread one's too: retried when due)
            if row["version"].startswith(V.UNREAD):
                self._unread[run_id] = V.retry_at()
            else:
                self._unread.pop(run_id, None)
            if is_hot(row["status"], row["version"]):
                self._hot.add(run_id)
            else:
                self._hot.discard(run_id)
        if not quiet:  # (a run.json failing to be read again as before: no news)
            self.generation += 1
            self._dirty = True

    def _save_when_due(self) -> None:
        if self._dirty and time.monotonic() - self._saved >= SAVE_INTERVAL_S:
            self._save()

    # -- the file in the cache folder -----------------------------------------------------------
    def _load(self) -> None:
        table = files.load(self.path, self.url) if self.path else None
        if table is None:
            return
        self._table = table
        ids, versions = table["id"].to_pylist(), table["version"].to_pylist()
        self._versions = dict(zip(ids, versions, strict=True))
        self._hot = hot_ids(table)
        # the file is as good as saved now: the next save waits its interval (a process that
        # exits before it, such as ``animlib ls``, saves at exit: _save_open_indexes)
        self._saved = time.monotonic()
        self.generation += 1

    def _save(self) -> None:
        if self.path and self._table is not None:
            files.save(self.path, self.url, self._table)
        self._saved = time.monotonic()
        self._dirty = False

    def flush(self, timeout: float = -1) -> bool:
        """Write pending changes to the index file now (refreshes write at most every
        :data:`SAVE_INTERVAL_S` seconds).

        Args:
            timeout: seconds to wait for a refresh in progress (-1: as long as it takes).

        Returns:
            False if a refresh in progress kept it waiting past ``timeout`` (nothing written).
        """
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            if self._dirty:
                self._save()
        finally:
            self._lock.release()
        return True

    # -- reading --------------------------------------------------------------------------------
    @property
    def signature(self) -> str:
        """A value that changes whenever the rows change (a cache key for what is built from
        the rows; never equal across two index objects)."""
        return f"{self._uid}:{self.generation}"

    @property
    def table(self) -> pa.Table:
        """Every row, in the order of :func:`animlib.list_runs` (refresh first)."""
        return self._table if self._table is not None else table_of([])

    def infos(self, run_ids: Sequence[str] | None = None) -> list[RunInfo]:
        """Every run (or the runs ``run_ids``) as a :class:`RunInfo`, newest first (run.json
        is parsed once per version, when first used, and kept: calls return the same RunInfo
        objects in a new list, so treat them and their ``meta`` as read-only).

        Args:
            run_ids: only these runs (default: all).

        Returns:
            The runs, as :func:`animlib.list_runs` returns them.
        """
        listed = self._listed
        if run_ids is None and listed is not None and listed[0] == self.generation:
            return list(listed[1])
        generation = self.generation
        table = self.table if run_ids is None else self.rows(run_ids)
        ids, versions = table["id"].to_pylist(), table["version"].to_pylist()
        cache, got, stale = self._infos, {}, []
        for i, (run_id, version) in enumerate(zip(ids, versions, strict=True)):
            hit = cache.get(run_id)
            if hit is not None and hit[0] == version:
                got[run_id] = hit[1]
            else:
                stale.append(i)
        if stale:
            cols = ["id", "version", "meta", "classes", "error", "field", "code"]
            part = table.select(cols)
            if len(stale) < len(ids):
                part = take_rows(part, column(stale, pa.int64()))
            columns = [part[c].to_pylist() for c in cols]
            prefix = self.store.url_of("x")[:-1]  # run ids are one path part: url = prefix + id
            for row in zip(*columns, strict=True):
                info = info_of(row, prefix + row[0], self._classes)
                cache[row[0]] = (row[1], info)
                got[row[0]] = info
        out = [got[run_id] for run_id in ids]
        if run_ids is None and generation == self.generation:  # (no refresh meanwhile)
            self._listed = (generation, out)
            return list(out)
        return out

    def version(self, run_id: str, *, stable: bool = False) -> str | None:
        """The version tag of a run's indexed run.json.

        Args:
            run_id: a run folder's name.
            stable: without the scan time a run.json changed in the last 2 s carries in its
                tag (:func:`settled`), so that the version stays the same from scan to scan
                while the file does not change (e.g. to remember what was found in a run).

        Returns:
            The tag (see :func:`version_of`), None if the index has no such folder.
        """
        version = self._versions.get(run_id)
        return settled(version) if stable and version is not None else version

    def query(self, q: Query, now: float | None = None) -> Result:
        """One page of good runs matching ``q``.

        Args:
            q: filters, sort and page.
            now: the time deciding ``stale`` (default: now).

        Returns:
            See :func:`animlib.index.query.run_query`.

        Raises:
            ValueError: ``q.sort`` is not a sortable column.
        """
        return run_query(self.table, q, now, self._gone)

    def counts(self, exclude: Sequence[str] = (), now: float | None = None) -> Counts:
        """How many good, running and broken runs the folder holds.

        Args:
            exclude: run ids counted as broken (found broken by array checks).
            now: the time deciding ``stale`` (default: now).

        Returns:
            The counts.
        """
        return counts(self.table, exclude, now, self._gone)

    def facets(self) -> dict[str, list[str]]:
        """The attacks, models, experiments and parameter names of the good runs (for the
        filter widgets and the parameter columns).

        Returns:
            ``{"attack": [...], "model": [...], "experiment": [...], "params": [...]}`` (see
            :func:`animlib.index.query.facets`; kept until the rows change, so treat them as
            read-only).
        """
        generation, held = self._facets
        if generation != self.generation:
            generation = self.generation
            held = facets(self.table)
            self._facets = (generation, held)
        return held

    def same_source(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """The runs attacking the same source images as ``run_ids``.

        Args:
            run_ids: the runs whose source images are looked up.

        Returns:
            For each source: the ids of every good run on it, in index order.
        """
        return same_source(self.table, run_ids)

    def rows(self, run_ids: Sequence[str]) -> pa.Table:
        """Some rows of the index.

        Args:
            run_ids: the runs wanted.

        Returns:
            Their rows, in index order (ids not in the index are left out).
        """
        table = self.table
        return table.filter(pc.is_in(table["id"], value_set=pa.array(list(run_ids), pa.string())))
