"""The pages' watchers: rerun a page when the runs it shows, its folder or its listing change."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from .downloads import downloading
from .errors import AnimlibError
from .index import RunIndex
from .listing_notice import notice_state
from .lock import run_status
from .reader import Run, open_run_in
from .settings import settings
from .ui import folder_state, follow_runs, root

__all__ = [
    "LIVE_POLL_S",
    "FolderView",
    "folder_view",
    "follow_shown_runs",
    "rerun_on_folder_change",
]

LIVE_POLL_S = 2.0  # how often a page showing a running run looks for new steps


def _rerun_when_changed(seen: object, look: Callable[[], object], every: float) -> None:
    """Rerun the page once ``look()`` is no longer ``seen``, looked at every ``every`` seconds
    in a fragment, by its timer only: its first call is made by the page's own run, and
    looking then too reran the page at its end whenever the folder had changed while it ran
    (with runs being written, the page reran in a loop every ~20 ms, and a search typed
    meanwhile was lost). ``look`` returns ``seen`` to skip a look."""
    calls = [0]

    @st.fragment(run_every=every)
    def watch() -> None:
        calls[0] += 1
        if calls[0] > 1 and look() != seen:
            st.rerun()

    watch()


def rerun_when_changed(seen: object, look: Callable[[], object], every: float) -> None:
    """Rerun the page once ``look()`` (called every ``every`` seconds) is no longer ``seen``."""
    _rerun_when_changed(seen, look, every)


def follow_shown_runs(
    runs: Sequence[Run],
    where: str | None = None,
    every: float | None = None,
    *,
    unshown: Sequence[str] = (),
) -> None:
    """Rerun the page when a run it shows changes: a running one gains steps, finishes or its
    writer is gone; a stale one is resumed; any is overwritten or removed. Each run.json is read
    every ``every`` seconds in a fragment (nothing else reruns meanwhile).

    Args:
        runs: the runs the page shows (already open).
        where: the results folder (default: the dashboard's).
        every: seconds between looks (default: :data:`LIVE_POLL_S` while one is running or
            stale, else ``ANIMLIB_RELOAD_SECONDS``, 10 by default).
        unshown: ids of runs the page names but cannot show (removed, being rewritten, no step
            stored yet, damaged): the page reruns once one of them reads differently, so an
            error page recovers when the run is back (it stayed on the error for good).
    """
    where = where or root()

    def state(run_id: str) -> tuple[object, str] | None:
        try:
            fresh = open_run_in(where, run_id)
            return fresh.meta, run_status(fresh.meta, fresh.store)
        except (AnimlibError, OSError, ValueError):  # removed, being replaced: the page says so
            return None

    seen: list[tuple[object, str] | None] = [
        (run.meta, run_status(run.meta, run.store)) for run in runs
    ]
    seen += [state(run_id) for run_id in unshown]
    if every is None:
        live = any(s is not None and s[1] in ("running", "stale") for s in seen)
        every = LIVE_POLL_S if live else settings().reload_seconds
    ids = [run.id for run in runs] + list(unshown)

    def look() -> object:  # (a rerun while a download is made would drop the file fetched)
        return seen if downloading(ids) else [state(run_id) for run_id in ids]

    _rerun_when_changed(seen, look, every)


FolderView = tuple[tuple[str, int], tuple[str, int] | None]  # what a page of the folder shows


def folder_view(index: RunIndex, notice: tuple[str, int] | None) -> FolderView:
    """What a page built from the whole folder showed, for :func:`rerun_on_folder_change`: the
    :func:`folder_state` of ``index``, and ``notice`` (what :func:`~animlib.ui.stale_listing`
    returned: the notice of a folder that cannot be listed now, or None)."""
    return folder_state(index), notice


def rerun_on_folder_change(
    seen: FolderView | None, where: str | None = None, every: float = LIVE_POLL_S
) -> None:
    """Rerun the page when the :func:`folder_view` of its folder is no longer ``seen``: runs
    added, changed (a running run's new steps), removed or gone stale; the folder no longer
    listed (storage unreachable, folder gone) or listed again, or the time since its last
    listing grown (:func:`~animlib.listing_notice.notice_state`: an open page kept the notice
    it was drawn with, or none, for good); with ``seen`` None (the folder could not be read),
    as soon as it can be. Looked at every ``every`` seconds in a fragment, with
    :func:`follow_runs` (nothing else reruns meanwhile; the index refresh is shared by every
    session and throttled)."""

    def look() -> object:
        try:
            index = follow_runs(where)
            return folder_view(index, notice_state(index))
        except Exception:  # still unreadable: the next look tries again
            return seen

    _rerun_when_changed(seen, look, every)
