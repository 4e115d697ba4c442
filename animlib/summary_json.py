"""``animlib summary --json``: each value as run.json holds it (null, an object, a list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def json_rows(
    table: pd.DataFrame, root: str | None, *, blank_is_null: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The rows of the summary ``table`` as JSON holds them: NaN as null; with the results
    folder ``root`` (the table's columns before ``n`` group its runs), a grouping value run.json
    holds as an object or a list as that object or list (the table, like
    :func:`animlib.summarize`, holds an object as its JSON text); in the columns
    ``blank_is_null``, a value the table shows blank (run.json holds null) as null."""
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    columns = list(table.columns)
    keys = columns[: columns.index("n")] if root is not None and "n" in columns else []
    held = _held_values(root, keys) if root is not None and keys and rows else {}

    def value(key: str, v: Any) -> Any:
        if key in blank_is_null and v == "":
            return None
        return held.get((key, v), v) if isinstance(v, (str, tuple)) else v

    return [{k: value(k, v) for k, v in row.items()} for row in rows]


def _held_values(root: str, keys: Sequence[str]) -> dict[tuple[str, Any], Any]:
    """``(key, the value runs are grouped by)`` -> the object or list run.json holds, for the
    values of ``keys`` some run in ``root`` holds as an object or a list."""
    from .experiments import indexed_runs, lookup
    from .index import open_index

    out: dict[tuple[str, Any], Any] = {}
    for info in indexed_runs(open_index(root)):  # (summarize just refreshed this index)
        meta = info.meta or {}
        for key in keys:
            raw = _raw(meta, key)
            if isinstance(raw, (dict, list)):
                out.setdefault((key, lookup(meta, key)), raw)
    return out


def _raw(meta: dict[str, Any], key: str) -> Any:
    """``meta[key]`` as stored (``key`` may be dotted: ``params.eps``)."""
    value: Any = meta
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
