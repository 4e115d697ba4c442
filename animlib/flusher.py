"""Flusher: writes the buffered steps of several runs in the background, at most ~1 s behind."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .appender import RunAppender
from .errors import AnimlibError
from .exit_hooks import at_exit_here

INTERVAL = 1.0  # seconds between background flushes (a reader sees a step within ~1 s)
WORKERS = 2  # runs created or flushed at once (file-system calls and encoding release the GIL)
KICK_BYTES = 32 * 2**20  # buffered bytes that start a flush at once
MAX_BYTES = 256 * 2**20  # buffered bytes above which a log waits for the flusher


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def shared_pool() -> ThreadPoolExecutor:
    """The :data:`WORKERS` threads every BatchWriter of this process creates and flushes its
    runs with: started once (starting threads for each experiment cost milliseconds); a forked
    child starts its own."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="animlib-writer")
            _pool_pid = os.getpid()
        return _pool


class Flusher:
    """Flushes ``appenders`` every ``interval`` seconds in a background thread (and at once when
    the buffer grows large), with the :func:`shared_pool`. An error met in the background is
    kept and raised by the next :meth:`check` (the next ``log``); the steps stay buffered and
    are written by a later flush.
    """

    def __init__(self, appenders: Sequence[RunAppender], *, interval: float = INTERVAL) -> None:
        self._appenders = list(appenders)
        self._interval = interval
        self._pool = shared_pool()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._stop = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._exit_hook: Callable[[], None] | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes buffered in all the runs."""
        return sum(a.pending_bytes for a in self._appenders)

    def check(self) -> None:
        """Raise (once) the first error a background flush met since the last check; with more
        than :data:`MAX_BYTES` buffered, flush here first (raising what that meets).

        Raises:
            Exception: that error (typically a StoreError).
        """
        error, self._error = self._error, None
        if error is not None:
            raise error
        if self.pending_bytes > MAX_BYTES:  # the storage keeps failing: try now, here, so that
            self.flush()  # its error refuses this step and the buffer stops growing

    def poke(self) -> None:
        """After a log: start the background thread, flush early when much is buffered, and
        wait while too much is (so memory stays bounded). Never raises: an error of the
        background is raised by the next :meth:`check`.

        The thread first prepares every run (:meth:`RunAppender.prepare`: what the first flush
        would write first, and the files it fills), then flushes one interval after the first
        log and every interval after: an experiment shorter than that is written once, by the
        flush at close (a round at once wrote the first step with every array's chunk,
        zarr.json and run.json, for the close to write them all again)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="animlib-flusher", daemon=True)
            self._thread.start()
            self._exit_hook = at_exit_here(self._at_exit)
        if self.pending_bytes > KICK_BYTES:
            self._wake.set()
        with self._progress:
            while (
                self.pending_bytes > MAX_BYTES
                and self._error is None
                and self._thread is not None
                and self._thread.is_alive()
            ):
                self._wake.set()
                self._progress.wait(1.0)

    def flush(self) -> None:
        """Write everything buffered now, in this thread (with the worker pool).

        Raises:
            Exception: the first error met (every run is still tried).
        """
        errors = self._round()
        if errors:
            raise errors[0]

    def each(self, job: Callable[[RunAppender], object]) -> list[BaseException]:
        """Run ``job`` on every appender with the worker pool (in this thread once the pool
        is shut down, as at interpreter exit with the writer still open); return the errors."""
        try:
            futures = [(a, self._pool.submit(job, a)) for a in self._appenders]
        except RuntimeError:  # "cannot schedule new futures after shutdown"
            return _in_turn(self._appenders, job)
        return [_naming(e, a) for a, f in futures if (e := f.exception()) is not None]

    def stop(self) -> None:
        """Stop the background thread (what is still buffered stays buffered)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Stop, and forget the writer at exit."""
        self.stop()
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None

    # -- internals ---------------------------------------------------------------------------
    def _at_exit(self) -> None:
        """The interpreter exits with the writer still open: write what is buffered."""
        self.stop()
        # nobody is left to tell of errors: the runs stay readable as they were
        _in_turn(self._appenders, lambda a: a.flush())

    def _round(self) -> list[BaseException]:
        errors = self.each(lambda a: a.flush())
        with self._progress:
            self._progress.notify_all()
        return errors

    def _run(self) -> None:
        # at once, in this one thread (the caller's own thread keeps a core): what the first
        # round would do first (see RunAppender.prepare)
        errors = []
        for appender in self._appenders:
            if self._stop:
                break
            try:
                appender.prepare()
            except Exception as exc:
                errors.append(_naming(exc, appender))
        self._keep(errors)
        while not self._stop:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop:
                break
            self._keep(self._round())

    def _keep(self, errors: list[BaseException]) -> None:
        """Keep the first error of a background round for :meth:`check`."""
        if errors and self._error is None:
            self._error = errors[0]
            with self._progress:
                self._progress.notify_all()


def _in_turn(
    appenders: list[RunAppender], job: Callable[[RunAppender], object]
) -> list[BaseException]:
    """``job`` on every appender in this thread, going on past errors; the errors."""
    errors: list[BaseException] = []
    for appender in appenders:
        try:
            job(appender)
        except Exception as exc:
            errors.append(_naming(exc, appender))
    return errors


def _naming(exc: BaseException, appender: RunAppender) -> BaseException:
    """``exc`` naming the run it was met in (a StoreError of a background write names only a
    file of it)."""
    return exc.with_run(appender.run_id) if isinstance(exc, AnimlibError) else exc
