"""Streamlit glue shared by the pages: results folder, cached listing, safe text, links."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from .errors import AnimlibError, Code
from .listing import RunInfo, folder_signature, list_runs
from .reader import Run, open_run_in
from .settings import runs_root, settings
from .text import printable
from .validation import Report, validate_run

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md(text: Any) -> str:
    """Escape a user string (run name, class name, tag) so Markdown shows it as plain text."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


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
        if out[col].dtype == object:
            out[col] = out[col].map(esc)
    out.index = out.index.map(esc)
    out.columns = out.columns.map(esc)
    if out.index.name:
        out.index.name = esc(out.index.name)
    return out


def root() -> str:
    """The results folder this dashboard shows."""
    return runs_root()


@st.cache_data(show_spinner=False, max_entries=16)
def _listing(where: str, signature: str) -> list[RunInfo]:
    return list_runs(where)


def listing(where: str | None = None) -> list[RunInfo]:
    """All runs in the results folder, re-read only when the folder changed."""
    where = where or root()
    return _listing(where, folder_signature(where))


def open_run_safe(run_id: str, where: str | None = None) -> tuple[Run | None, str | None]:
    """Open a run by id for a page; (run, None) or (None, a message to show the user)."""
    where = where or root()
    shown = md(printable(repr(run_id)))
    try:
        return open_run_in(where, run_id), None
    except AnimlibError as exc:
        if exc.code == Code.NOT_FOUND:
            return None, f"No run with id {shown} in {md(where)}."
        return None, f"This run cannot be shown: {md(printable(exc))}"
    except (OSError, ValueError) as exc:
        return None, f"Run {shown} cannot be read: {md(printable(exc))}"


@st.cache_data(show_spinner=False, max_entries=64)
def cached_metrics(where: str, run_id: str, fingerprint: str) -> dict[str, Any]:
    """:func:`animlib.metrics.run_metrics` of run ``run_id`` in ``where``, cached per content."""
    from .metrics import run_metrics

    return run_metrics(open_run_in(where, run_id))


def image_bytes(run: Run) -> int:
    """How many bytes of images the run's complete steps hold (from array metadata)."""
    return run.image_nbytes


@st.cache_data(show_spinner=False, max_entries=4096, ttl=300)
def _check(url: str, where: str, key: Any, deep: bool) -> Report:
    return validate_run(url, deep=deep, root=where)


def run_problem(run: Run, where: str | None = None) -> str | None:
    """Check an opened run's data before showing it; a message for ``st.error`` or None.

    Runs up to ``$ANIMLIB_DEEP_CHECK_MB`` (default 64) MB of images get every chunk read;
    larger ones get the quick check (metadata, chunk listing, confidences, last step).
    Results are cached by the run's content fingerprint.
    """
    where = where or root()
    deep = image_bytes(run) <= settings().deep_check_bytes
    report = _check(run.url, where, run.fingerprint, deep)
    if report.ok:
        return None
    return f"This run cannot be shown: {md(printable(f'run {run.id!r}: {report.error}'))}"


def check_runs(
    infos: list[RunInfo],
    where: str,
    *,
    deep: bool = False,
    budget_s: float | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[list[RunInfo], int]:
    """``infos`` with array problems found by validation filled in as ``error``, and how many
    good runs were left unchecked because ``budget_s`` seconds ran out (cached results are
    free, so later page runs continue where this one stopped)."""
    start = time.monotonic()
    todo = [i for i in infos if i.ok]
    out: dict[str, RunInfo] = {}
    skipped = 0
    for done, info in enumerate(todo):
        if budget_s is not None and time.monotonic() - start > budget_s:
            skipped = len(todo) - done
            break
        key = (info.get("updated"), info.get("steps"), info.get("status"))
        report = _check(info.url, where, key, deep)
        if not report.ok:
            out[info.id] = dataclasses.replace(
                info, error=report.error, field=report.field, code=report.code
            )
        if progress is not None:
            progress(done + 1, len(todo))
    return [out.get(i.id, i) for i in infos], skipped


def viewer_url(run_id: str) -> str:
    """Relative deep link to a run's viewer page."""
    return f"viewer?run={quote(run_id)}"


def compare_url(run_ids: list[str]) -> str:
    """Relative deep link to the compare page for several runs."""
    return "compare?runs=" + ",".join(quote(r) for r in run_ids)


def query_param(name: str) -> str:
    """One query parameter as text ('' when absent), with NUL bytes refused by callers."""
    value = st.query_params.get(name, "")
    return value if isinstance(value, str) else str(value)


def render_video(runs: Any, error: str, text: str = "rendering video…", **options: Any):
    """The cached MP4 of a run (or a list of runs), with a progress bar while it renders.

    On failure shows ``error: <reason>`` as ``st.error`` and stops the page (never a traceback).
    """
    from .cache import cached_render

    bar = st.progress(0.0, text=text)

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"rendering {done}/{total} frames")

    try:
        return cached_render(runs, "mp4", progress=progress, **options)
    except Exception as exc:  # the page must survive runs that cannot be rendered
        st.error(f"{error}: {md(exc)}")
        st.stop()
    finally:
        bar.empty()


@st.cache_data(show_spinner=False, max_entries=16)
def _experiments(where: str, signature: str) -> tuple[list[Any], pd.DataFrame]:
    from .experiments import list_experiments, summarize

    return list_experiments(where), summarize(where, by=["experiment"])


def experiments(where: str | None = None) -> tuple[list[Any], pd.DataFrame]:
    """The experiments of the results folder and their summary (one row per experiment),
    re-read only when the folder changed."""
    where = where or root()
    return _experiments(where, folder_signature(where))


@st.cache_data(show_spinner=False, max_entries=16)
def _summary_by(where: str, signature: str, by: tuple[str, ...]) -> pd.DataFrame:
    from .experiments import summarize

    return summarize(where, by=list(by))


def summary_by(by: tuple[str, ...], where: str | None = None) -> pd.DataFrame:
    """:func:`animlib.summarize` of the results folder grouped by ``by`` (cached)."""
    where = where or root()
    return _summary_by(where, folder_signature(where), tuple(by))


@st.cache_data(show_spinner=False, max_entries=8192)
def grid_cell(where: str, run_id: str, version: Any, step: int) -> Any:
    """The experiments grid's cell of run ``run_id`` at ``step`` (cached per run version)."""
    from .experiment_grid import cell_for

    return cell_for(open_run_in(where, run_id), step)
