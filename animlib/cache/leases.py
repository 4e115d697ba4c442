"""Leases: one renderer per cache entry across threads, processes and machines."""

# The protocol, on any :class:`~animlib.store.Store` (names from :mod:`animlib.cache.keys`):
#
# 1. **Take**: ``create_exclusive(".lease-<entry>")``: an exclusive hard link to the written lease
#    on a local folder, a conditional PUT (``If-None-Match: *``) on S3: never seen empty. Whoever
#    creates it renders. The lease holds JSON: a random ``token``, ``host``, ``pid``, ``beat``
#    (wall time), ``count`` and the render's progress.
# 2. **Hold**: a heartbeat thread rewrites the lease every ``min(ttl / 4, 2 s)`` (count + 1,
#    progress). When the entry is published the holder deletes its lease.
# 3. **Wait**: everyone else polls the lease every ``POLL_SECONDS`` (showing the holder's progress).
#    When it is gone they serve the entry; if there is none (the holder failed) they try to take
#    the lease themselves.
# 4. **Expire**: a lease is dead when its holder is a process of this host that no longer exists,
#    or when its bytes have not changed for ``ttl`` seconds (``ANIMLIB_CACHE_LEASE_SECONDS``) by
#    the waiter's own monotonic clock (no clock comparison between machines), or at once when its
#    ``beat`` is more than ``ttl + MAX_SKEW`` old by the waiter's wall clock (a late arrival need
#    not watch it for ``ttl``).
# 5. **Take over**: the waiters of a dead lease race to create ``.claim-<entry>+<token>+<n>``
#    exclusively; the winner overwrites the lease with its own and renders. ``n`` counts the ttl
#    periods the dead lease has been watched, so a winner that dies before writing its lease is
#    itself taken over one ttl later. Claims are deleted with the lease.
#
# Costs on S3 while rendering: one PUT per heartbeat; per waiter one GET of the lease per poll.

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import Code, StoreError
from ..processes import pid_alive
from ..store import Store
from . import keys
from .stats import count

log = logging.getLogger("animlib.cache")

POLL_SECONDS = 0.2
MAX_SKEW = 60.0  # wall clocks of two machines may differ this much
HOST = socket.gethostname()

T = TypeVar("T")
Progress = Callable[[int, int], Any]


@dataclass
class Holder:
    """What a lease says about its holder."""

    token: str
    host: str = ""
    pid: int = 0
    beat: float = 0.0
    done: int = 0
    total: int = 0

    @classmethod
    def parse(cls, raw: bytes) -> Holder:
        """The holder of the lease bytes ``raw``; garbage is a holder that is long dead.

        Args:
            raw: the lease object's bytes.

        Returns:
            The holder.
        """
        try:
            info = json.loads(raw)
            return cls(
                token=str(info["token"]),
                host=str(info.get("host", "")),
                pid=int(info.get("pid", 0)),
                beat=float(info.get("beat", 0.0)),
                done=int(info.get("done", 0)),
                total=int(info.get("total", 0)),
            )
        except (ValueError, TypeError, KeyError):
            return cls(token="garbage")

    def dead(self, watched: float, ttl: float) -> bool:
        """True if this holder is gone (see the module docstring).

        Args:
            watched: seconds its lease has looked the same to the caller.
            ttl: seconds a silent lease lives.

        Returns:
            Whether the lease may be taken over.
        """
        if self.host == HOST and not pid_alive(self.pid):
            return True
        return watched > ttl or time.time() - self.beat > ttl + MAX_SKEW


@dataclass
class Lease:
    """A lease this process holds (a context manager: leaving it releases the lease)."""

    store: Store
    path: str
    ttl: float
    claim: str | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    count: int = 0
    done: int = 0
    total: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def payload(self) -> bytes:
        """The lease's bytes now."""
        info = {
            "token": self.token,
            "host": HOST,
            "pid": os.getpid(),
            "beat": time.time(),
            "count": self.count,
            "done": self.done,
            "total": self.total,
        }
        return json.dumps(info).encode()

    def report(self, done: int, total: int) -> None:
        """Progress of the render, shown to waiters at the next heartbeat.

        Args:
            done: frames rendered.
            total: frames to render.
        """
        self.done, self.total = int(done), int(total)

    def reporting(self, progress: Progress | None) -> Progress:
        """A progress callback reporting to this lease (its waiters) and to ``progress``.

        Args:
            progress: the maker's own ``progress(done, total)``, or None.

        Returns:
            ``report(done, total)``.
        """

        def report(done: int, total: int) -> None:
            self.report(done, total)
            if progress is not None:
                progress(done, total)

        return report

    def start(self) -> Lease:
        """Start the heartbeat (a daemon thread).

        Returns:
            This lease.
        """
        interval = max(min(self.ttl / 4, 2.0), 0.05)
        self._thread = threading.Thread(
            target=self._beat, args=(interval,), name="animlib-lease", daemon=True
        )
        self._thread.start()
        return self

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                raw = _read(self.store, self.path)
                if raw is None or Holder.parse(raw).token != self.token:
                    log.warning("lost the lease %s (taken over): rendering on", self.path)
                    return
                self.count += 1
                self.store.write_atomic(self.path, self.payload())
            except StoreError as exc:  # a missed beat; the next one may get through
                log.warning("lease %s: heartbeat failed: %s", self.path, exc)

    def release(self) -> None:
        """Stop the heartbeat and delete the lease (if still ours) and its claim; storage
        failures are ignored (the lease then expires)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(StoreError):
            raw = _read(self.store, self.path)
            if raw is not None and Holder.parse(raw).token == self.token:
                self.store.remove(self.path)
            if self.claim:
                self.store.remove(self.claim)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(store: Store, path: str) -> bytes | None:
    try:
        return store.read(path)
    except StoreError as exc:
        if exc.code == Code.MISSING:
            return None
        raise


def acquire(
    store: Store,
    entry: str,
    ready: Callable[[], T | None],
    *,
    ttl: float,
    progress: Progress | None = None,
    poll: float = POLL_SECONDS,
) -> tuple[T | None, Lease | None]:
    """Wait until ``ready()`` gives the entry, or until this process may make it.

    Args:
        store: the cache folder holding the lease.
        entry: the entry's name (the lease is its ``.lease-`` sidecar).
        ready: returns the entry if it is there (called first, and whenever a lease ends).
        ttl: seconds a silent lease lives (see the module docstring).
        progress: ``progress(done, total)`` of another process's render while waiting.
        poll: seconds between looks at another process's lease.

    Returns:
        ``(entry, None)`` when it is ready, or ``(None, lease)`` when this process holds the
        lease (heartbeat running) and must make the entry, then release the lease.

    Raises:
        StoreError: if the cache folder cannot be read or written.
    """
    path = keys.sidecar(keys.LEASE, entry)
    while True:
        got = ready()
        if got is not None:
            return got, None
        lease = Lease(store, path, ttl)
        if store.create_exclusive(path, lease.payload()):
            got = ready()  # made between our look and our lease
            if got is not None:
                lease.release()
                return got, None
            return None, lease.start()
        count("waits")
        taken = _wait(store, entry, ttl, progress, poll)
        if taken is not None:
            return None, taken.start()


def _wait(
    store: Store, entry: str, ttl: float, progress: Progress | None, poll: float
) -> Lease | None:
    """Watch another process's lease until it ends (None) or is taken over by us (the lease)."""
    path = keys.sidecar(keys.LEASE, entry)
    seen: tuple[bytes, float] | None = None
    while True:
        raw = _read(store, path)
        if raw is None:
            return None
        now = time.monotonic()
        if seen is None or seen[0] != raw:
            seen = (raw, now)
        holder = Holder.parse(raw)
        if progress is not None and holder.total:
            progress(min(holder.done, holder.total), holder.total)
        watched = now - seen[1]
        if holder.dead(watched, ttl):
            attempt = max(int(watched // ttl) - 1, 0)  # one claim per ttl watched
            claim = keys.sidecar(keys.CLAIM, entry, f"{holder.token}+{attempt}")
            mine = Lease(store, path, ttl, claim=claim)
            if store.create_exclusive(claim, b""):
                store.write_atomic(path, mine.payload())
                count("takeovers")
                log.info(
                    "took over the lease of %s from pid %s on %s", entry, holder.pid, holder.host
                )
                return mine
        time.sleep(poll)
