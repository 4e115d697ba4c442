"""Which experiments the experiments page's images x experiments grid starts with: one per
sweep at the value of the swept parameter where the sweeps differ most, preferring finished
sweeps whose runs can be judged over one-off, running, killed or failed experiments."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

from .sweeps import EPS, sweep_keys

# how the grid's start prefers an experiment (lower first): a finished sweep over two or more
# values whose runs can be judged (labels and confidences), a finished experiment that can be
# judged, one still running with judged runs so far, then the rest (failed, killed or stale,
# no step stored, no labels)
SWEEP, FINISHED, RUNNING, OTHER = 0, 1, 2, 3


def default_grid(
    frame: pd.DataFrame,
    limit: int,
    *,
    column: str = EPS,
    images: Mapping[str, str] | None = None,
) -> tuple[list[str], float | None]:
    """The experiments the images x experiments grid starts with: one per sweep at the value
    (of the swept parameter) most sweeps share, so the grid answers "which attack works best
    on which images". Of those values, the one where the sweeps' robust accuracies differ most
    (then: are nearest 50 %, where images are neither all broken nor all intact). Real sweeps
    come first: finished experiments that can be judged, of sweeps over two or more values
    (:func:`preference`); one-off, running, failed or killed experiments count only where no
    two real sweeps share a value, and fill the grid after them. Without a value two sweeps
    share, the table's first ``limit`` rows, the preferred ones first.

    Args:
        frame: Rows of :func:`~animlib.experiment_views.experiment_table` (filtered or not),
            in its order.
        limit: The most experiments to pick.
        column: The frame's column of the swept parameter
            (:func:`~animlib.experiment_views.param_column`).
        images: Experiment id -> a key of the images it attacked
            (:func:`animlib.index.grid.image_sets`): sweeps are counted, and taken, on
            one set of images (see :func:`experiments_at`).

    Returns:
        The experiment ids, and the value they share (None: the first rows were taken).
    """
    ranked = _ranked(frame, column)
    known = ranked.dropna(subset=[column])
    on = pd.Series([(images or {}).get(e, "") for e in known["experiment"]], index=known.index)
    for worst in (SWEEP, FINISHED, RUNNING, OTHER):  # the best experiments two sweeps share
        pool = known[known["tier"] <= worst].assign(images=on)
        for keys in ([column, "images"], [column]):  # two sweeps on one set of images, or any
            per_value = pool.groupby(keys)["sweep"].nunique().groupby(level=0).max()
            if len(per_value) and per_value.max() >= 2:
                most = per_value[per_value == per_value.max()].index
                value = _most_telling(pool[pool[column].isin(most)], column)
                return experiments_at(frame, value, limit, column=column, images=images), value
    return list(ranked["experiment"][:limit]), None


def _most_telling(shared: pd.DataFrame, column: str) -> float:
    """Of the values in ``shared``, the one where the robust accuracies differ most, then
    are nearest 50 %."""
    acc = shared.groupby(column)["robust_acc"]
    rank = pd.DataFrame(
        {
            "spread": -(acc.max() - acc.min()).fillna(0.0).round(6),
            "middle": (acc.mean() - 0.5).abs().fillna(math.inf),
        }
    )
    return float(rank.sort_values(["spread", "middle"], kind="stable").index[0])


def experiments_at(
    frame: pd.DataFrame,
    value: float,
    limit: int,
    *,
    column: str = EPS,
    images: Mapping[str, str] | None = None,
    first: str | None = None,
    among: Collection[str] | None = None,
) -> list[str]:
    """One experiment per sweep whose swept parameter (``column``) is ``value`` (a click on a
    point of the chart puts them in the grid): the preferred ones first (:func:`preference`),
    then in the frame's order. With ``images``, only those on the images most of them attacked
    (those ``first`` attacked), when two or more did: experiments on other images share no row.

    Args:
        frame: Rows of :func:`~animlib.experiment_views.experiment_table` (filtered or not),
            in its order.
        value: The swept parameter's value.
        limit: The most experiments to pick.
        column: The frame's column of the swept parameter.
        images: Experiment id -> a key of the images it attacked
            (:func:`animlib.index.grid.image_sets`).
        first: The experiment whose images count (the point clicked), if any.
        among: Only these experiments (the chart's drawn ones: not the one-offs it hides).

    Returns:
        Their ids.
    """
    known = _ranked(frame, column).dropna(subset=[column])
    if among is not None:
        known = known[known["experiment"].isin(list(among))]
    at_value = known[np.isclose(known[column].astype(float), value, rtol=1e-9, atol=0.0)]
    at_value = at_value.drop_duplicates("sweep")
    if images:
        keys = [images.get(e, "") for e in at_value["experiment"]]  # (as default_grid's)
        counts = Counter(keys)  # (in the order first seen: the preferred rows' images win ties)
        target = images.get(first or "") or max(counts, key=counts.__getitem__, default="")
        if counts.get(target, 0) >= 2:
            at_value = at_value[[k == target for k in keys]]
    return list(at_value["experiment"][:limit])


def preference(
    frame: pd.DataFrame, column: str = EPS, sweeps: pd.Series | None = None
) -> np.ndarray:
    """How the grid's start prefers each row's experiment, lower first: :data:`SWEEP` (finished,
    its runs judged, and its sweep has finished judged experiments at two or more values),
    :data:`FINISHED`, :data:`RUNNING` (judged runs so far), :data:`OTHER` (failed, killed or
    stale, no step, no labels or confidences: nothing to judge). Columns the frame lacks
    (``status``, ``steps``, ``n``) are taken as a finished experiment's; ``sweeps``: the rows'
    sweep keys when the caller has them (:func:`_sweeps`)."""
    index = frame.index
    status = frame["status"] if "status" in frame else pd.Series("finished", index=index)
    n = pd.to_numeric(frame["n"], errors="coerce") if "n" in frame else pd.Series(1, index=index)
    steps = frame["steps"] if "steps" in frame else pd.Series(1, index=index)
    judged = frame["robust_acc"].notna() & (n > 0)
    done = judged & (status == "finished") & (pd.to_numeric(steps, errors="coerce") > 0)
    sweeps = _sweeps(frame, column) if sweeps is None else sweeps
    seen: dict[tuple[str, ...], set[float]] = {}  # the values of each sweep's finished ones
    for key, value, ok in zip(sweeps, pd.to_numeric(frame[column]), done, strict=True):
        if ok and not math.isnan(value):
            seen.setdefault(key, set()).add(float(value))
    real = done & pd.Series([len(seen.get(key, ())) > 1 for key in sweeps], index=index)
    live = judged & (status == "running")
    return np.select([real, done, live], [SWEEP, FINISHED, RUNNING], default=OTHER)


def _sweeps(frame: pd.DataFrame, column: str) -> pd.Series:
    """Each row's sweep over ``column`` (:func:`~animlib.sweeps.sweep_keys`: its id with the
    value left out, or its other parameters)."""
    return pd.Series(sweep_keys(frame, column), index=frame.index, dtype=object)


def _ranked(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The frame with each row's sweep (``sweep``) and preference (``tier``), the preferred
    rows first (then in the frame's order)."""
    sweeps = _sweeps(frame, column)
    ranked = frame.assign(sweep=sweeps, tier=preference(frame, column, sweeps))
    return ranked.sort_values("tier", kind="stable")
