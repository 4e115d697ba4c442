"""Tables and charts of the experiments page, computed without Streamlit."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .experiments import SUMMARY_COLUMNS, ExperimentInfo, sample_key
from .table_filter import matching_rows
from .text import natural_key

TABLE_COLUMNS = ["experiment", "attack", "model", "eps", "status", "steps", *SUMMARY_COLUMNS]


def _eps(params: dict[str, Any]) -> float | None:
    value = params.get("eps", params.get("epsilon"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def experiment_table(experiments: Sequence[ExperimentInfo], summary: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment: its attack, model, ε (``params.eps``), status, steps and the
    :func:`animlib.summarize` columns. The experiments of one sweep (:func:`sweep_of`) are
    together in ε order, the sweep with the newest experiment first."""
    stats = summary.set_index("experiment") if len(summary) else summary
    rows = []
    for exp in _sweep_order(experiments):
        row = {
            "experiment": exp.id,
            "attack": exp.get("attack") or "",
            "model": exp.get("model") or "",
            "eps": _eps(exp.get("params") or {}),
            "status": exp.get("status"),
            "steps": exp.get("steps"),
        }
        for col in SUMMARY_COLUMNS:
            row[col] = stats.loc[exp.id, col] if exp.id in stats.index else math.nan
        rows.append(row)
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    frame["eps"] = pd.to_numeric(frame["eps"], errors="coerce")
    return frame


def sweep_key(experiment: str, attack: Any, model: Any, eps: float | None) -> tuple[str, ...]:
    """The sweep an experiment belongs to: its attack, model and id without its ε."""
    sweep = experiment if eps is None else sweep_of(experiment, eps)
    return (str(attack or ""), str(model or ""), sweep)


def _sweep_key(exp: ExperimentInfo) -> tuple[str, ...]:
    eps = _eps(exp.get("params") or {})
    return sweep_key(exp.id, exp.get("attack"), exp.get("model"), eps)


def _sweep_order(experiments: Sequence[ExperimentInfo]) -> list[ExperimentInfo]:
    """Sweeps newest first (by their newest experiment), each in ε order (no ε: last)."""
    sweep = {exp.id: _sweep_key(exp) for exp in experiments}
    newest: dict[tuple[str, ...], str] = {}
    for exp in experiments:
        key = sweep[exp.id]
        newest[key] = max(newest.get(key, ""), str(exp.get("created") or ""))

    def eps_order(exp: ExperimentInfo) -> tuple[bool, float, str]:
        eps = _eps(exp.get("params") or {})
        return (eps is None, eps or 0.0, exp.id)

    by_eps = sorted(experiments, key=eps_order)
    by_sweep = sorted(by_eps, key=lambda e: sweep[e.id])
    return sorted(by_sweep, key=lambda e: newest[sweep[e.id]], reverse=True)


def default_grid(frame: pd.DataFrame, limit: int) -> tuple[list[str], float | None]:
    """The experiments the images x experiments grid starts with: one per sweep at the ε most
    sweeps share, so the grid answers "which attack works best on which images". Of those ε,
    the one where the sweeps' robust accuracies differ most (then: are nearest 50 %, where
    images are neither all broken nor all intact); without an ε two sweeps share, the table's
    first ``limit`` rows.

    Args:
        frame: Rows of :func:`experiment_table` (filtered or not), in its order.
        limit: The most experiments to pick.

    Returns:
        The experiment ids, and the ε they share (None: the first rows were taken).
    """
    known = frame.dropna(subset=["eps"])
    sweeps = [
        sweep_key(str(row.experiment), row.attack, row.model, float(row.eps))
        for row in known.itertuples()
    ]
    known = known.assign(sweep=sweeps)
    per_eps = known.groupby("eps")["sweep"].nunique()
    if known.empty or per_eps.max() < 2:
        return list(frame["experiment"][:limit]), None
    shared = known[known["eps"].isin(per_eps[per_eps == per_eps.max()].index)]
    acc = shared.groupby("eps")["robust_acc"]
    rank = pd.DataFrame(
        {
            "spread": -(acc.max() - acc.min()).fillna(0.0).round(6),
            "middle": (acc.mean() - 0.5).abs().fillna(math.inf),
        }
    )
    eps = float(rank.sort_values(["spread", "middle"], kind="stable").index[0])
    at_eps = known[known["eps"] == eps].drop_duplicates("sweep")
    return list(at_eps["experiment"][:limit]), eps


def filter_experiments(
    frame: pd.DataFrame,
    *,
    attacks: Sequence[str] = (),
    models: Sequence[str] = (),
    text: str = "",
) -> pd.DataFrame:
    """Rows matching every given filter (an empty filter is no constraint)."""
    chosen = {"attack": attacks, "model": models}
    mask = matching_rows(frame, chosen, text, ("experiment", "attack", "model"))
    return frame[mask]


def robust_curve(frame: pd.DataFrame) -> pd.DataFrame:
    """Points of the robust-accuracy-against-ε chart: one per experiment with an ε, one series
    per attack (per attack and model when several models are shown). Where one attack has
    several experiments at the same ε (the same attack from two libraries, or with other
    settings), its series is split by sweep: the experiment ids with their ε left out
    (``art-pgd-eps0.1`` and ``art-pgd-eps0.2`` form the sweep ``art-pgd-eps*``), so no line
    zig-zags between two experiments of one ε."""
    known = frame.dropna(subset=["eps", "robust_acc"])
    several = known["model"].nunique() > 1
    series = known["attack"] + (" · " + known["model"] if several else "")
    series = _split_by_sweep(series, known["experiment"], known["eps"])
    return pd.DataFrame(
        {
            "series": series.to_numpy(),
            "eps": known["eps"].to_numpy(),
            "robust_acc": known["robust_acc"].to_numpy(),
            "experiment": known["experiment"].to_numpy(),
            "n": known["n"].to_numpy(),
        }
    ).sort_values(["series", "eps"])


_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\d.])")


def sweep_of(experiment: str, eps: float) -> str:
    """The experiment id with its ε replaced by ``*``: the last number equal to ``eps`` (or to
    ``255 eps``, as in ``eps8`` for 8/255: ``v8-eps8`` is ``v8-eps*``); the id itself when it
    names no such number."""
    for m in reversed(list(_NUMBER.finditer(experiment))):
        value = float(m.group())
        if math.isclose(value, eps, rel_tol=1e-6) or math.isclose(value, 255 * eps, rel_tol=1e-3):
            return experiment[: m.start()] + "*" + experiment[m.end() :]
    return experiment


def _split_by_sweep(series: pd.Series, experiments: pd.Series, eps: pd.Series) -> pd.Series:
    """``series``, with each one holding two experiments of one ε split by :func:`sweep_of`."""
    out = series.copy()
    for name, members in series.groupby(series).groups.items():
        if not eps.loc[members].duplicated().any():
            continue
        for row in members:
            out.loc[row] = f"{name} · {sweep_of(experiments.loc[row], float(eps.loc[row]))}"
    return out


# long dashes: a line drawn over an equal one leaves gaps where the one below shows
DASHES = [[1, 0], [9, 6], [3, 5], [14, 4, 3, 4], [2, 8], [6, 3]]
LEGEND_COLUMNS = 3  # the legend of many sweeps wraps instead of running off the chart
FADED = 0.12  # opacity of the series not picked in the legend
CHART_HEIGHT = 340  # pixels, with the axes and one row of legend
LEGEND_ROW_HEIGHT = 30  # pixels per more row of legend
LEGEND_LIMIT = 45  # series named in the legend (then "... N entries"; a line's tooltip names it)


def robust_chart(points: pd.DataFrame) -> Any:
    """An Altair chart of robust accuracy against ε, a line with points per series. Series
    differ in colour, dash and point shape: two attacks with the same accuracies (a line hidden
    under another) still both show. The legend wraps into columns; clicking a series in it
    (shift: several) fades the others."""
    import altair as alt

    columns = min(max(points["series"].nunique(), 1), LEGEND_COLUMNS)
    legend = alt.Legend(  # names are long
        orient="bottom", labelLimit=400, columns=columns, symbolLimit=LEGEND_LIMIT
    )
    pick = alt.selection_point(name="pick", fields=["series"], bind="legend")
    order = sorted(points["series"].unique(), key=natural_key)  # m2 before m10 in the legend
    base = alt.Chart(points).encode(
        x=alt.X("eps:Q", title="ε (params.eps)"),
        y=alt.Y("robust_acc:Q", title="robust accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("series:N", title=None, legend=legend, sort=order),
        strokeDash=alt.StrokeDash(
            "series:N", title=None, legend=legend, scale=alt.Scale(range=DASHES), sort=order
        ),
        shape=alt.Shape("series:N", title=None, legend=legend, sort=order),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(FADED)),
        tooltip=[
            "series:N",
            "experiment:N",
            alt.Tooltip("eps:Q", format=".4g"),
            alt.Tooltip("robust_acc:Q", format=".3f"),
            "n:Q",
        ],
    )
    points_ = base.mark_point(filled=False, size=70, strokeWidth=2)
    chart = alt.layer(base.mark_line().add_params(pick), points_)
    named = min(points["series"].nunique(), LEGEND_LIMIT + 1)  # + the "... N entries" line
    rows = math.ceil(named / columns) if len(points) else 1
    # the chart is fitted to the page (legend included): each row of the legend adds height
    return chart.properties(height=CHART_HEIGHT + LEGEND_ROW_HEIGHT * max(rows - 1, 0))


def smallest_eps(
    outcomes: pd.DataFrame, points: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per image and sweep, the smallest ε at which the attack fooled the model: the answer
    to "which attack needs the least on which image" a sweep gives; and per sweep the ε that
    fooled the model on at least half of the images it attacked.

    Args:
        outcomes: One row per run (:func:`animlib.experiment_grid.outcomes`: ``sample``,
            ``true_class``, ``experiment``, ``success``).
        points: :func:`robust_curve` of the experiments shown: each experiment's ε and its
            series (the chart's names, one per sweep).

    Returns:
        The table: one row per image (``sample``, ``true class``), by sample, and one column
        per series (in natural order): the smallest ε of that sweep whose run fooled the model
        on the image; NaN when none of the sweep's ε did (or it did not attack the image).
        And per series with an image: the lower median of those smallest ε over the images it
        attacked (always an ε the sweep tried), ``> 0.2`` (its largest) when no ε fooled half.
    """
    images, table = _smallest(outcomes, points)
    largest = points.groupby("series")["eps"].max()
    medians = {}
    for series, values in table.items():
        attacked = values.dropna()  # inf: attacked, never fooled
        if len(attacked):
            median = float(np.quantile(attacked.to_numpy(), 0.5, method="lower"))
            medians[series] = f"> {largest[series]:.4g}" if math.isinf(median) else f"{median:.4g}"
    shown = table.replace(np.inf, np.nan)
    out = images.set_index("sample").rename(columns={"true_class": "true class"}).join(shown)
    return out.sort_index(key=lambda s: s.map(sample_key)).reset_index(), medians


def _smallest(outcomes: pd.DataFrame, points: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The images (sample, true_class) and, by sample and series, the smallest ε that fooled
    the model: inf where the sweep attacked the image and no ε fooled it, NaN where it did
    not attack it."""
    sweep = points.set_index("experiment")[["series", "eps"]].rename(columns={"eps": "_eps"})
    runs = outcomes.drop(columns=["series", "_eps"], errors="ignore").join(sweep, on="experiment")
    runs = runs[runs["series"].notna()]
    images = runs[["sample", "true_class"]].drop_duplicates("sample")
    fooled = runs["success"].fillna(False).astype(bool)
    runs = runs.assign(_eps=runs["_eps"].where(fooled, np.inf))
    table = runs.pivot_table(
        index="sample", columns="series", values="_eps", aggfunc="min", dropna=False
    )
    series = sorted(set(runs["series"]), key=natural_key)
    table = table.reindex(index=images["sample"], columns=series)
    table.columns.name = None
    return images, table
