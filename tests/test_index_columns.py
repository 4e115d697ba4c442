"""Index columns built from buffers equal pyarrow's own conversion, nulls and edge values too."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from animlib.index.columns import column
from animlib.index.rows import SCHEMA, table_of

UTC_US = pa.timestamp("us", tz="UTC")
aware = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    ),
)
KINDS = [
    (pa.string(), st.text()),
    (pa.int64(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    (pa.bool_(), st.booleans()),
    (UTC_US, aware),
]


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("kind, values", KINDS, ids=[str(k) for k, _ in KINDS])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_column_equals_pa_array(kind, values, data):
    items = data.draw(st.lists(st.one_of(st.none(), values), max_size=40))
    ours, theirs = column(items, kind), pa.array(items, kind)
    assert ours.type == theirs.type and len(ours) == len(theirs)
    assert ours.null_count == theirs.null_count
    ours.validate(full=True)
    assert all(same(a, b) for a, b in zip(ours.to_pylist(), theirs.to_pylist(), strict=True))


def test_an_empty_table_has_the_schema():
    table = table_of([])
    assert table.schema == SCHEMA and table.num_rows == 0


def test_a_string_that_is_not_text_is_refused_as_pyarrow_refuses_it():
    with pytest.raises(UnicodeEncodeError):
        column(["ok", "bad \udcff"], pa.string())
