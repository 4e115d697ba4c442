"""Which lines the robust-accuracy chart draws: the sweeps, one-value lines only when asked."""

from __future__ import annotations

import pandas as pd

from .text import plural


def one_value_lines(points: pd.DataFrame) -> list[str]:
    """The series of the chart's ``points`` (:func:`animlib.experiment_views.robust_curve`)
    with a single value of the swept parameter (a one-off experiment, a rerun at one value):
    a point each, no line, and at 100 experiments a legend of 46 of them."""
    values = points.groupby("series", sort=False)["value"].nunique()
    return values.index[values < 2].tolist()


def drawn_points(points: pd.DataFrame, *, every: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """The chart's ``points`` it draws, and its one-value series (:func:`one_value_lines`),
    drawn only when ``every``. When no series is a sweep (2 or more values) the one-value ones
    are all there is to draw: all are drawn, none is listed (the chart stays as it was)."""
    single = one_value_lines(points)
    if len(single) == points["series"].nunique():
        return points, []
    return (points if every else points[~points["series"].isin(single)]), single


def left_out_note(points: pd.DataFrame, single: list[str], label: str, toggle: str) -> str:
    """What the page says under the chart of the ``single`` series of ``points`` it left out
    (:func:`drawn_points`): how many, and how to see them (the toggle named ``toggle``, or
    a filter); ``label`` names the swept parameter (Markdown escaped by the caller)."""
    experiments = int(points["series"].isin(single).sum())
    what = plural(experiments, "experiment")
    if experiments != len(single):  # (two of one sweep at one value: one point each)
        what += f" ({plural(len(single), 'line')})"
    return (
        f"Not drawn: {what} tried at a single {label} only (one-offs, reruns: a point each, "
        f"no line). Turn on *{toggle}* to draw them, or filter the table to them (Attack, "
        "Model, Search)."
    )
