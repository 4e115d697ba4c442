"""Experiments and their summaries read from a run index's columns, without parsing run.json.

Each function gives exactly what its run.json-reading twin gives (:func:`animlib.experiments.
group_experiments`, :func:`~animlib.experiments.summarize_runs` by experiment; the grid's in
:mod:`.grid`). The index keeps the values they
read in columns (:mod:`.samples`); an experiment with a run whose run.json holds something the
columns cannot carry exactly (``exact`` false) is computed by the twin from its runs' run.json.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..experiments import (
    NO_STEP,
    ExperimentInfo,
    aggregate_status,
    experiment_meta,
    group_experiments,
    newest_first,
    sample_key,
    summarize_runs,
)
from ..summary_rows import LEFT_OUT, SUMMARY_COLUMNS
from ..text import natural_key
from .query import counted_rows, effective_status, good_rows

if TYPE_CHECKING:
    import pandas as pd

    from .runindex import RunIndex

__all__ = [
    "exact_rows",
    "experiment_summary",
    "experiments",
    "infos_of",
    "left_out_counts",
    "past_budget_candidates",
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
    names.append("experiment_steps")
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
            ("experiment_steps", "max"),
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
            steps=max(group["steps_max"] or 0, group["experiment_steps_max"] or 0),
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
    index: RunIndex,
    *,
    storage_options: dict[str, Any] | None = None,
    include_incomplete: bool = False,
    now: float | None = None,
    damaged: Collection[str] = (),
) -> pd.DataFrame:
    """:func:`animlib.experiments.summarize_runs` by experiment of the index's runs.

    Args:
        index: a run index (refreshed by the caller).
        storage_options: fsspec options for a remote folder (its arrays are read for runs
            whose run.json lacks values).
        include_incomplete: count the runs that are no result too (failed, stale, no step:
            :func:`animlib.summarize`); by default they count only in ``left_out``.
        now: the time deciding ``stale`` (default: now).
        damaged: runs whose arrays cannot be read (:mod:`.checks`): always left out.

    Returns:
        One row per experiment: ``experiment`` and :data:`~animlib.experiments.SUMMARY_COLUMNS`,
        sorted by experiment.
    """
    import pandas as pd

    names = ["clean_correct", "robust", "success", "linf", "l2", "experiment_flip"]
    rows, inexact = sample_rows(index, columns=[*names, "status", "updated", "steps"])
    gone = index.writers_gone
    inexact_runs = infos_of(index, rows, inexact)
    parts = [
        summarize_runs(
            inexact_runs,
            ["experiment"],
            storage_options=storage_options,
            include_incomplete=include_incomplete,
            writers_gone=gone,
            damaged=damaged,
        )
    ]
    exact = exact_rows(rows, inexact)
    if exact.num_rows:
        counted = None if include_incomplete else counted_rows(exact, now, gone)
        if damaged:
            readable = pc.invert(pc.is_in(exact["id"], pa.array(sorted(damaged), pa.string())))
            counted = readable if counted is None else pc.and_(counted, readable)
        parts.append(_summary_of_columns(exact, names, counted))
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(map(len, parts))
        else parts[0]
    )
    rates = {c: float for c in SUMMARY_COLUMNS[1:] if c != LEFT_OUT}
    out = out[["experiment", *SUMMARY_COLUMNS]].astype(rates)
    order = sorted(range(len(out)), key=lambda i: natural_key(str(out["experiment"].iat[i])))
    return out.iloc[order].reset_index(drop=True)


def _summary_of_columns(
    rows: pa.Table, names: list[str], counted: pa.ChunkedArray | None
) -> pd.DataFrame:
    """The summary by experiment of exact ``rows`` (``names``: their outcome columns), over
    the ``counted`` ones (None: all); the others are the experiment's ``left_out``."""
    import pandas as pd

    frame = pd.DataFrame({name: _known(rows[name]) for name in names})
    frame["experiment"] = rows["experiment"].to_pylist()
    every = frame.groupby("experiment", sort=False).size()
    if counted is not None:
        frame = frame[counted.to_numpy(zero_copy_only=False)]
    won = frame[frame["success"] == 1.0]
    groups = frame.groupby("experiment", sort=False)
    table = pd.DataFrame(
        {
            "n": groups.size(),
            "clean_acc": groups["clean_correct"].mean(),
            "robust_acc": groups["robust"].mean(),
            "success_rate": groups["success"].mean(),
        }
    ).reindex(every.index)  # (an experiment whose runs are all left out: n 0, rates NaN)
    table["n"] = table["n"].fillna(0).astype(int)
    won = won.rename(columns={"experiment_flip": "flip_step"})  # (in the experiment's steps)
    medians = won.groupby("experiment", sort=False)[["linf", "l2", "flip_step"]].median()
    for column in ("linf", "l2", "flip_step"):
        table[f"median_{column}"] = medians[column].reindex(table.index)
    table[LEFT_OUT] = every - table["n"]
    return table.rename_axis("experiment").reset_index()


def counted_runs(index: RunIndex, within: Collection[str], now: float | None = None) -> set[str]:
    """The runs of ``within`` :func:`animlib.summarize` counts in its numbers by default
    (finished ones, and running ones still written, with a step), from the index's columns."""
    table, counted, _ = _judged(index, False, now, within)
    return set(table.filter(counted)["id"].to_pylist())


def running_counted(
    index: RunIndex,
    *,
    experiments_only: bool = True,
    now: float | None = None,
    within: Collection[str] | None = None,
) -> tuple[int, int]:
    """How many running runs :func:`animlib.summarize` counts with their steps so far (no
    final result yet), and of how many experiments, from the index's columns.

    Args:
        index: a run index (refreshed by the caller).
        experiments_only: only the runs of experiments (as ``summarize`` by default).
        now: the time deciding ``stale`` (default: now).
        within: only these runs (a summary narrowed to some experiments or a search).

    Returns:
        (runs, experiments); (0, 0) when none runs.
    """
    table, counted, status = _judged(index, experiments_only, now, within)
    running = table.filter(pc.and_(counted, pc.equal(status, "running")))
    return running.num_rows, len(set(running["experiment"].to_pylist()))


def left_out_counts(
    index: RunIndex,
    *,
    experiments_only: bool = True,
    now: float | None = None,
    within: Collection[str] | None = None,
) -> dict[str, int]:
    """How many runs :func:`animlib.summarize` leaves out of its numbers by default, by reason
    (``failed``, ``stale``, ``no step``: :func:`animlib.experiments.left_out_reason`), from the
    index's columns.

    Args:
        index: a run index (refreshed by the caller).
        experiments_only: only the runs of experiments (as ``summarize`` by default).
        now: the time deciding ``stale`` (default: now).
        within: only these runs (a summary narrowed to some experiments or a search).

    Returns:
        The count of each reason found (none: empty).
    """
    _, counted, status = _judged(index, experiments_only, now, within)
    reasons = [
        s if s not in ("finished", "running") else NO_STEP
        for s in status.filter(pc.invert(counted)).to_pylist()
    ]
    return {reason: reasons.count(reason) for reason in dict.fromkeys(reasons)}


def past_budget_candidates(
    index: RunIndex, *, experiments_only: bool = True, within: Collection[str] | None = None
) -> list[str]:
    """The good runs (of experiments only, when asked; ``within`` only, when given) that may
    go past their ``params.eps`` (:func:`animlib.outcomes.past_budget`), from the index's
    ``linf`` and ``params`` columns: only their run.json needs parsing to tell (on 20,000 runs
    that keep their budget, none instead of all).

    Args:
        index: a run index (refreshed by the caller).
        experiments_only: only the runs of experiments.
        within: only these runs.

    Returns:
        Their ids: each run whose L∞ is past half the rounding slack above its ``eps``, or
        whose ``eps`` the index holds as no number (a superset: run.json decides).
    """
    from ..outcomes import BUDGET_SLACK
    from ..params import NUMBER_RE2
    from .query import param_values

    table = good_rows(index.table, columns=["id", "experiment", "linf", "params"])
    if experiments_only:
        table = table.filter(pc.fill_null(pc.not_equal(table["experiment"], ""), False))
    if within is not None:
        table = table.filter(pc.is_in(table["id"], value_set=pa.array(list(within), pa.string())))
    text = param_values(table["params"], "eps")
    numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER_RE2), False)
    eps = pc.cast(pc.if_else(numeric, text, pa.scalar(None, pa.string())), pa.float64())
    # past_budget: linf > eps * (1 + 1e-6) + BUDGET_SLACK with eps > 0; a looser bound here
    maybe = pc.or_kleene(
        pc.invert(numeric), pc.greater(table["linf"], pc.add(eps, BUDGET_SLACK / 2))
    )
    keep = pc.and_kleene(pc.greater(table["linf"], BUDGET_SLACK / 2), maybe)
    return table.filter(pc.fill_null(keep, False))["id"].to_pylist()


def _judged(
    index: RunIndex, experiments_only: bool, now: float | None, within: Collection[str] | None
) -> tuple[pa.Table, Any, Any]:
    """The good rows :func:`animlib.summarize` looks at (of experiments only, when asked;
    ``within`` only, when given), whether it counts each in its numbers, and each one's
    effective status (``stale`` for a running run whose writer is gone)."""
    table = good_rows(index.table, columns=["id", "experiment", "status", "updated", "steps"])
    if experiments_only:
        table = table.filter(pc.fill_null(pc.not_equal(table["experiment"], ""), False))
    if within is not None:
        table = table.filter(pc.is_in(table["id"], value_set=pa.array(list(within), pa.string())))
    gone = index.writers_gone
    return table, counted_rows(table, now, gone), effective_status(table, now, gone)
