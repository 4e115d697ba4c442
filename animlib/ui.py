"""Streamlit glue shared by the pages: results folder, cached listing, safe text, links."""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from .errors import AnimlibError, Code
from .index import Query, Result, RunIndex, open_index
from .listing import RunInfo
from .listing_notice import MINUTES_AFTER_S, notice_state
from .not_found import not_found_message
from .params import NUMBER_RE2
from .reader import Run, open_run_in
from .settings import runs_root, settings
from .text import plural, printable
from .validation import Report, validate_opened, validate_run

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md(text: Any) -> str:
    """Escape a user string (run name, class name, tag) so Markdown shows it as plain text, on
    one line (control characters and bidi overrides as escapes: :func:`printable`)."""
    return _MD_SPECIAL.sub(r"\\\1", printable(text))


_NUMBER = re.compile(NUMBER_RE2)  # a cell that spells a number is left as it is


def md_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe for ``st.table``, which renders every cell, index label and
    column header as Markdown: user strings are escaped (numbers are left as they are), so a
    class called ``[x](https://...)`` shows as that text instead of a link."""

    def esc(value: Any) -> Any:
        if isinstance(value, str) and not _NUMBER.match(value):
            return md(printable(value))
        return value

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(esc)  # (pandas 3 gives text columns the str dtype)
    out.index = out.index.map(esc)
    out.columns = out.columns.map(esc)
    if out.index.name:
        out.index.name = esc(out.index.name)
    return out


def root() -> str:
    """The results folder this dashboard shows."""
    return runs_root()


CHEAP_REFRESH_S = 0.05  # a full refresh this quick is done on every call (small folders)
SHOW_SAVED_ROWS = 5000  # a folder with this many saved index rows is shown from them while its
# first full refresh runs in the background (one of 100,000 runs takes about a second)
MIN_REFRESH_S = 1.0  # slower ones at most this often (shared by every session)
FULL_EVERY_S = 10.0  # local folders: a full refresh at most this often; in between only the
# folder's own mtime and the run.json of running runs are looked at
FULL_SPACING = 20  # ... and at most once per this many of its durations (5% of one core: a
# background scan of 100,000 runs costs ~1 CPU-s, which a page load on 2 cores feels)


def run_index(where: str | None = None) -> RunIndex:
    """The run index of the results folder, kept up to date without keeping pages waiting.

    A full refresh quicker than 50 ms (small folders) is done on every call. A slower one is
    done in the background (pages are served the rows the index holds meanwhile, and the runs
    page reruns when they change): for a local folder every 10 s or twenty durations of the
    last one, for object storage every second or two durations (see also
    :func:`follow_runs`). The first one is done in the background too when an earlier process
    saved the folder's index with 5,000 rows or more: a new server shows those rows at once.

    Args:
        where: the results folder (default: the dashboard's).

    Returns:
        The folder's index.

    Raises:
        RunFormatError: the results folder does not exist or cannot be listed.
    """
    index = open_index(where or root())
    if not index.refreshed and index.failed is None and index.preload() >= SHOW_SAVED_ROWS:
        index.refresh_soon(0.0)  # the page reruns when the refresh changes the rows
        return index
    took = index.last.seconds
    if index.refreshed and index.failed is not None:  # listed before, failing now (storage
        index.refresh_soon(MIN_REFRESH_S)  # unreachable): its rows, tried in the background
        return index  # (pages say so: stale_listing)
    if not index.refreshed or took < CHEAP_REFRESH_S:
        try:
            index.refresh()
        except Exception as exc:
            if not index.refreshed:  # never listed: the page says why
                raise
            index.failed = exc
    elif index.watchable:
        index.refresh_soon(max(FULL_EVERY_S, FULL_SPACING * took))
    else:
        index.refresh_soon(max(MIN_REFRESH_S, 2 * took))
    return index


def stale_listing(index: RunIndex) -> tuple[str, int] | None:
    """Say so when the folder could not be listed at the last try (storage unreachable, folder
    gone) and the page shows the runs as listed before; returns what was said, for the page's
    watcher (:func:`~animlib.listing_notice.notice_state`; None: nothing)."""
    state, ago = notice_state(index), index.listed_ago
    if state is None:
        return None
    when = f"{ago:.0f} s ago" if ago < MINUTES_AFTER_S else f"{ago / 60:.0f} min ago"
    why = f"cannot list it now ({md(printable(index.failed))})" if index.failed else "no answer"
    st.warning(
        f"{md(index.url)}: {why}. Showing the runs as listed {when}; trying again every few "
        "seconds.",
        icon=":material/cloud_off:",
    )
    return state


def follow_runs(where: str | None = None) -> RunIndex:
    """:func:`run_index` (the same argument, index and errors) for a page that follows the
    folder (polled every few seconds), plus for a local folder a cheap check in line, at most
    every second (:meth:`animlib.index.RunIndex.refresh_changes`: the run.json of running runs,
    and the folder names when the folder's mtime says runs were added or removed)."""
    index = run_index(where)
    if index.watchable:
        index.refresh_changes(max_age=MIN_REFRESH_S)
    return index


def listing(where: str | None = None) -> list[RunInfo]:
    """All runs in the results folder ``where`` (default: the dashboard's) as
    :func:`animlib.list_runs` returns them, from its :func:`run_index` (errors as there)."""
    return run_index(where).infos()


def source_groups(run_ids: list[str], where: str | None = None) -> dict[str, list[str]]:
    """The runs attacking the same source images as ``run_ids``, from the index (no frame of
    every run is built; for :func:`animlib.runs_table.shortcuts`).

    Args:
        run_ids: the runs whose source images are looked up.
        where: the results folder (default: the dashboard's).

    Returns:
        For each source: the ids of every good run on it, those of the same ε as one of
        ``run_ids`` first (a sweep's other ε came first: "compare" set ε 0.2 beside ε 0.1).
    """
    index = run_index(where)
    groups = index.same_source(run_ids)
    listed = [run_id for group in groups.values() for run_id in group]
    if not listed:
        return groups
    rows = index.rows(listed).select(["id", "eps", "params"]).to_pydict()
    eps = {  # (the index's eps column is filled for experiments' runs only)
        run_id: value if value is not None else _eps_of(text)
        for run_id, value, text in zip(rows["id"], rows["eps"], rows["params"], strict=True)
    }
    wanted = {eps.get(r) for r in run_ids} - {None}
    return {
        source: sorted(group, key=lambda r: eps.get(r) not in wanted)  # (stable: index order)
        for source, group in groups.items()
    }


def _eps_of(params_text: str | None) -> float | None:
    """``params.eps`` (else ``params.epsilon``) from an index row's params text, or None."""
    from .params import decode, number

    values = decode(params_text)
    text = values.get("eps", values.get("epsilon"))
    return None if text is None else number(text)


def experiments_among(run_ids: list[str], where: str | None = None) -> list[str]:
    """The experiments runs ``run_ids`` belong to, in natural order, from the index (only
    those runs' run.json are read)."""
    from .experiment_grid import experiments_of

    return experiments_of(run_index(where).infos(run_ids), run_ids)


def experiments_on_image(run_id: str, where: str | None = None) -> list[str]:
    """The experiments with a run on the same source image as run ``run_id`` (its own
    included), in natural order."""
    groups = run_index(where).same_source([run_id])
    return experiments_among([r for group in groups.values() for r in group], where)


def sample_neighbours(
    run_id: str, experiment: str, where: str | None = None
) -> tuple[RunInfo | None, RunInfo | None, int]:
    """The samples before and after run ``run_id`` in its ``experiment`` and how many there are
    (:func:`animlib.experiment_grid.neighbours`), from the index (only the experiment's
    run.json are read)."""
    from .experiment_grid import neighbours
    from .index.query import experiment_runs

    index = run_index(where)
    return neighbours(index.infos(experiment_runs(index.table, experiment)), run_id)


def open_run_safe(run_id: str, where: str | None = None) -> tuple[Run | None, str | None]:
    """Open a run by id for a page; (run, None) or (None, a message to show the user)."""
    where = where or root()
    shown = md(printable(repr(run_id)))
    try:
        return open_run_in(where, run_id), None
    except AnimlibError as exc:
        if exc.code == Code.NOT_FOUND:
            return None, not_found_message(shown, where, exc, md)
        return None, f"This run cannot be shown: {md(printable(exc))}"
    except (OSError, ValueError) as exc:
        return None, f"Run {shown} cannot be read: {md(printable(exc))}"


@st.cache_data(show_spinner=False, max_entries=64)
def cached_metrics(
    where: str, run_id: str, fingerprint: str, _run: Run | None = None
) -> dict[str, Any]:
    """:func:`animlib.metrics.run_metrics` of run ``run_id`` in ``where``, cached per content;
    computed from ``_run`` (that run, opened by the page: not read again) when given."""
    from .metrics import run_metrics

    return run_metrics(_run if _run is not None else open_run_in(where, run_id))


def image_bytes(run: Run) -> int:
    """How many bytes of images the run's complete steps hold (from array metadata)."""
    return run.image_nbytes


CHECK_TTL_S = 300  # a run's cached check is redone after at most this many seconds


_OPENED: contextvars.ContextVar[Run | None] = contextvars.ContextVar("_OPENED", default=None)


def _check(url: str, where: str, key: Any, deep: bool, run: Run | None = None) -> Report:
    """The check of a run, cached by its ``key`` (shared by every session of the process); a
    storage failure (the bucket throttled, a folder unreadable) is not kept: the next page run
    checks again. ``run``: the run at ``url`` as the page opened it (a check not cached yet
    reads through it: what the page reads next is not read twice)."""
    token = _OPENED.set(run)
    try:
        return _checked(url, where, key, deep, int(time.monotonic() // CHECK_TTL_S))
    except _StorageFailed as failed:
        return failed.report
    finally:
        _OPENED.reset(token)


class _StorageFailed(Exception):
    def __init__(self, report: Report) -> None:
        self.report = report


@functools.lru_cache(maxsize=4096)  # (st.cache_data hashes and copies: ~0.6 ms a run, 50 a page)
def _checked(url: str, where: str, key: Any, deep: bool, period: int) -> Report:
    run = _OPENED.get()  # (not in the key: a Run kept by the cache would keep its arrays)
    if run is not None and run.url == url:
        report = validate_opened(run, deep=deep)
    else:
        report = validate_run(url, deep=deep, root=where, summary=False)  # (labels edited)
    if report.code == Code.STORAGE:
        raise _StorageFailed(report)  # (an exception: lru_cache keeps no result)
    return report


CHUNK_LISTING_MAX = 500  # image chunks listed at every page run to notice deleted chunk files
RECHECK_SECONDS = 30  # how often a run with more chunks than that is checked again


def _check_key(run: Run) -> tuple[str, str]:
    """What a cached check of ``run`` depends on: its metadata, and its chunk files."""
    if -(-len(run) // run.images.chunk_len) <= CHUNK_LISTING_MAX:
        return run.fingerprint, run.chunk_signature()
    return run.fingerprint, f"t{int(time.time() // RECHECK_SECONDS)}"


def run_problem(run: Run, where: str | None = None) -> str | None:
    """Check an opened run's data before showing it; a message for ``st.error`` or None.

    Runs up to ``$ANIMLIB_DEEP_CHECK_MB`` (default 64) MB of images get every chunk read;
    larger ones get the quick check (metadata, chunk listing, confidences, last step).
    Results are cached by the run's content fingerprint and its list of chunk files, so a
    chunk deleted after a check is noticed at the next page run (for runs of more than
    ``CHUNK_LISTING_MAX`` image chunks, within ``RECHECK_SECONDS``; reading a missing chunk is
    an error anyway).
    """
    where = where or root()
    deep = image_bytes(run) <= settings().deep_check_bytes
    try:
        key = _check_key(run)
    except AnimlibError as exc:
        return f"This run cannot be shown: {md(printable(exc))}"
    report = _check(run.url, where, key, deep, run)
    if report.ok:
        return None
    if report.code != Code.STORAGE:  # (the storage failing is no damage of the run)
        _remember_damaged(run.id, where, report)
    return f"This run cannot be shown: {md(printable(f'run {run.id!r}: {report.error}'))}"


def _with_problem(info: RunInfo, report: Report) -> RunInfo:
    """``info`` of a run whose arrays ``report`` found damaged: not ok, with the problem."""
    return dataclasses.replace(info, error=report.error, field=report.field, code=report.code)


PROBLEMS_KEY = "array_problems"  # this session's :data:`Problems` (the runs page's broken runs)


def _remember_damaged(run_id: str, where: str, report: Report) -> None:
    """A run a page found damaged is listed as broken on the runs page of this session too
    (until it changes), not only once a check of the runs page finds it."""
    if where != root():
        return  # (the runs page shows the dashboard's folder)
    index = run_index(where)
    infos = [i for i in index.infos([run_id]) if i.ok]
    found = [_with_problem(i, report) for i in infos]
    _record(index, st.session_state.setdefault(PROBLEMS_KEY, {}), found)


def open_checked(run_id: str, where: str | None = None) -> tuple[Run | None, str | None]:
    """Open a run by id for a page and check its data (:func:`open_run_safe`, then
    :func:`run_problem`): (run, None), or (None, a message to show the user; damaged arrays
    are said, never a traceback)."""
    run, problem = open_run_safe(run_id, where)
    if run is not None:
        problem = run_problem(run, where)
    return (None, problem) if problem else (run, None)


def check_runs(
    infos: list[RunInfo],
    where: str,
    *,
    deep: bool = False,
    budget_s: float | None = None,
    progress: Callable[[int, int], Any] | None = None,
    index: RunIndex | None = None,
) -> tuple[list[RunInfo], int]:
    """``infos`` with array problems found by validation filled in as ``error``, and how many
    good runs were left unchecked because ``budget_s`` seconds ran out (cached results are
    free, so later page runs continue where this one stopped). A result is cached by the
    version of the run's run.json in ``index`` (default: the folder's; inode, mtime, size and
    ctime: a run put back from a backup by ``cp -a`` keeping ``updated`` is checked again)."""
    index = open_index(where) if index is None else index
    start = time.monotonic()
    todo = [i for i in infos if i.ok]
    out: dict[str, RunInfo] = {}
    skipped = 0
    for done, info in enumerate(todo):
        if budget_s is not None and time.monotonic() - start > budget_s:
            skipped = len(todo) - done
            break
        version = index.version(info.id, stable=True)
        key = (version, info.get("updated"), info.get("steps"), info.get("status"))
        report = _check(info.url, where, key, deep)
        if report.code == Code.STORAGE:  # the storage failing: not checked (again next time)
            skipped += 1
        elif not report.ok:
            out[info.id] = _with_problem(info, report)
        if progress is not None:
            progress(done + 1, len(todo))
    return [out.get(i.id, i) for i in infos], skipped


CHECK_PASSES = 4  # queries of one page at most, when rows of it turn out broken

Problems = dict[str, tuple[str, RunInfo]]  # run id -> (run.json version, the run's problem)


def _seen(index: RunIndex, run_id: str) -> str | None:
    """The version a problem of ``run_id`` is recorded with: its run.json's settled version
    (the scan time in the tag of a just-written run.json would forget it at the next scan)."""
    return index.version(run_id, stable=True)


def _record(index: RunIndex, problems: Problems, found: list[RunInfo]) -> None:
    for info in found:
        problems[info.id] = (_seen(index, info.id) or "", info)


def forget_changed(index: RunIndex, problems: Problems) -> None:
    """Drop the recorded problems of runs that changed or went away since they were found.

    Args:
        index: the folder's index.
        problems: the recorded problems (changed in place).
    """
    for run_id in [r for r, (seen, _) in problems.items() if _seen(index, r) != seen]:
        del problems[run_id]


def checked_page(
    index: RunIndex, q: Query, where: str, problems: Problems, *, budget_s: float | None = None
) -> tuple[Result, int]:
    """The page ``q`` of the runs whose arrays pass the quick check (cached per run).

    Rows found broken are left out and recorded in ``problems`` (keyed by run id, with the
    run.json version), so every page and later page runs leave them out until the run changes;
    the page is then queried again to stay full.

    Args:
        index: the folder's index.
        q: filters, sort and page.
        where: the results folder (for the checks).
        problems: the recorded problems (changed in place).
        budget_s: seconds the checks may take (cached results are free).

    Returns:
        The page, and how many of its rows were left unchecked because ``budget_s`` ran out.
    """
    forget_changed(index, problems)
    unchecked = 0
    for _ in range(CHECK_PASSES):
        result = index.query(dataclasses.replace(q, exclude=tuple(problems)))
        infos = index.infos(result.rows["id"].to_pylist())
        checked, unchecked = check_runs(infos, where, budget_s=budget_s, index=index)
        bad = [info for info in checked if not info.ok]
        _record(index, problems, bad)
        if not bad:
            return result, unchecked
    return index.query(dataclasses.replace(q, exclude=tuple(problems))), unchecked


def deep_check(
    index: RunIndex, where: str, problems: Problems, run_ids: Sequence[str] | None = None
) -> str:
    """Read every stored chunk of every good run (or of the runs ``run_ids``: those the
    filters and search match) with a progress bar; record the damaged ones.

    Args:
        index: the folder's index.
        where: the results folder.
        problems: the recorded problems (changed in place).
        run_ids: the runs to check, or None: every run.

    Returns:
        What was found, in a sentence.
    """
    infos = index.infos(run_ids) if run_ids is not None else index.infos()
    todo = [info for info in infos if info.ok and info.id not in problems]
    bar = st.progress(0.0, text="reading every chunk of every run…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"checked {done}/{total} runs")

    checked, _ = check_runs(todo, where, deep=True, progress=progress, index=index)
    bar.empty()
    damaged = [info for info in checked if not info.ok]
    _record(index, problems, damaged)
    which = " matching the filters and search" if run_ids is not None else ""
    if not damaged:
        return f"Every chunk of {plural(len(todo), 'run')}{which} read back: none damaged."
    return (
        f"Every chunk of {plural(len(todo), 'run')}{which} read: {len(damaged):,} damaged "
        "(under Broken runs)."
    )


def folder_state(index: RunIndex) -> tuple[str, int]:
    """What a page built from the whole folder depends on: the rows of its index and how many
    runs are running (one going stale changes it too)."""
    return index.signature, index.counts().running


def query_param(name: str) -> str:
    """One query parameter as text ('' when absent), with NUL bytes refused by callers."""
    value = st.query_params.get(name, "")
    return value if isinstance(value, str) else str(value)
