"""Streamlit glue shared by the pages: results folder, cached listing, safe text, links."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import streamlit as st

from .config import runs_root
from .errors import AnimlibError
from .listing import RunInfo, folder_signature, list_runs
from .reader import Run, open_run_in

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md(text: Any) -> str:
    """Escape a user string (run name, class name, tag) so Markdown shows it as plain text."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


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
    try:
        return open_run_in(where, run_id), None
    except AnimlibError as exc:
        if exc.field == "path" and "no such run folder" in exc.message:
            return None, f"No run with id {run_id!r} in {where}."
        return None, f"This run cannot be shown: {exc}"
    except OSError as exc:
        return None, f"Run {run_id!r} cannot be read: {exc}"


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
