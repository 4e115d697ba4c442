"""Filtering, sorting and paging of the good runs of an index, in Arrow compute (no pandas)."""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import AnimlibError
from ..params import NUMBER_RE2, SEP, search_words, word_pattern
from ..settings import settings
from ..text import natural_key, search_form
from .columns import scalar
from .order import take_rows
from .rows import RUN_COLUMNS, SHOWN_COLUMNS

# compute operands made once, from buffers (a Python value given to a compute function goes
# through pyarrow's conversion, which imports pandas)
RUNNING, STALE = scalar("running", pa.string()), scalar("stale", pa.string())
FALSE = scalar(False, pa.bool_())
FINISHED, ZERO = scalar("finished", pa.string()), scalar(0, pa.int64())
SUCCESS_LABELS = {"succeeded": True, "failed": False, "n/a": None}
SORTABLE = SHOWN_COLUMNS
PARAM_PREFIX = "params."  # a sort by ``params.NAME``: by that parameter
PAGE_COLUMNS = [*RUN_COLUMNS, "updated", "params"]


@dataclass(frozen=True)
class Query:
    """Which good runs to show: each filter empty = no constraint; ``text`` is free text
    (every word must appear in the id, name, attack, model, status, tags, source or a
    parameter written ``name=value``); ``sort`` is a column of :data:`SORTABLE` or
    ``params.NAME`` (numbers in order, then text values; ``""``: newest first, as listed); rows
    ``offset`` .. ``offset + limit`` of the result; runs in ``exclude`` are left out (found
    broken by array checks)."""

    attacks: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    success: tuple[str, ...] = ()
    text: str = ""
    sort: str = ""
    descending: bool = False
    offset: int = 0
    limit: int | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Counts:
    """Good runs (``total``), good runs running now, and broken ones."""

    total: int
    running: int
    broken: int


@dataclass(frozen=True)
class Result:
    """One page of a query: its rows (:data:`PAGE_COLUMNS`, status with ``stale``), how many
    runs matched, and the counts of the whole folder."""

    rows: pa.Table
    matched: int
    counts: Counts


def good_rows(
    table: pa.Table, exclude: Sequence[str] = (), columns: Sequence[str] | None = None
) -> pa.Table:
    """The rows of runs without a problem, in index order.

    Args:
        table: an index table.
        exclude: run ids left out too (found broken by array checks).
        columns: the columns kept (default: all), chosen before filtering so nothing else is
            copied.

    Returns:
        The good rows.
    """
    mask = _good_mask(table, exclude)
    return (table.select(list(columns)) if columns is not None else table).filter(mask)


def effective_status(
    table: pa.Table, now: float | None = None, gone: Collection[str] = ()
) -> pa.ChunkedArray:
    """The status of each row, with ``stale`` for a running run silent for longer than
    ``ANIMLIB_STALE_SECONDS`` (the rule of :func:`animlib.meta.effective_status`) or whose
    writer is gone (:func:`animlib.lock.run_status`).

    Args:
        table: index rows (``status`` and ``updated`` columns; ``id`` too with ``gone``).
        now: the time it is (seconds since the epoch; default: now).
        gone: ids of runs whose writer of this host no longer runs
            (:attr:`~animlib.index.RunIndex.writers_gone`).

    Returns:
        One status per row.
    """
    now = time.time() if now is None else now
    # (compared as microseconds: a timestamp scalar with a time zone costs ~30 ms per call
    # and imports pandas, which listing runs never needs)
    cutoff = scalar(int((now - settings().stale_seconds) * 1e6), pa.int64())
    updated = pc.cast(table["updated"], pa.int64())
    stopped = pc.less(updated, cutoff)
    if gone:
        ids = pa.array(sorted(gone), pa.string())
        stopped = pc.or_(pc.fill_null(stopped, FALSE), pc.is_in(table["id"], value_set=ids))
    silent = pc.and_(pc.equal(table["status"], RUNNING), stopped)
    return pc.if_else(pc.fill_null(silent, FALSE), STALE, table["status"])


def counted_rows(
    table: pa.Table, now: float | None = None, gone: Collection[str] = ()
) -> pa.ChunkedArray:
    """Whether :func:`animlib.summarize` counts each row's run by default (the rule of
    :func:`animlib.experiments.left_out_reason`): finished, or running and not ``stale``
    (:func:`effective_status`), with at least one step.

    Args:
        table: index rows (``id``, ``status``, ``updated`` and ``steps`` columns).
        now: the time deciding ``stale`` (default: now).
        gone: runs whose writer is gone (see :func:`effective_status`).

    Returns:
        One bool per row.
    """
    status = effective_status(table, now, gone)
    live = pc.or_(pc.equal(status, RUNNING), pc.equal(status, FINISHED))
    stepped = pc.greater(pc.fill_null(table["steps"], ZERO), ZERO)
    return pc.fill_null(pc.and_(live, stepped), FALSE)


def _mask(table: pa.Table, status: pa.ChunkedArray, q: Query) -> pa.ChunkedArray | None:
    masks = []
    for column, values in (
        ("attack", q.attacks),
        ("model", q.models),
        ("experiment", q.experiments),
    ):
        if values:
            masks.append(pc.is_in(table[column], value_set=pa.array(list(values), pa.string())))
    if q.statuses:
        masks.append(pc.is_in(status, value_set=pa.array(list(q.statuses), pa.string())))
    if q.success:
        wanted = [SUCCESS_LABELS[s] for s in q.success if s in SUCCESS_LABELS]
        ok = pc.is_in(table["success"], value_set=pa.array([w for w in wanted if w is not None]))
        if None in wanted:
            ok = pc.or_(pc.fill_null(ok, False), pc.is_null(table["success"]))
        masks.append(pc.fill_null(ok, False))
    for word in search_words(search_form(q.text)):
        pattern = word_pattern(word)
        if pattern is None:
            found = pc.match_substring(table["haystack"], pattern=word)
        else:
            found = pc.match_substring_regex(table["haystack"], pattern=pattern)
        masks.append(pc.or_(found, pc.match_substring(status, pattern=word)))
    if not masks:
        return None
    mask = masks[0]
    for more in masks[1:]:
        mask = pc.and_(mask, more)
    return pc.fill_null(mask, False)


def _nonzero(mask: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The positions where ``mask`` is true (pyarrow before 26.0.1 crashes, SIGSEGV, on a
    chunked array of no chunks: the columns of an empty folder's index)."""
    if len(mask) == 0:
        return pa.array([], pa.uint64())
    return pc.indices_nonzero(mask)


def param_values(params: pa.ChunkedArray | pa.Array, name: str) -> pa.ChunkedArray | pa.Array:
    """One parameter of every row, as stored (null where a run does not set it).

    Args:
        params: an index's ``params`` column.
        name: the parameter (nested ones as ``a.b``).

    Returns:
        Its value texts.
    """
    pattern = f"{SEP}{re.escape(name)}=(?P<v>[^{SEP}]*){SEP}"
    return pc.struct_field(pc.extract_regex(params, pattern), "v")


def sorted_param(sort: str) -> str | None:
    """The parameter a sort key names (``params.eps`` -> ``eps``), None for any other key."""
    if sort.startswith(PARAM_PREFIX):
        return sort[len(PARAM_PREFIX) :] or None
    return None


def _sort_indices(table: pa.Table, column: str, descending: bool) -> pa.Array:
    order = "descending" if descending else "ascending"
    name = sorted_param(column)
    if name is None:
        values = table[column]
        if not pa.types.is_string(values.type):
            return pc.sort_indices(table, sort_keys=[(column, order)])
        keys = pa.table({"folded": pc.utf8_lower(values), "text": values})  # blur before Square
        return pc.sort_indices(keys, sort_keys=[("folded", order), ("text", order)])
    text = param_values(table["params"], name)
    numeric = pc.match_substring_regex(text, NUMBER_RE2)
    number = pc.cast(pc.if_else(numeric, text, pa.scalar(None, pa.string())), pa.float64())
    text = pc.if_else(numeric, pa.scalar(None, pa.string()), text)
    keys = pa.table({"number": number, "folded": pc.utf8_lower(text), "text": text})
    return pc.sort_indices(keys, sort_keys=[("number", order), ("folded", order), ("text", order)])


def check_sort(sort: str) -> None:
    """Raise AnimlibError (field ``sort``) unless ``sort`` is ``""``, a column of
    :data:`SORTABLE` or ``params.NAME``."""
    if sort and sort not in SORTABLE and sorted_param(sort) is None:
        raise AnimlibError(
            f"cannot sort by {sort!r} (one of {', '.join(SORTABLE)}, or params.NAME)", field="sort"
        )


def run_query(
    table: pa.Table, q: Query, now: float | None = None, gone: Collection[str] = ()
) -> Result:
    """Filter, sort and page the good runs of an index table (in index order, the order of
    :func:`animlib.list_runs`); a sort keeps that order among equal values (the sort is
    stable) and puts missing values last.

    Args:
        table: an index table (:data:`animlib.index.rows.SCHEMA`) in index order.
        q: the filters, sort and page.
        now: the time deciding ``stale`` (default: now).
        gone: runs whose writer is gone (see :func:`effective_status`).

    Returns:
        The page, the number of matching runs and the counts of the folder.

    Raises:
        ValueError: ``q.sort`` is not a sortable column.
    """
    check_sort(q.sort)
    # positions, not copies: only the sort key of the matches and the page's rows are taken
    status = effective_status(table, now, gone)
    good = _good_mask(table, q.exclude)
    mask = _mask(table, status, q)
    rows = _nonzero(good if mask is None else pc.and_(good, mask))
    if q.sort:
        key = "params" if sorted_param(q.sort) is not None else q.sort
        column = status if key == "status" else table[key]  # (``stale`` sorts as shown)
        keys = pa.table({key: column.take(rows)})
        rows = rows.take(_sort_indices(keys, q.sort, q.descending))
    stop = None if q.limit is None else q.offset + q.limit
    shown = rows[q.offset : stop]
    page = table.select(PAGE_COLUMNS)
    page = take_rows(page.set_column(PAGE_COLUMNS.index("status"), "status", status), shown)
    n_good = int(pc.sum(good).as_py() or 0)
    running = pc.sum(pc.and_(good, pc.equal(status, RUNNING))).as_py() or 0
    return Result(page, len(rows), Counts(n_good, int(running), table.num_rows - n_good))


def _good_mask(table: pa.Table, exclude: Sequence[str] = ()) -> pa.ChunkedArray:
    """True for the rows of :func:`good_rows`."""
    mask = pc.is_null(table["error"])
    if exclude:
        gone = pc.is_in(table["id"], value_set=pa.array(list(exclude), pa.string()))
        mask = pc.and_(mask, pc.invert(gone))
    return mask


def counts(
    table: pa.Table,
    exclude: Sequence[str] = (),
    now: float | None = None,
    gone: Collection[str] = (),
) -> Counts:
    """The counts of an index table.

    Args:
        table: an index table.
        exclude: run ids counted as broken (found broken by array checks).
        now: the time deciding ``stale`` (default: now).
        gone: runs whose writer is gone (see :func:`effective_status`).

    Returns:
        Good runs, good runs running now (not stale), broken runs.
    """
    good = good_rows(table, exclude, ["id", "status", "updated"])
    running = pc.sum(pc.equal(effective_status(good, now, gone), RUNNING)).as_py() or 0
    return Counts(good.num_rows, int(running), table.num_rows - good.num_rows)


def facets(table: pa.Table) -> dict[str, list[str]]:
    """The distinct attacks, models, experiments and parameter names of the good runs.

    Args:
        table: an index table.

    Returns:
        ``{"attack": [...], "model": [...], "experiment": [...], "params": [...]}``, each
        sorted (experiments and parameters in natural order: ``eps4`` before ``eps16``;
        ``""``, no experiment, left out).
    """
    good = good_rows(table, columns=["attack", "model", "experiment", "param_names"])
    out = {
        col: sorted(v for v in pc.unique(good[col]).to_pylist() if v is not None)
        for col in ("attack", "model")
    }
    out["experiment"] = sorted(
        (e for e in pc.unique(good["experiment"]).to_pylist() if e), key=natural_key
    )
    names = {
        n for text in pc.unique(good["param_names"]).to_pylist() for n in (text or "").split(SEP)
    }
    out["params"] = sorted((n for n in names if n), key=natural_key)
    return out


def same_source(table: pa.Table, run_ids: Sequence[str]) -> dict[str, list[str]]:
    """The runs attacking the same source images as ``run_ids``: those with the same source
    name, or the same clean image (its pixels' hash) under another name or none.

    Args:
        table: an index table.
        run_ids: the runs whose source images are looked up.

    Returns:
        For each source of ``run_ids`` (in index order; named after a run of its pixels that
        has a name when the chosen run has none; one entry for runs whose groups are the same):
        the ids of every good run on it, in index order.
    """
    good = good_rows(table, columns=["id", "source", "original"])
    chosen = good.filter(pc.is_in(good["id"], value_set=pa.array(list(run_ids), pa.string())))
    keys: dict[str, set[str]] = {}  # a chosen run's source -> it and its image's hash
    for source, original in zip(*_lists(chosen, "source", "original"), strict=True):
        if source:
            keys.setdefault(source, set()).update(k for k in (source, original) if k)
    if not keys:
        return {}
    wanted = pa.array(sorted(set().union(*keys.values())), pa.string())
    on = good.filter(
        pc.or_(pc.is_in(good["source"], value_set=wanted), pc.is_in(good["original"], wanted))
    )
    out: dict[str, list[str]] = {s: [] for s in keys}
    names: dict[str, str] = {}  # an image's hash -> the first source name of its pixels
    for run_id, source, original in zip(*_lists(on, "id", "source", "original"), strict=True):
        if original and not source.startswith("sha1:"):
            names.setdefault(original, source)
        for key, group in keys.items():
            if source in group or original in group:
                out[key].append(run_id)
    result: dict[str, list[str]] = {}
    for key, ids in out.items():
        if ids in result.values():
            continue
        name = names.get(key, key)
        result[key if name in keys or name in result else name] = ids
    return result


def _lists(table: pa.Table, *columns: str) -> list[list[Any]]:
    return [table[c].to_pylist() for c in columns]


def broken_rows(table: pa.Table) -> pa.Table:
    """The runs with a problem.

    Args:
        table: an index table.

    Returns:
        Their id, error, field and code columns, by id.
    """
    bad = table.filter(pc.is_valid(table["error"])).select(["id", "error", "field", "code"])
    return bad.take(pc.sort_indices(bad, sort_keys=[("id", "ascending")]))


def experiment_runs(table: pa.Table, experiment: str | None = None) -> list[str]:
    """The runs that belong to an experiment (their run.json names one), or to ``experiment``,
    in index order.

    Args:
        table: an index table.
        experiment: only the runs of this experiment (default: of any).

    Returns:
        Their ids (runs with a problem too: the caller decides what to do with them).
    """
    if experiment is None:
        named = pc.fill_null(pc.not_equal(table["experiment"], ""), False)
    else:
        named = pc.fill_null(pc.equal(table["experiment"], experiment), False)
    return table.filter(named)["id"].to_pylist()
