"""Index rows in list_runs order, kept so as runs come, change and go without copying the table."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from .columns import column

# Up to this many changed rows are put in place by binary search between slices of the table
# (no copy); more are sorted in with the rest (one copy). A copy of 100,000 rows (~120 MB)
# costs 30 ms in reused memory, but 0.5-0.8 s in memory fresh from the system, as after a
# while a server's memory is: a poll that finds one live run changed paid that twice.
MAX_PLACED = 64
# Slices pile up as chunks; past this many the table is made whole again (one copy).
MAX_CHUNKS = 256
FEW_ROWS = 500  # take_rows joins up to this many rows one by one (a page of the runs page)


def in_default_order(table: pa.Table) -> pa.Table:
    """The rows in the order of :func:`animlib.list_runs`.

    Args:
        table: an index table.

    Returns:
        The rows, newest ``created`` first (the instant, in UTC; runs without one last),
        then by id.
    """
    order = pc.sort_indices(table, sort_keys=[("created_key", "descending"), ("id", "ascending")])
    return table.take(order)


def with_changes(old: pa.Table, gone: Sequence[str], fresh: pa.Table) -> pa.Table:
    """``old`` (in :func:`in_default_order`) without the rows of ``gone`` and with the
    ``fresh`` rows added, in that order.

    Removed rows are cut out and fresh rows put in front (all newer: new runs, usually) or,
    up to ``MAX_PLACED`` of them, in place between zero-copy slices of ``old``; only more
    fresh rows placed elsewhere, or a table of many slices, make a new copy.

    Args:
        old: index rows, in default order.
        gone: ids of rows to drop (ids not in ``old`` are ignored).
        fresh: rows to add (their ids not in ``old`` once ``gone`` are dropped).

    Returns:
        All the rows, in default order.
    """
    kept = _without(old, gone)
    if not fresh.num_rows:
        return kept
    fresh = in_default_order(fresh)
    keys, ids = kept["created_key"], kept["id"]
    last = (fresh["created_key"][-1].as_py(), fresh["id"][-1].as_py())
    if not kept.num_rows or _place(keys, ids, *last) == 0:
        return _joined([fresh, kept])  # all newer (new runs, usually): in front
    if fresh.num_rows > MAX_PLACED:
        return in_default_order(pa.concat_tables([kept, fresh]))
    parts, start = [], 0
    for row in range(fresh.num_rows):
        at = _place(keys, ids, fresh["created_key"][row].as_py(), fresh["id"][row].as_py())
        parts += [kept.slice(start, at - start), fresh.slice(row, 1)]
        start = at
    parts.append(kept.slice(start))
    return _joined(parts)


def take_rows(table: pa.Table, positions: pa.Array) -> pa.Table:
    """``table.take(positions)`` for a page of positions in a table of many slices: pyarrow's
    take first joins every chunk of each column (a copy of the whole table); this joins only
    the rows taken.

    Args:
        table: index rows (any columns).
        positions: row positions (int64).

    Returns:
        Those rows, in that order, each column in one chunk.
    """
    if len(positions) > FEW_ROWS or table.num_columns == 0 or table.column(0).num_chunks < 2:
        return table.take(positions)
    rows = [table.slice(p, 1) for p in positions.to_pylist()]
    return pa.concat_tables(rows).combine_chunks() if rows else table.slice(0, 0)


def _without(table: pa.Table, gone: Sequence[str]) -> pa.Table:
    if not gone or not table.num_rows:
        return table
    hit = pc.is_in(table["id"], value_set=column(list(gone), pa.string()))
    parts, start = [], 0
    for at in pc.indices_nonzero(hit).to_pylist():
        parts.append(table.slice(start, at - start))
        start = at + 1
    if not parts:
        return table
    parts.append(table.slice(start))
    return _joined(parts)


def _place(keys: pa.ChunkedArray, ids: pa.ChunkedArray, key: str, id_: str) -> int:
    """How many rows of a table in default order come before the row ``(key, id_)``."""
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        k = keys[mid].as_py()
        if k > key or (k == key and ids[mid].as_py() < id_):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _joined(parts: list[pa.Table]) -> pa.Table:
    table = pa.concat_tables([p for p in parts if p.num_rows] or parts[:1])
    if table.num_columns and table.column(0).num_chunks > MAX_CHUNKS:
        table = table.combine_chunks()
    return table
