"""run.json's bytes, fast: the parts that do not change between flushes are serialized once."""

from __future__ import annotations

import json
from typing import Any

from . import meta as M
from .errors import RunInputError
from .limits import check_run_json_size

__all__ = ["MetaEncoder"]


class MetaEncoder:
    """Serializes run.json; the parts that do not change between flushes (params, tags, class
    names) are serialized once and reused, so even a big run.json costs little per flush."""

    def __init__(self) -> None:
        self._fragments: dict[str, tuple[Any, str]] = {}

    def encode(self, meta: dict[str, Any], run: str) -> bytes:
        """run.json bytes for ``meta`` (strict JSON, indented like :func:`animlib.meta.dumps`).

        Raises:
            RunInputError: (LIMIT) over ``MAX_RUN_JSON_BYTES``, naming the largest field.
        """
        parts = []
        for key, value in meta.items():
            hit = self._fragments.get(key)
            if hit is None or hit[0] is not value:
                hit = self._fragments[key] = (value, _fragment(key, value))
            parts.append(hit[1])
        data = ("{\n" + ",\n".join(parts) + "\n}\n").encode()
        if len(data) > 2**20:
            largest = max(meta, key=lambda k: len(self._fragments[k][1]))
            check_run_json_size(len(data), run=run, field=largest, error=RunInputError)
        return data


def _fragment(key: Any, value: Any) -> str:
    """One ``"key": value`` line of run.json as :func:`animlib.meta.dumps` indents it (JSON
    scalars straight through ``json.dumps``: they come out the same, with no indenting)."""
    if value is None or type(value) in (bool, int, str):
        text = json.dumps(value)
    else:
        text = M.dumps(value).decode().rstrip("\n").replace("\n", "\n  ")
    return f"  {json.dumps(str(key))}: {text}"
