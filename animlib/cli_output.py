"""How the CLI's text reaches a terminal: tables in columns, streams that never fail to encode."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from .text import display_width, padded

__all__ = ["escape_unencodable", "summary_text", "table_lines"]


def escape_unencodable() -> None:
    """stdout and stderr write a character their encoding lacks as an escape (``\\xfc``)
    instead of raising UnicodeEncodeError: a run named "PGD-ü" on an ASCII or Latin-1
    terminal (``PYTHONIOENCODING=ascii``, a cp1252 console) crashed ``ls`` mid-table."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="backslashreplace")


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
    """The summary table (pandas) as text in columns that line up in a terminal: wide
    characters ("攻撃") count two cells (pandas counted them one), combining marks none."""
    import pandas as pd

    words = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    cells = table.assign(**{c: table[c].map(_composed) for c in words})
    with pd.option_context("display.unicode.east_asian_width", True):
        return cells.to_string(index=False, float_format=float_format, na_rep="-")


def _composed(value: object) -> object:
    """Text with its combining marks composed where Unicode can (NFC: "e\u0301" is "é", one
    cell, as pandas counts); anything else as it is."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value
