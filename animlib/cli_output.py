"""How the CLI's text reaches a terminal: tables in columns, streams that never fail to encode."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["escape_unencodable", "table_lines"]


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
    names never shift the columns); columns in ``right`` are right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in rows)]
