"""Deep links to the dashboard's pages: their URLs, and links that open them in this tab."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

__all__ = [
    "FROM_LINK",
    "compare_link",
    "experiment_runs_url",
    "sent_address",
    "viewer_link",
    "viewer_url",
]

# Set by a link to the page it is on (the next sample, another set of runs to compare):
# Streamlit reruns the page without changing the address bar; taking the marker out of the
# query parameters sends the new address (and adds a history entry for Back).
FROM_LINK = "from_link"


def viewer_url(run_id: str) -> str:
    """Relative deep link to a run's viewer page."""
    return f"viewer?run={quote(run_id)}"


def experiment_runs_url(experiment_ids: list[str]) -> str:
    """Relative deep link to the runs page filtered to these experiments."""
    return "./?experiment=" + ",".join(quote(e) for e in experiment_ids)


def viewer_link(
    place: Any, run_id: str, label: str, *, query: dict[str, str] | None = None, **kw: Any
) -> None:
    """A link in ``place`` that opens run ``run_id`` in the viewer in this tab (Back returns;
    a middle or Ctrl click opens a new tab). ``label`` is Markdown (escape names with
    :func:`animlib.ui.md`); ``query`` adds link parameters, ``kw`` go to ``page_link`` (the
    icon: a film by default)."""
    kw.setdefault("icon", ":material/movie:")
    place.page_link(
        "app_pages/viewer.py", label=label, query_params={"run": run_id, **(query or {})}, **kw
    )


def compare_link(
    place: Any, run_ids: list[str], label: str, *, query: dict[str, str] | None = None
) -> None:
    """A link in ``place`` that opens the compare page of ``run_ids`` in this tab (as
    :func:`viewer_link`)."""
    place.page_link(
        "app_pages/compare.py",
        label=label,
        icon=":material/compare:",
        query_params={"runs": ",".join(run_ids), **(query or {})},
    )


def sent_address(query_params: Any) -> None:
    """On a page opened by a link to itself (:data:`FROM_LINK`), take the marker out: the
    browser's address then names what the page shows."""
    if query_params.get(FROM_LINK):
        del query_params[FROM_LINK]
