"""The run index: run.json summaries of a results folder in Parquet, refreshed incrementally."""

# ``open_index(root).refresh()`` lists the folder once (each run.json's size/mtime locally, its ETag
# on object stores) and reads only new or changed run.json files; ``query`` filters, sorts and pages
# in Arrow compute. :func:`animlib.list_runs` and the runs page are served by it.

from __future__ import annotations

from .query import SORTABLE, SUCCESS_LABELS, Counts, Query, Result, broken_rows
from .registry import open_index
from .runindex import Refresh, RunIndex

__all__ = [
    "SORTABLE",
    "SUCCESS_LABELS",
    "Counts",
    "Query",
    "Refresh",
    "Result",
    "RunIndex",
    "broken_rows",
    "open_index",
]
