"""How the CLI's text reaches a terminal: tables in columns, streams that never fail to encode."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .text import display_width, padded, printable

__all__ = ["as_written", "escape_unencodable", "print_json", "summary_text", "table_lines"]


@contextlib.contextmanager
def escape_unencodable() -> Iterator[None]:
    """While the block runs, stdout and stderr write a character their encoding lacks as an
    escape (``\\xfc``) instead of raising UnicodeEncodeError (a run named "PGD-ü" on an
    ASCII or Latin-1 terminal, ``PYTHONIOENCODING=ascii``, a cp1252 console, the C locale
    without UTF-8 mode, whose streams use ``surrogateescape``, crashed ``ls`` mid-table);
    then as they were (``animlib.cli.main`` called from a script or notebook)."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        errors = getattr(stream, "errors", None)
        if reconfigure is not None and errors in _FAILING:
            reconfigure(errors="backslashreplace")
            changed.append((reconfigure, errors))
    try:
        yield
    finally:
        for reconfigure, errors in changed:
            with contextlib.suppress(Exception):  # (a stream closed meanwhile)
                reconfigure(errors=errors)


_FAILING = ("strict", "surrogateescape")  # error handlers that raise on a character missing


def as_written(text: str) -> str:
    """``text`` as stdout will write it: a character its encoding lacks as its escape, so a
    table pads what the terminal shows (``PGD-\\xfc`` takes 9 cells, not 5)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    if text.isascii() or encoding.lower().replace("-", "") == "utf8":
        return text
    return text.encode(encoding, "backslashreplace").decode(encoding)


def table_lines(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]
) -> list[str]:
    """Rows of text under ``headers``, each column as wide as its widest cell (so long attack
    names never shift the columns), in terminal cells ("攻撃" takes 4, a combining accent
    none); columns in ``right`` are right-aligned."""
    widths = [
        max([display_width(h), *(display_width(r[i]) for r in rows)]) for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            padded(c, w, right=i in right)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def summary_text(table: Any, float_format: Callable[[float], str]) -> str:
    """The summary table (pandas) as text in columns that line up in a terminal (each cell
    right-aligned, padded by :func:`table_lines`: a wide character two cells, a combining mark
    none; pandas counted both one cell each). Numbers through ``float_format``, missing "-"."""
    import pandas as pd

    def cell(value: Any) -> str:
        # (missing: None or NaN in any column, a group by a key held as null too; pd.NA)
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if isinstance(value, float):
            return float_format(value)
        return printable(value)  # (an attack named with ESC bytes must not drive the terminal)

    columns = list(table.columns)
    keys = columns[: columns.index("n")] if "n" in columns else []  # the --by keys
    # a key's values that print alike but are not (8/255 and its float32): as many digits as
    # tell them apart
    formats = {i: _telling(table[c], float_format) for i, c in enumerate(keys)}
    rows = [
        [as_written(formats[i](v) if formats.get(i) and _real(v) else cell(v)) for i, v in row]
        for row in (enumerate(values) for values in table.itertuples(index=False, name=None))
    ]
    headers = [as_written(printable(c)) for c in columns]
    return "\n".join(table_lines(headers, rows, right=set(range(len(columns)))))


def _telling(values: Any, float_format: Callable[[float], str]) -> Callable[[Any], str] | None:
    """None if the distinct floats among ``values`` print apart through ``float_format``, else
    a cell format giving floats the fewest significant digits that tell them apart."""
    floats = {v for v in values if _real(v)}
    if len({float_format(v) for v in floats}) == len(floats):
        return None
    digits = next(d for d in range(5, 18) if len({f"{v:.{d}g}" for v in floats}) == len(floats))
    if digits > 15:  # (0.3 beside 3 * 0.1: 17 digits would write 0.3 as 0.29999999999999999)
        return repr
    return lambda v: f"{v:.{digits}g}"


def _real(value: Any) -> bool:
    return isinstance(value, float) and not math.isnan(value)


def print_json(value: Any) -> int:
    """Print ``value`` as indented JSON (no NaN: JSON has none); 0, a command's exit code."""
    import json

    print(json.dumps(value, indent=2, allow_nan=False))
    return 0
