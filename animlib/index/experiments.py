"""Experiments and their summaries read from a run index's columns, without parsing run.json.

Each function gives exactly what its run.json-reading twin gives (:func:`animlib.experiments.
group_experiments`, :func:`~animlib.experiments.summarize_runs` by experiment; the grid's in
:mod:`.grid`). The index keeps the values they
read in columns (:mod:`.samples`); an experiment with a run whose run.json holds something the
columns cannot carry exactly (``exact`` false) is computed by the twin from its runs' run.json.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..experiments import (
    SUMMARY_COLUMNS,
    ExperimentInfo,
    aggregate_status,
    experiment_meta,
    group_experiments,
    newest_first,
    sample_key,
    summarize_runs,
)
from ..text import natural_key
from .query import effective_status

if TYPE_CHECKING:
    import pandas as pd

    from .runindex import RunIndex

__all__ = [
    "exact_rows",
    "experiment_summary",
    "experiments",
    "infos_of",
    "sample_rows",
    "sample_value",
]


def sample_rows(
    index: RunIndex, experiments: Sequence[str] | None = None, columns: Sequence[str] = ()
) -> tuple[pa.Table, set[str]]:
    """The good runs of ``experiments`` (default: of every experiment), in index order.

    Args:
        index: a run index.
        experiments: the experiments wanted.
        columns: the columns kept besides ``id``, ``experiment`` and ``exact``.

    Returns:
        Their rows, and the experiments to compute from run.json (a run not ``exact``).
    """
    table = index.table
    keep = pc.is_null(table["error"])
    if experiments is None:
        named = pc.not_equal(table["experiment"], "")
    else:
        named = pc.is_in(table["experiment"], value_set=pa.array(list(experiments), pa.string()))
    keep = pc.and_(keep, pc.fill_null(named, False))
    wanted = list(dict.fromkeys(["id", "experiment", "exact", *columns]))
    rows = table.select(wanted).filter(keep)
    inexact = rows.filter(pc.invert(pc.fill_null(rows["exact"], False)))["experiment"]
    return rows, set(inexact.to_pylist())


def exact_rows(rows: pa.Table, inexact: set[str]) -> pa.Table:
    """The rows of :func:`sample_rows` that are read from the columns (not of ``inexact``)."""
    if not inexact:
        return rows
    return rows.filter(pc.invert(pc.is_in(rows["experiment"], pa.array(sorted(inexact)))))


def infos_of(index: RunIndex, rows: pa.Table, experiments: set[str]) -> list[Any]:
    """The RunInfo of the rows of ``experiments`` (their run.json parsed), in index order."""
    if not experiments:
        return []
    on = pc.is_in(rows["experiment"], value_set=pa.array(sorted(experiments), pa.string()))
    return index.infos(rows.filter(on)["id"].to_pylist())


def sample_value(text: str | None) -> Any:
    """A sample id from its JSON (a number's JSON is its digits: read as such, 5x quicker)."""
    if text is None:
        return None
    return int(text) if text[0] in "-0123456789" else json.loads(text)


def experiments(index: RunIndex, now: float | None = None) -> list[ExperimentInfo]:
    """:func:`animlib.experiments.group_experiments` of the index's runs.

    Args:
        index: a run index (refreshed by the caller).
        now: the time deciding ``stale`` (default: now).

    Returns:
        One ExperimentInfo per experiment, newest first.
    """
    names = ["sample", "status", "updated", "steps", "created_key", "updated_key", "targeted"]
    rows, inexact = sample_rows(index, columns=names)
    gone = index.writers_gone
    rows = rows.append_column("effective", effective_status(rows, now, gone))
    out = group_experiments(infos_of(index, rows, inexact), writers_gone=gone)
    groups = _in_sample_order(exact_rows(rows, inexact)).group_by("experiment", use_threads=False)
    aggregates = groups.aggregate(
        [
            ("id", "list"),
            ("targeted", "any"),
            ("effective", "distinct"),
            ("steps", "max"),
            ("created_key", "min"),
            ("updated_key", "max"),
        ]
    ).to_pylist()
    metas = {i.id: i.meta or {} for i in index.infos([g["id_list"][0] for g in aggregates])}
    for group in aggregates:
        run_ids = group["id_list"]
        meta = experiment_meta(
            metas.get(run_ids[0], {}),
            n_runs=len(run_ids),
            targeted=bool(group["targeted_any"]),
            status=aggregate_status(group["effective_distinct"]),
            steps=group["steps_max"] or 0,
            created=group["created_key_min"],
            updated=group["updated_key_max"],
        )
        out.append(ExperimentInfo(group["experiment"], meta, run_ids))
    return newest_first(out)


def _in_sample_order(rows: pa.Table) -> pa.Table:
    """``rows`` by experiment, then sample as :func:`~animlib.experiments.sample_key` orders
    samples, then id; empty times made null (an experiment's times leave them out)."""
    samples = pc.unique(rows["sample"]).to_pylist()  # ordered once per distinct sample
    samples.sort(key=lambda text: sample_key(sample_value(text)))
    rank = pc.index_in(rows["sample"], value_set=pa.array(samples, pa.string()))
    for name in ("created_key", "updated_key"):
        column = rows[name]
        empty = pc.fill_null(pc.equal(column, ""), False)
        rows = rows.set_column(
            rows.schema.get_field_index(name), name, pc.if_else(empty, None, column)
        )
    rows = rows.append_column("rank", rank)
    return rows.sort_by([("experiment", "ascending"), ("rank", "ascending"), ("id", "ascending")])


def _known(column: pa.ChunkedArray) -> np.ndarray:
    """Floats of a bool or number column, NaN where null or not finite."""
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return np.where(np.isfinite(values), values, np.nan)


def experiment_summary(
    index: RunIndex, *, storage_options: dict[str, Any] | None = None
) -> pd.DataFrame:
    """:func:`animlib.experiments.summarize_runs` by experiment of the index's runs.

    Args:
        index: a run index (refreshed by the caller).
        storage_options: fsspec options for a remote folder (its arrays are read for runs
            whose run.json lacks values).

    Returns:
        One row per experiment: ``experiment`` and :data:`~animlib.experiments.SUMMARY_COLUMNS`,
        sorted by experiment.
    """
    import pandas as pd

    names = ["clean_correct", "robust", "success", "linf", "l2", "flip_step"]
    rows, inexact = sample_rows(index, columns=names)
    inexact_runs = infos_of(index, rows, inexact)
    parts = [summarize_runs(inexact_runs, ["experiment"], storage_options=storage_options)]
    exact = exact_rows(rows, inexact)
    if exact.num_rows:
        frame = pd.DataFrame({name: _known(exact[name]) for name in names})
        frame["experiment"] = exact["experiment"].to_pylist()
        won = frame[frame["success"] == 1.0]
        groups = frame.groupby("experiment", sort=False)
        table = pd.DataFrame(
            {
                "n": groups.size(),
                "clean_acc": groups["clean_correct"].mean(),
                "robust_acc": groups["robust"].mean(),
                "success_rate": groups["success"].mean(),
            }
        )
        medians = won.groupby("experiment", sort=False)[["linf", "l2", "flip_step"]].median()
        for column in ("linf", "l2", "flip_step"):
            table[f"median_{column}"] = medians[column].reindex(table.index)
        parts.append(table.rename_axis("experiment").reset_index())
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(map(len, parts))
        else parts[0]
    )
    out = out[["experiment", *SUMMARY_COLUMNS]].astype({c: float for c in SUMMARY_COLUMNS[1:]})
    order = sorted(range(len(out)), key=lambda i: natural_key(str(out["experiment"].iat[i])))
    return out.iloc[order].reset_index(drop=True)
