"""The runs page's quick array check of indexed runs, its verdicts kept per run.json version."""

# A summary counts a sample run from its run.json columns, but a run whose arrays are damaged
# (a truncated chunk, a missing array) is broken for the runs page, the viewer and ``validate``:
# :func:`damaged_runs` finds those with :func:`animlib.validation.validate_run` (``deep=False``,
# the check the runs page gives the rows it shows). A verdict is kept with the run.json version
# it was found for (the settled tag of the index), in memory and in a JSON file beside the
# index file, so a run is checked again only once its run.json changed (each stored step
# rewrites it); a later process reads the verdicts instead of checking again, unless it runs
# other code (:func:`readers`: library versions and a digest of animlib's source).
#
# A run is checked once for every process sharing the cache folder: a check saves what it
# found every SAVE_EVERY_S seconds (a stopped dashboard keeps all but the last seconds of its
# work), each save re-reads the file under a lock file and writes the union (no process drops
# the verdicts another wrote meanwhile), a process reads the file again when it changed (a
# summary reuses what the dashboard checked so far, and a check skips the runs another one
# judged meanwhile), and a heartbeat file tells that a check is under way (:func:`being_checked`:
# a summary then checks for a moment only).

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import Code
from ..processes import pid_alive
from ..validation import Report, validate_run
from .query import experiment_runs, good_rows

try:
    import fcntl
except ImportError:  # (no fcntl: saves are not serialized between processes; still atomic)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .runindex import RunIndex

__all__ = [
    "being_checked",
    "checking",
    "checks_path",
    "damaged_runs",
    "damaged_sample_runs",
    "start_checking",
    "summary_budget",
]

log = logging.getLogger("animlib.index")

FORMAT = "2"  # of the verdicts file (another: the file is ignored and rewritten)
WORKERS = 4  # runs checked at once (reading a chunk waits on storage, not only on the CPU)
BATCH = 32  # runs checked between two looks at the time budget
SAVE_EVERY_S = 3.0  # while checking, the verdicts found go to the file this often
BEAT_STALE_S = 20.0  # a heartbeat older than this is a check that stopped (killed, hung)
SHARED_BUDGET_S = 1.0  # seconds a summary checks while another check is under way

Verdict = tuple[str, str | None, str | None, str | None]  # version, error, field, code


@dataclass
class _Kept:
    """A process's verdicts of one index, and its verdicts file as last read or written."""

    runs: dict[str, Verdict]
    seen: tuple[int, int, int] | None = None  # (inode, mtime ns, size) of the file


_held: dict[str, _Kept] = {}  # verdicts file (or index url) -> the verdicts known here
_lock = threading.Lock()
_threads: dict[str, threading.Thread] = {}  # verdicts file (or index url) -> its checking thread


def checks_path(index: RunIndex) -> str | None:
    """The verdicts file of ``index``: beside its Parquet file (None: it keeps no file)."""
    if not index.path:
        return None
    return os.path.splitext(index.path)[0] + ".checks.json"


def _beat_path(path: str) -> str:
    """The heartbeat file of a check under way, beside the verdicts file ``path``."""
    return path.removesuffix(".checks.json") + ".checking.json"


@functools.cache
def readers() -> str:
    """The versions of what reads the arrays, and a digest of animlib's own source (its
    version stays the same between commits of an editable install): verdicts found with others
    are not reused (zarr 3.0.8 failed on every run, a quick check fixed later must reach the
    runs it judged: verdicts that must not outlive an upgrade or a ``git pull``)."""
    from importlib.metadata import PackageNotFoundError, version

    from ..cache.keys import code_digest

    found = []
    for name in ("animlib", "zarr", "numcodecs", "numpy"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} ?")
    return ", ".join([*found, f"code {code_digest()}"])


def _load(path: str | None, url: str) -> dict[str, Verdict]:
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        if data.get("format") != FORMAT or data.get("url") != url:
            return {}
        if data.get("readers") != readers():
            return {}
        return {str(k): tuple(v) for k, v in data["runs"].items()}  # type: ignore[misc]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("run checks %s cannot be read (%s); checking again", path, exc)
        return {}


def _write(path: str, data: dict[str, Any], *, quiet: bool = False) -> bool:
    """``data`` as JSON to ``path``, atomically (a temporary file renamed over it); False
    when it cannot be written (warned of unless ``quiet``)."""
    folder = os.path.dirname(path)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(4)}.checks.json")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(data, file)
        os.replace(tmp, path)
        return True
    except OSError as exc:  # (a read-only cache: the verdicts live in memory)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if not quiet:
            log.warning("run checks %s cannot be written (%s); keeping them in memory", path, exc)
        return False


def _stat(path: str | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """Held while a process reads, merges and writes the verdicts file ``path`` (a lock file
    beside it; none where the system has no ``flock``: the write is still atomic)."""
    fd = None
    if fcntl is not None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path.removesuffix(".json") + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # (a read-only cache, or a file system without locks)
            log.debug("run checks %s: no lock (%s)", path, exc)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # (releases the lock)


def _merge(index: RunIndex, runs: dict[str, Verdict], found: dict[str, Verdict]) -> None:
    """The verdicts ``found`` (another process's) into ``runs``: a run's verdict for its
    run.json as indexed wins, else the one held here."""
    for run_id, verdict in found.items():
        mine = runs.get(run_id)
        if mine is None or (
            mine[0] != verdict[0] and verdict[0] == index.version(run_id, stable=True)
        ):
            runs[run_id] = verdict


def _key(index: RunIndex) -> str:
    return checks_path(index) or f"memory:{index.url}"


def _verdicts(index: RunIndex) -> _Kept:
    """This process's verdicts of ``index``, with those other processes saved since it last
    looked (the file is read again only when it changed)."""
    path = checks_path(index)
    with _lock:
        kept = _held.setdefault(_key(index), _Kept({}))
        seen = _stat(path)
        if seen is not None and seen != kept.seen:
            _merge(index, kept.runs, _load(path, index.url))
            kept.seen = seen
        return kept


def _save(index: RunIndex, kept: _Kept) -> None:
    """The verdicts known here and those on disk, to the file (runs the index no longer
    holds dropped): under the lock file, so no process writes between the read and the
    write, and none drops the verdicts another saved meanwhile."""
    path = checks_path(index)
    if path is None:
        return
    with _file_lock(path):
        found = _load(path, index.url) if _stat(path) != kept.seen else {}  # (others wrote)
        with _lock:
            _merge(index, kept.runs, found)
            for run_id in [r for r in kept.runs if index.version(r) is None]:
                del kept.runs[run_id]
            runs = dict(kept.runs)
        data = {"format": FORMAT, "url": index.url, "readers": readers(), "runs": runs}
        if _write(path, data):
            kept.seen = _stat(path)


def _beat(path: str | None, token: str) -> None:
    """The heartbeat of a check under way (this process, ``token``), rewritten as it goes."""
    if path is not None:
        mine = {"host": socket.gethostname(), "pid": os.getpid(), "token": token}
        _write(_beat_path(path), mine, quiet=True)


def _end_beat(path: str | None, token: str) -> None:
    """Remove the heartbeat of the check ``token`` (not another's written since)."""
    if path is None:
        return
    beat = _beat_path(path)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        with open(beat, encoding="utf-8") as file:
            if json.load(file).get("token") == token:
                os.unlink(beat)


def being_checked(index: RunIndex) -> bool:
    """Whether a check of ``index``'s runs is under way in some process (or thread) sharing
    its cache folder: its heartbeat is younger than :data:`BEAT_STALE_S` and its process
    (of this host) still runs."""
    path = checks_path(index)
    if path is None:
        return checking(index)
    beat = _beat_path(path)
    try:
        with open(beat, encoding="utf-8") as file:
            data = json.load(file)
        age = time.time() - os.stat(beat).st_mtime
        pid = int(data.get("pid", -1))
    except (OSError, ValueError, TypeError, AttributeError):
        return False
    if age > BEAT_STALE_S:
        return False
    return data.get("host") != socket.gethostname() or pid_alive(pid)


def summary_budget(index: RunIndex) -> float:
    """Seconds a summary of ``index``'s runs checks their arrays: the summary's
    ``CHECK_BUDGET_S`` (:mod:`animlib.experiments`), or :data:`SHARED_BUDGET_S` while another
    check of them is under way (an open dashboard's, another summary's: what it finds reaches
    the next summaries every few seconds)."""
    from .. import experiments

    return SHARED_BUDGET_S if being_checked(index) else experiments.CHECK_BUDGET_S


def _check(index: RunIndex, run_id: str) -> Report:
    return validate_run(index.store.child(run_id), deep=False, root=index.store)


def _report(index: RunIndex, run_id: str, verdict: Verdict) -> Report:
    _, error, field, code = verdict
    url = index.store.url_of(run_id)
    return Report(run_id, url, error=error, field=field, code=Code(code) if code else None)


def _remembered(
    index: RunIndex, kept: _Kept, versions: dict[str, str | None]
) -> tuple[dict[str, Report], list[str]]:
    """The reports of the damaged runs among ``versions`` with a verdict for that version,
    and the runs with none (runs the index does not hold are neither)."""
    out: dict[str, Report] = {}
    todo = []
    for run_id, version in versions.items():
        if version is None:
            continue
        verdict = kept.runs.get(run_id)
        if verdict is not None and verdict[0] == version:
            if verdict[1] is not None:
                out[run_id] = _report(index, run_id, verdict)
        else:
            todo.append(run_id)
    return out, todo


def damaged_runs(
    index: RunIndex, run_ids: Iterable[str], *, budget_s: float | None = None
) -> tuple[dict[str, Report], int]:
    """The runs among ``run_ids`` whose arrays fail the quick check, found or remembered.

    Args:
        index: the folder's index (refreshed by the caller); runs it holds as broken or does
            not hold are skipped (their run.json already says so).
        run_ids: the runs to check.
        budget_s: seconds the checks may take (remembered verdicts are free; the runs left
            are checked by a later call; 0: none is), None: every run is checked.

    Returns:
        The damaged runs' reports by id, and how many runs were left unchecked because
        ``budget_s`` ran out (or the storage failed: no verdict, checked again next time).
    """
    start = time.monotonic()
    kept = _verdicts(index)
    versions = {run_id: index.version(run_id, stable=True) for run_id in run_ids}
    out, todo = _remembered(index, kept, versions)
    if not todo or (budget_s is not None and budget_s <= 0):
        return out, len(todo)
    deadline = None if budget_s is None else start + budget_s
    return out, _check_runs(index, kept, versions, todo, out, deadline)


def _check_runs(
    index: RunIndex,
    kept: _Kept,
    versions: dict[str, str | None],
    todo: list[str],
    out: dict[str, Report],
    deadline: float | None,
) -> int:
    """Check the runs ``todo`` (the damaged ones into ``out``) until ``deadline``, saving the
    verdicts as it goes; returns how many were left unchecked."""
    path, token = checks_path(index), secrets.token_hex(8)
    unchecked, at, fresh, saved = 0, 0, False, time.monotonic()
    _beat(path, token)
    try:
        with ThreadPoolExecutor(min(WORKERS, len(todo))) as pool:
            while at < len(todo):
                if deadline is not None and time.monotonic() > deadline:
                    unchecked += len(todo) - at
                    break
                batch, at = todo[at : at + BATCH], at + BATCH
                unchecked += _judge(index, kept, versions, pool, batch, out)
                fresh = True
                if time.monotonic() - saved >= SAVE_EVERY_S:
                    _save(index, kept)  # (with what others found: skip those runs)
                    fresh, saved = False, time.monotonic()
                    _beat(path, token)
                    known, todo = _remembered(index, kept, {r: versions[r] for r in todo[at:]})
                    out.update(known)
                    at = 0
    finally:
        if fresh:
            _save(index, kept)
        _end_beat(path, token)
    return unchecked


def _judge(
    index: RunIndex,
    kept: _Kept,
    versions: dict[str, str | None],
    pool: Executor,
    batch: list[str],
    out: dict[str, Report],
) -> int:
    """Check one batch of runs; returns how many the storage failed to read (no verdict)."""
    reports = list(pool.map(lambda r: _check(index, r), batch))
    failed = 0
    with _lock:
        for run_id, report in zip(batch, reports, strict=True):
            if report.code == Code.STORAGE:  # the storage failing: no verdict on the run
                failed += 1
                continue
            code = report.code.value if report.code is not None else None
            kept.runs[run_id] = (str(versions[run_id]), report.error, report.field, code)
            if not report.ok:
                out[run_id] = report
    return failed


def damaged_sample_runs(
    index: RunIndex,
    *,
    experiments_only: bool = True,
    budget_s: float | None = None,
    within: Collection[str] | None = None,
) -> tuple[dict[str, Report], int]:
    """:func:`damaged_runs` of the good runs a summary counts: the runs of experiments (or,
    without ``experiments_only``, every good run), of those ``within`` only when given."""
    if experiments_only:
        ids: Sequence[Any] = experiment_runs(good_rows(index.table, columns=["id", "experiment"]))
    else:
        ids = good_rows(index.table, columns=["id"])["id"].to_pylist()
    if within is not None:
        ids = [i for i in ids if i in within]
    return damaged_runs(index, ids, budget_s=budget_s)


def start_checking(index: RunIndex) -> None:
    """Check, in a thread of this process, every sample run of ``index`` with no verdict yet
    (one thread at a time per index: a page's run gives the remembered verdicts at once, and
    :func:`checking` tells when more are known)."""
    key = _key(index)
    with _lock:
        if key in _threads and _threads[key].is_alive():
            return
        thread = threading.Thread(target=_check_all, args=(index,), name="animlib-checks")
        thread.daemon = True
        _threads[key] = thread
    thread.start()


def checking(index: RunIndex) -> bool:
    """Whether :func:`start_checking`'s thread for ``index`` is still checking."""
    thread = _threads.get(_key(index))
    return thread is not None and thread.is_alive()


def _check_all(index: RunIndex) -> None:
    try:
        damaged_sample_runs(index)
    except Exception as exc:  # (the page goes on with what is known; the next run tries again)
        if not (isinstance(exc, RuntimeError) and "shutdown" in str(exc)):  # (not: exiting)
            log.warning("checking the sample runs of %s", index.url, exc_info=True)
