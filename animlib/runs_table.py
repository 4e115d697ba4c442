"""The runs page's table: one page of index rows as pandas, broken runs, selection and shortcuts."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import pyarrow as pa

from .index.query import PARAM_PREFIX, Query
from .index.rows import RUN_COLUMNS, SHOWN_COLUMNS
from .listing import RunInfo
from .params import decode, number
from .protocol import MAX_COMPARE
from .text import csv_cell, csv_safe_columns, distinct_clipped, natural_key, printable

COLUMNS = list(RUN_COLUMNS)
VISIBLE_COLUMNS = list(SHOWN_COLUMNS)  # shown on the runs page
# the runs page's filters: (what the page calls it, the Query field it sets)
FILTERS = (
    ("attack", "attacks"),
    ("model", "models"),
    ("experiment", "experiments"),
    ("status", "statuses"),
    ("outcome", "success"),
)
# the Outcome filter's choices as the page words them: "failed" is also a status (the run
# crashed), and the two read alike side by side in the Filters
OUTCOME_WORDS = {"succeeded": "attack succeeded", "failed": "attack failed", "n/a": "n/a"}
# the table's widths at 1280 px: the outcome columns in view beside long attack and model names
LINK_WIDTH = 50  # pixels of the "view" link column
NAME_WIDTH = 220  # pixels of the name column
NAME_CELLS = 28  # a longer name is shown cut in its middle: a sample's "-0000" stays in view
TEXT_WIDTH = 100  # pixels of the attack and model columns when a value is long (cut there)
TEXT_CHARS = 13  # attack and model names up to this long keep their own width ("PGD": 40 px)
CAPPED = ("attack", "model")


def search_hint(text: str) -> str:
    """Under a search that matched nothing and reads like a query language the search does
    not have (``eps<0.01``, ``status:stale``: they matched nothing, unexplained), what it takes;
    else ""."""
    if not any(c in text for c in "<>:"):
        return ""
    return (
        "The search takes words (all must appear in a run's id, name, attack, model, status, "
        "tags, source or parameters) and `name=value` for a parameter, e.g. `eps=0.1`; no `<`, "
        "`>` or `field:`. Filters and Sort (above) narrow and order by status, outcome and more."
    )


def outcome_word(value: str) -> str:
    """An Outcome filter choice (``succeeded``, ``failed``, ``n/a``) as the page shows it."""
    return OUTCOME_WORDS.get(value, value)


def page_frame(rows: pa.Table, params: Sequence[str] = (), *, shown: bool = True) -> pd.DataFrame:
    """The runs-table frame of one page of index rows.

    Args:
        rows: the page (:attr:`animlib.index.Result.rows`).
        params: parameters shown as columns too, each as ``params.NAME``: numbers (float)
            when every run that sets it sets a number, else text; missing where a run does
            not set it.
        shown: text as the page shows it (control characters and bidi overrides as escapes,
            :func:`animlib.text.printable`; ``id`` as it is); False: as stored.

    Returns:
        A DataFrame with the columns :data:`COLUMNS` and nullable dtypes (``Int64``, ``boolean``),
        then the parameters'.
    """
    mapper = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get
    frame = rows.select(COLUMNS).to_pandas(types_mapper=mapper)
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    if shown:
        for column in ("name", "attack", "model", "status", "tags"):
            if column in frame:
                frame[column] = frame[column].map(printable, na_action="ignore")
        names = frame["name"].notna()
        shown_names = distinct_clipped(frame.loc[names, "name"].tolist(), NAME_CELLS)
        frame.loc[names, "name"] = shown_names
    if params:
        stored = [decode(text) for text in rows["params"].to_pylist()]
        for name in params:
            frame[param_column(name)] = _param_series([p.get(name) for p in stored])
    return frame


def runs_csv(rows: pa.Table) -> bytes:
    """Runs as CSV (the runs page's "Download"): every column of :data:`COLUMNS`, then one
    ``params.NAME`` column per parameter any of them sets (in natural order), each cell safe
    to open in a spreadsheet (text a spreadsheet would run as a formula starts with ``'``).

    Args:
        rows: index rows (:attr:`animlib.index.Result.rows`), in the order wanted.

    Returns:
        UTF-8 CSV with a header row; times in ISO 8601 (UTC).
    """
    frame = page_frame(rows, shown=False)
    csv_safe_columns(frame)
    frame["created"] = frame["created"].map(lambda t: t.isoformat() if pd.notna(t) else None)
    stored = [decode(text) for text in rows["params"].to_pylist()]
    for name in sorted({n for params in stored for n in params}, key=natural_key):
        values = [params.get(name) for params in stored]  # numbers as written: 7, 0.05, 1e-05
        cells = [v if v is None or number(v) is not None else csv_cell(v) for v in values]
        frame[param_column(name)] = pd.Series(cells, dtype="object")
    return frame.to_csv(index=False).encode()


def capped_columns(shown: pd.DataFrame) -> list[str]:
    """The attack and model columns of the page ``shown`` that get :data:`TEXT_WIDTH`: those
    holding a value longer than :data:`TEXT_CHARS` (a column sized to its longest text pushed
    the outcome columns past a 1280-px window's edge)."""
    return [
        column
        for column in CAPPED
        if column in shown and shown[column].dropna().astype(str).str.len().gt(TEXT_CHARS).any()
    ]


def column_order(params: Sequence[str] = ()) -> list[str]:
    """The runs table's columns, left to right: the link, then :data:`VISIBLE_COLUMNS` with
    the parameters' after ``model``."""
    at = VISIBLE_COLUMNS.index("model") + 1
    return ["open", *VISIBLE_COLUMNS[:at], *map(param_column, params), *VISIBLE_COLUMNS[at:]]


def filter_summary(q: Query, max_values: int = 3) -> str:
    """The filters of ``q`` in words, e.g. ``attack PGD or CW · status running`` (at most
    ``max_values`` values each, then how many more); "" when nothing is filtered."""
    parts = []
    for label, field in FILTERS:
        values = [outcome_word(str(v)) if field == "success" else str(v) for v in getattr(q, field)]
        if values:
            more = len(values) - max_values
            words = " or ".join(values[:max_values]) + (f" or {more} more" if more > 0 else "")
            parts.append(f"{label} {words}")
    return " · ".join(parts)


# the headers of the columns not shown under their own name
HEADERS = {
    "flip_step": "flip step",
    "final_true_conf": "final true conf",
    "linf": "L∞",
    "l2": "L2",
    "created": "created (UTC)",  # (the table shows UTC times, in any browser's time zone)
}


def column_label(column: str) -> str:
    """A column's header on the page (and in the Sort by list): ``flip step`` for
    ``flip_step``, a parameter by its name (``params.NAME`` when a column has that name)."""
    if column.startswith(PARAM_PREFIX):
        name = column[len(PARAM_PREFIX) :]
        return name if name not in VISIBLE_COLUMNS else column
    return HEADERS.get(column, column)


def sort_summary(sort: str, descending: bool, default: str) -> str:
    """How the sort reads on the page: ``default`` (newest first, which has no direction)
    when ``sort`` is "", else the column's header and an arrow (↑ ascending, ↓ descending)."""
    if not sort:
        return default
    return f"{column_label(sort)} {'↓' if descending else '↑'}"


def param_column(name: str) -> str:
    """The runs-table column (and sort key) of parameter ``name``: ``params.NAME``."""
    return PARAM_PREFIX + name


def _param_series(values: list[str | None]) -> pd.Series:
    numbers = [None if v is None else number(v) for v in values]
    if all(n is not None for n, v in zip(numbers, values, strict=True) if v is not None):
        return pd.Series([math.nan if n is None else n for n in numbers], dtype="float64")
    return pd.Series(values, dtype="object")


def problems_frame(
    broken: pa.Table, found: Iterable[RunInfo], limit: int | None = None
) -> pd.DataFrame:
    """The broken-runs frame.

    Args:
        broken: the index's broken rows (id and error columns).
        found: runs found broken by array checks.
        limit: the most rows (default: all).

    Returns:
        A DataFrame of id and problem, by id.
    """
    rows = dict(zip(broken["id"].to_pylist(), broken["error"].to_pylist(), strict=True))
    rows.update((info.id, info.error) for info in found)
    ids = sorted(rows)[:limit]
    return pd.DataFrame({"id": ids, "problem": [rows[i] for i in ids]}, columns=["id", "problem"])


def shortcuts(
    groups: Mapping[str, Sequence[str]], run_ids: Sequence[str], max_runs: int = MAX_COMPARE
) -> list[tuple[str, list[str], int]]:
    """Comparisons worth offering next to ``run_ids``.

    Args:
        groups: for each source image of ``run_ids``, the runs on it.
        run_ids: the runs shown or selected.
        max_runs: the most runs one comparison offers (a larger group offers the runs of
            ``run_ids`` in it first, then its first others).

    Returns:
        ``(source, ids to compare, runs on that source in all)`` for each group of 2 or more
        runs that is not already exactly ``run_ids``.
    """
    current = sorted(run_ids)
    mine = set(run_ids)
    out = []
    for source, ids in groups.items():
        if len(ids) < 2 or sorted(ids) == current:
            continue
        first = [r for r in ids if r in mine] + [r for r in ids if r not in mine]
        out.append((source, first[:max_runs], len(ids)))
    return out


def source_label(source: str) -> str:
    """How the pages name a source image: its name, or for an image known only by its pixels
    (``sha1:<hash>``, as BatchWriter's samples are) ``image`` and the hash's first 8 digits."""
    return f"image {source[5:13]}" if source.startswith("sha1:") else source


def selection_key(base: str, ids: Sequence[str]) -> str:
    """A widget key that changes whenever the shown runs (or their order) change.

    A table's selection is kept by row position; a new key for new rows means a position
    selected earlier can never silently point at another run.
    """
    digest = hashlib.sha1("\n".join(ids).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{base}-{digest}"


def selected_positions(ids: Sequence[str], chosen: Iterable[str]) -> list[int]:
    """Positions in ``ids`` of the chosen run ids that are shown (the rest are dropped)."""
    where = {run_id: i for i, run_id in enumerate(ids)}
    return [where[c] for c in chosen if c in where]
