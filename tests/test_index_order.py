"""Index rows stay in list_runs order as runs are added, changed and removed, copying little."""

from __future__ import annotations

from unittest.mock import patch

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animlib.index import order
from animlib.index.order import in_default_order, with_changes

keys = st.sampled_from(["", "2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-01-03T09:00:00"])
ids = st.text(alphabet="abcé", min_size=1, max_size=3)
SCHEMA = pa.schema([("created_key", pa.string()), ("id", pa.string()), ("n", pa.int64())])


def table(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {"created_key": [k for k, _ in rows], "id": [i for _, i in rows], "n": range(len(rows))},
        schema=SCHEMA,
    )


def sorted_rows(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    by_id = sorted(rows, key=lambda r: r[1])
    return sorted(by_id, key=lambda r: r[0], reverse=True)  # stable: ids ascending per key


def pairs(t: pa.Table) -> list[tuple[str, str]]:
    return list(zip(t["created_key"].to_pylist(), t["id"].to_pylist(), strict=True))


@pytest.mark.parametrize("max_placed", [order.MAX_PLACED, 2], ids=["placed", "sorted"])
@settings(max_examples=300, deadline=None)
@given(
    old=st.lists(st.tuples(keys, ids), unique_by=lambda r: r[1]),
    changes=st.lists(st.tuples(st.integers(0, 2), keys, ids), unique_by=lambda r: r[2], max_size=8),
)
def test_changes_keep_the_default_order(max_placed, old, changes):
    """Removed, rewritten (maybe with another created) and new rows: the same rows and order
    as sorting the result from scratch, both ways (changes placed between slices, and over
    the limit sorted in)."""
    known = {i for _, i in old}
    gone = [i for what, _, i in changes if what == 0]  # some not in old: ignored
    fresh = [(k, i) for what, k, i in changes if what == 1 or (what == 2 and i not in known)]
    drop = set(gone) | {i for _, i in fresh}
    want = sorted_rows([r for r in old if r[1] not in drop] + fresh)
    with patch.object(order, "MAX_PLACED", max_placed):
        got = with_changes(
            in_default_order(table(old)), [*gone, *(i for _, i in fresh)], table(fresh)
        )
    assert pairs(got) == want
    assert pairs(in_default_order(table(want))) == want  # the model agrees with pyarrow's sort


def test_many_small_changes_stay_bounded_in_chunks(monkeypatch):
    """Slices pile up as chunks: past MAX_CHUNKS the table is made whole again, in order."""
    monkeypatch.setattr(order, "MAX_CHUNKS", 8)
    rows = [(f"2026-01-01T00:{m:02d}:00", f"run-{m:03d}") for m in range(60)]
    t = in_default_order(table(rows))
    chunks = []
    for step in range(40):
        key, run = f"2026-01-01T00:{(step * 7) % 60:02d}:30", f"run-{(step * 13) % 60:03d}"
        rows = [r for r in rows if r[1] != run] + [(key, run)]
        t = with_changes(t, [run], table([(key, run)]))
        chunks.append(t.column(0).num_chunks)
        assert pairs(t) == sorted_rows(rows)
    assert max(chunks) <= 8 + 3
    assert min(chunks[10:]) < max(chunks)  # made whole again on the way


def shares_buffers(part: pa.Table, whole: pa.Table) -> bool:
    (data,) = [chunk.buffers()[2] for chunk in whole["id"].chunks]
    chunks = [c for c in part["id"].chunks if len(c)]
    return all(data.address <= c.buffers()[2].address < data.address + data.size for c in chunks)


def test_removals_and_new_runs_copy_nothing():
    """Dropping a row of a large table slices it, and new runs newer than every indexed one
    (more than MAX_PLACED of them too: an experiment's runs) go in front: the kept rows are
    the old buffers."""
    big = in_default_order(table([(f"2026-01-{d % 28 + 1:02d}", f"r{d:05d}") for d in range(5000)]))
    before = pa.total_allocated_bytes()
    kept = with_changes(big, ["r00042"], table([]))
    assert kept.num_rows == 4999 and "r00042" not in kept["id"].to_pylist()
    assert pa.total_allocated_bytes() - before < 4096  # (a copy would take ~160 kB)
    assert shares_buffers(kept, big)
    new = [(f"2026-02-01T00:{m % 60:02d}", f"new{m:03d}") for m in range(order.MAX_PLACED * 2)]
    grown = with_changes(kept, [], table(new))
    assert pairs(grown) == sorted_rows(pairs(kept) + new)
    assert shares_buffers(grown.slice(len(new)), big)


@settings(max_examples=50, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 40), max_size=12),
    picks=st.lists(st.integers(0, 39), max_size=30),
)
def test_take_rows_is_take(cuts, picks):
    """Rows taken from a table of slices are the rows pyarrow's take gives, in one chunk."""
    from animlib.index.order import take_rows

    whole = table([(f"k{i % 7}", f"r{i:02d}") for i in range(40)])
    bounds = sorted({0, 40, *cuts})
    spans = zip(bounds[:-1], bounds[1:], strict=True)
    sliced = pa.concat_tables([whole.slice(a, b - a) for a, b in spans])
    positions = pa.array(picks, pa.int64())
    got = take_rows(sliced, positions)
    assert got.to_pylist() == whole.take(positions).to_pylist()
    assert got.schema == whole.schema
    assert all(c.num_chunks <= 1 for c in got.columns)
