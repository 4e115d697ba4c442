"""What a summary's groups pool besides their numbers: several models, reruns of one image."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .caller import warn_caller
from .summary_scope import MIXED_MODELS, mixed_models
from .text import plural, printable

RERUNS = "reruns"  # summary.attrs: {group label: {"images": n, "experiments": [ids]}}
# one image "attacked alike" by two experiments: the same attack, model, parameters and target
# (a targeted run is another attack than an untargeted one)
ALIKE = ("attack", "model", "params", "target_label")
RERUNS_NOTE = "groups holding reruns"  # how the note and the warning begin


def shown(value: Any) -> str:
    """A group's value as a note names it: a missing one (a plain run's experiment) as "(none)"."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "(none)" if missing else printable(value)


def group_label(group: Sequence[Any]) -> str:
    """A summary row as notes name it: its ``by`` values, "(none)" for a missing one."""
    return " ".join(shown(value) for value in group)


class GroupPools:
    """What each group of a summary pools among the runs it counts: their models, and the
    experiments that attacked each of its images alike (``pgd`` and its rerun ``pgd-2``, made
    with ``if_exists="new"``, count the image twice)."""

    def __init__(self, keys: Sequence[str]) -> None:
        """``keys``: the summary's ``by`` keys (with ``experiment`` among them, no row pools
        two experiments' runs)."""
        from .experiments import image_key, lookup

        self._models: dict[tuple, set] = {}
        self._images: dict[tuple, dict[tuple, set[str]]] = {}  # group -> image -> experiments
        self._reruns = "experiment" not in keys
        self._image_key, self._lookup = image_key, lookup

    def add(self, group: tuple, meta: dict[str, Any] | None) -> None:
        """One run of ``group``: its run.json ``meta`` when the summary counts it, else None."""
        models = self._models.setdefault(group, set())
        if meta is None:
            return
        models.add(meta.get("model"))
        if self._reruns and meta.get("experiment") and meta.get("sample") is not None:
            alike = (self._image_key(meta), *(self._lookup(meta, key) for key in ALIKE))
            images = self._images.setdefault(group, {})
            images.setdefault(alike, set()).add(str(meta["experiment"]))

    def attrs(self, order: Sequence[tuple]) -> dict[str, Any]:
        """The summary's ``attrs`` of groups in ``order`` (its rows): :data:`MIXED_MODELS`
        (keyed as before: the values joined by spaces) and :data:`RERUNS`."""
        labels = [" ".join(map(str, group)) for group in order]
        reruns = {}
        for group in order:
            twice = {k: e for k, e in self._images.get(group, {}).items() if len(e) > 1}
            if twice:
                experiments = sorted(set().union(*twice.values()))
                reruns[group_label(group)] = {"images": len(twice), "experiments": experiments}
        models = mixed_models(labels, [self._models[g] for g in order])
        return {MIXED_MODELS: models, RERUNS: reruns}


def reruns_text(reruns: dict[str, dict[str, Any]], apart: str, most: int = 3) -> str:
    """What the CLI's note and :func:`animlib.summarize`'s warning say of a summary's
    :data:`RERUNS` (``apart``: how to keep the experiments apart, as the caller asks)."""
    named = [
        f"{label} ({plural(held['images'], 'image')} in {', '.join(held['experiments'])})"
        for label, held in list(reruns.items())[:most]
    ]
    more = f" and {len(reruns) - most} more" if len(reruns) > most else ""
    return (
        f"{RERUNS_NOTE} (one image attacked alike by several experiments) count it more than "
        f"once: {'; '.join(named)}{more}; {apart} keeps them apart"
    )


def warn_reruns(table: Any) -> None:
    """A ``UserWarning`` at the caller's line naming the groups of a summary ``table`` that
    hold reruns (its ``attrs["reruns"]``), as the CLI's note does; none without."""
    if reruns := table.attrs.get(RERUNS):
        warn_caller(reruns_text(reruns, 'by="experiment"') + ' (table.attrs["reruns"])')
