"""The experiments grid read from a run index's columns, without parsing run.json.

Each function gives exactly what its run.json-reading twin in :mod:`animlib.experiment_grid`
gives (see :mod:`.experiments` for how an experiment the columns cannot carry is read).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..experiment_grid import (
    OUTCOME_COLUMNS,
    GridRow,
    class_name,
    outcome_columns_frame,
    row_label,
    rows_of,
    run_outcome,
    sample_label,
)
from ..experiments import image_key
from ..outcomes import shown_outcome
from .experiments import exact_rows, infos_of, sample_rows, sample_value
from .query import good_rows

if TYPE_CHECKING:
    import pandas as pd

    from .runindex import RunIndex

__all__ = ["grid_rows", "image_sets", "outcomes"]

# the index column of each outcome column that is read as it is
_OUTCOME_SOURCES = {
    **{c: c for c in ("sample", "true_label", "target_label", "experiment", "attack", "model")},
    "eps": "eps",
    "run": "id",
    **{c: c for c in ("success", "final_pred", "linf", "l2", "image")},
    "flip_step": "experiment_flip",  # (a paused sample's, in its experiment's steps)
}


class _Classes(dict):
    """Class lists parsed from the index's ``classes`` JSON, each once."""

    def __missing__(self, text: str | None) -> list[Any] | None:
        value = self[text] = None if text is None else json.loads(text)
        return value


def grid_rows(index: RunIndex, experiments: Sequence[str]) -> list[GridRow]:
    """:func:`animlib.experiment_grid.grid_rows` of the index's runs.

    Args:
        index: a run index (refreshed by the caller).
        experiments: the grid's experiments.

    Returns:
        One row per source image, by sample.
    """
    names = ["image", "sample", "classes", "true_label", "success", "experiment_flip"]
    rows, inexact = sample_rows(index, experiments, columns=names)
    infos = {i.id: i for i in infos_of(index, rows, inexact)}
    classes, true_names = _Classes(), {}  # (class list, label) -> the true class's name

    def runs() -> Any:
        listed = [rows[c].to_pylist() for c in ["id", "experiment", *names]]
        for run_id, exp, key, sample, names_text, true, success, flip in zip(*listed, strict=True):
            if exp in inexact:
                meta = infos[run_id].meta or {}
                sample, true = meta.get("sample"), meta.get("true_label")
                key, found = image_key(meta), meta.get("class_names")
                success, flip, _ = shown_outcome(meta)
                label = row_label(sample, found, true)
            else:
                sample, at = sample_value(sample), (names_text, true)
                if at not in true_names:  # (each class list's names made unique once)
                    true_names[at] = class_name(classes[names_text] or [], true)
                label = sample_label(sample, true_names[at])
            yield run_id, exp, key, sample, label, success, flip

    return rows_of(runs())


def outcomes(index: RunIndex, experiments: Sequence[str]) -> pd.DataFrame:
    """:func:`animlib.experiment_grid.outcomes` of the index's runs.

    Args:
        index: a run index (refreshed by the caller).
        experiments: the grid's experiments, in its order.

    Returns:
        One row per run, by sample, then in the order of ``experiments``.
    """
    names = ["classes", *(k for k in _OUTCOME_SOURCES.values() if k not in ("id", "experiment"))]
    every, inexact = sample_rows(index, experiments, columns=names)
    rows = exact_rows(every, inexact)
    columns = {c: rows[k].to_pylist() for c, k in _OUTCOME_SOURCES.items()}
    columns["sample"] = [sample_value(s) for s in columns["sample"]]
    columns["model"] = [m or None for m in columns["model"]]  # (the index's "": none)
    texts = rows["classes"].to_pylist()
    names_of, classes = {}, _Classes()  # (class list, label) -> its name, looked up once
    for name, label in (
        ("true_class", "true_label"),
        ("target_class", "target_label"),
        ("final_class", "final_pred"),
    ):
        keys = list(zip(texts, columns[label], strict=True))
        for key in set(keys) - names_of.keys():
            names_of[key] = class_name(classes[key[0]] or [], key[1])
        columns[name] = [names_of[k] for k in keys]
    for row in (run_outcome(info) for info in infos_of(index, every, inexact)):
        for c in OUTCOME_COLUMNS:
            columns[c].append(row[c])
    return outcome_columns_frame(columns, {exp: i for i, exp in enumerate(experiments)})


def image_sets(index: RunIndex) -> dict[str, str]:
    """Which images each experiment attacked, as a key equal for experiments on the same
    images (the sorted source names, else clean-image hashes, of its runs), from the index's
    columns: the grid's start keeps to experiments on one set of images (sweeps of other
    models on other images sharing sample ids left every row half empty).

    Args:
        index: a run index (refreshed by the caller).

    Returns:
        Experiment id -> its images' key.
    """
    rows = good_rows(index.table, columns=["experiment", "source", "original"])
    columns = (rows[c].to_pylist() for c in ("experiment", "source", "original"))
    images: dict[str, set[str]] = {}
    for experiment, source, original in zip(*columns, strict=True):
        if experiment:
            images.setdefault(experiment, set()).add(source or original or "")
    return {e: _digest(sorted(keys)) for e, keys in images.items()}


def _digest(keys: list[str]) -> str:
    return hashlib.sha1("\0".join(keys).encode()).hexdigest()[:16]
