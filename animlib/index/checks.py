"""The runs page's quick array check of indexed runs, its verdicts kept per run.json version."""

# A summary counts a sample run from its run.json columns, but a run whose arrays are damaged
# (a truncated chunk, a missing array) is broken for the runs page, the viewer and ``validate``:
# :func:`damaged_runs` finds those with :func:`animlib.validation.validate_run` (``deep=False``,
# the check the runs page gives the rows it shows). A verdict is kept with the run.json version
# it was found for (the settled tag of the index), in memory and in a JSON file beside the
# index file, so a run is checked again only once its run.json changed (each stored step
# rewrites it); a later process reads the verdicts instead of checking again, unless it runs
# other code (:func:`readers`: library versions and a digest of animlib's source).

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import Code
from ..validation import Report, validate_run
from .query import experiment_runs, good_rows

if TYPE_CHECKING:
    from .runindex import RunIndex

__all__ = ["checking", "checks_path", "damaged_runs", "damaged_sample_runs", "start_checking"]

log = logging.getLogger("animlib.index")

FORMAT = "2"  # of the verdicts file (another: the file is ignored and rewritten)
WORKERS = 4  # runs checked at once (reading a chunk waits on storage, not only on the CPU)
BATCH = 32  # runs checked between two looks at the time budget

Verdict = tuple[str, str | None, str | None, str | None]  # version, error, field, code
_held: dict[str, dict[str, Verdict]] = {}  # verdicts file (or index url) -> run id -> verdict
_lock = threading.Lock()
_threads: dict[str, threading.Thread] = {}  # verdicts file (or index url) -> its checking thread


def checks_path(index: RunIndex) -> str | None:
    """The verdicts file of ``index``: beside its Parquet file (None: it keeps no file)."""
    if not index.path:
        return None
    return os.path.splitext(index.path)[0] + ".checks.json"


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


def _save(path: str | None, url: str, verdicts: dict[str, Verdict]) -> None:
    if path is None:
        return
    folder = os.path.dirname(path)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(4)}.checks.json")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump({"format": FORMAT, "url": url, "readers": readers(), "runs": verdicts}, file)
        os.replace(tmp, path)
    except OSError as exc:  # (a read-only cache: the verdicts live in memory)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        log.warning("run checks %s cannot be written (%s); keeping them in memory", path, exc)


def _key(index: RunIndex) -> str:
    return checks_path(index) or f"memory:{index.url}"


def _verdicts(index: RunIndex) -> tuple[str, dict[str, Verdict]]:
    key = _key(index)
    with _lock:
        if key not in _held:
            _held[key] = _load(checks_path(index), index.url)
        return key, _held[key]


def _check(index: RunIndex, run_id: str) -> Report:
    return validate_run(index.store.child(run_id), deep=False, root=index.store)


def _report(index: RunIndex, run_id: str, verdict: Verdict) -> Report:
    _, error, field, code = verdict
    url = index.store.url_of(run_id)
    return Report(run_id, url, error=error, field=field, code=Code(code) if code else None)


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
    key, held = _verdicts(index)
    versions = {run_id: index.version(run_id, stable=True) for run_id in run_ids}
    out: dict[str, Report] = {}
    todo = []
    for run_id, version in versions.items():
        verdict = held.get(run_id)
        if version is None:
            continue
        if verdict is not None and verdict[0] == version:
            if verdict[1] is not None:
                out[run_id] = _report(index, run_id, verdict)
        else:
            todo.append(run_id)
    unchecked, changed = 0, False
    with ThreadPoolExecutor(min(WORKERS, max(len(todo), 1))) as pool:
        for at in range(0, len(todo), BATCH):
            if budget_s is not None and (budget_s <= 0 or time.monotonic() - start > budget_s):
                unchecked += len(todo) - at
                break
            batch = todo[at : at + BATCH]
            reports = pool.map(lambda r: _check(index, r), batch)
            for run_id, report in zip(batch, reports, strict=True):
                if report.code == Code.STORAGE:  # the storage failing: no verdict on the run
                    unchecked += 1
                    continue
                code = report.code.value if report.code is not None else None
                held[run_id] = (str(versions[run_id]), report.error, report.field, code)
                changed = True
                if not report.ok:
                    out[run_id] = report
    if changed:
        with _lock:
            gone = [r for r in held if index.version(r) is None]
            for run_id in gone:
                del held[run_id]
            _save(checks_path(index), index.url, dict(held))
    return out, unchecked


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
