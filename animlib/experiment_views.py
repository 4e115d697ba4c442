"""Tables and charts of the experiments page, computed without Streamlit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .experiments import SUMMARY_COLUMNS, ExperimentInfo
from .table_filter import matching_rows

TABLE_COLUMNS = ["experiment", "attack", "model", "eps", "status", "steps", *SUMMARY_COLUMNS]


def _eps(params: dict[str, Any]) -> float | None:
    value = params.get("eps", params.get("epsilon"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def experiment_table(experiments: Sequence[ExperimentInfo], summary: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment: its attack, model, ε (``params.eps``), status, steps and the
    :func:`animlib.summarize` columns (newest experiments first)."""
    stats = summary.set_index("experiment") if len(summary) else summary
    rows = []
    for exp in experiments:
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
    per attack (per attack and model when several models are shown)."""
    known = frame.dropna(subset=["eps", "robust_acc"])
    several = known["model"].nunique() > 1
    series = known["attack"] + (" · " + known["model"] if several else "")
    return pd.DataFrame(
        {
            "series": series.to_numpy(),
            "eps": known["eps"].to_numpy(),
            "robust_acc": known["robust_acc"].to_numpy(),
            "experiment": known["experiment"].to_numpy(),
            "n": known["n"].to_numpy(),
        }
    ).sort_values(["series", "eps"])


# long dashes: a line drawn over an equal one leaves gaps where the one below shows
DASHES = [[1, 0], [9, 6], [3, 5], [14, 4, 3, 4], [2, 8], [6, 3]]


def robust_chart(points: pd.DataFrame) -> Any:
    """An Altair chart of robust accuracy against ε, a line with points per series. Series
    differ in colour, dash and point shape: two attacks with the same accuracies (a line hidden
    under another) still both show."""
    import altair as alt

    legend = alt.Legend(orient="bottom")
    base = alt.Chart(points).encode(
        x=alt.X("eps:Q", title="ε (params.eps)"),
        y=alt.Y("robust_acc:Q", title="robust accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("series:N", title=None, legend=legend),
        strokeDash=alt.StrokeDash(
            "series:N", title=None, legend=legend, scale=alt.Scale(range=DASHES)
        ),
        shape=alt.Shape("series:N", title=None, legend=legend),
        tooltip=[
            "series:N",
            "experiment:N",
            alt.Tooltip("eps:Q", format=".4g"),
            alt.Tooltip("robust_acc:Q", format=".3f"),
            "n:Q",
        ],
    )
    return alt.layer(base.mark_line(), base.mark_point(filled=False, size=70, strokeWidth=2))
