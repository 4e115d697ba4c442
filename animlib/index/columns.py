"""Arrow columns built from Python values through their buffers (pyarrow's own conversion of
Python lists imports pandas first: 0.35-0.45 s in every process that writes index rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MAX_OFFSET = 2**31 - 1  # a string column's bytes must fit int32 offsets


def column(values: list[Any], kind: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """The Arrow array of ``values`` (None: null), as ``pa.array(values, kind)`` makes it.

    Args:
        values: str, int, float, bool or aware datetime values (of ``kind``), or None.
        kind: ``pa.string()``, ``pa.int64()``, ``pa.float64()``, ``pa.bool_()`` or a
            microsecond timestamp in UTC.

    Returns:
        The array (chunked for text over 2 GiB, which pyarrow itself converts).

    Raises:
        TypeError: another type.
        UnicodeEncodeError: a string that is not valid text (as pyarrow refuses it).
    """
    n = len(values)
    present = np.fromiter((v is not None for v in values), np.bool_, n)
    nulls = n - int(np.count_nonzero(present))
    validity = pa.py_buffer(np.packbits(present, bitorder="little")) if nulls else None
    if pa.types.is_string(kind):
        return _strings(values, validity, nulls)
    if pa.types.is_boolean(kind):
        bits = np.fromiter((v is not None and bool(v) for v in values), np.bool_, n)
        data = pa.py_buffer(np.packbits(bits, bitorder="little"))
    elif pa.types.is_int64(kind):
        data = pa.py_buffer(np.fromiter((0 if v is None else v for v in values), np.int64, n))
    elif pa.types.is_float64(kind):
        data = pa.py_buffer(np.fromiter((0.0 if v is None else v for v in values), np.float64, n))
    elif pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz == "UTC":
        micros = ((v - _EPOCH) // _MICROSECOND if v is not None else 0 for v in values)
        data = pa.py_buffer(np.fromiter(micros, np.int64, n))
    else:
        raise TypeError(f"no column of {kind}")
    return pa.Array.from_buffers(kind, n, [validity, data], null_count=nulls)


def scalar(value: Any, kind: pa.DataType) -> pa.Scalar:
    """The Arrow scalar of ``value``, as ``pa.scalar(value, kind)`` makes it (for compute
    functions: a Python value given to one is converted through pyarrow's own conversion).

    Args:
        value: a value :func:`column` takes.
        kind: its type (as for :func:`column`).

    Returns:
        The scalar.
    """
    return column([value], kind)[0]


def _strings(
    values: list[Any], validity: pa.Buffer | None, nulls: int
) -> pa.Array | pa.ChunkedArray:
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    if int(lengths.sum()) > _MAX_OFFSET:  # too large for one array: pyarrow makes chunks
        return pa.array(values, pa.string())
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:], dtype=np.int32)
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers, null_count=nulls)
