"""ExperimentInfo: one experiment of a results folder, as ``list_experiments`` returns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .text import short_repr


@dataclass(repr=False)
class ExperimentInfo:
    """One experiment: its id, metadata shared by its runs, and its run ids (by sample)."""

    id: str
    meta: dict[str, Any] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        """``meta[key]``, or ``default``."""
        return self.meta.get(key, default)

    def __repr__(self) -> str:
        """One short line: ``ExperimentInfo(id=..., attack=..., status=..., runs=...,
        steps=...)``, with the name when it is not the id (not every run id and class name)."""
        name = self.get("name")
        return short_repr(
            "ExperimentInfo",
            id=self.id,
            name=None if name == self.id else name,
            attack=self.get("attack"),
            status=self.get("status"),
            runs=len(self.run_ids),
            steps=self.get("steps"),
        )
