"""Tables and charts of the experiments page, computed without Streamlit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .experiments import SUMMARY_COLUMNS, ExperimentInfo

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
    mask = pd.Series(True, index=frame.index)
    if attacks:
        mask &= frame["attack"].isin(list(attacks))
    if models:
        mask &= frame["model"].isin(list(models))
    for word in text.lower().split():
        hay = frame[["experiment", "attack", "model"]].astype(str).agg(" ".join, axis=1)
        mask &= hay.str.lower().str.contains(word, regex=False)
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


def robust_chart(points: pd.DataFrame) -> Any:
    """An Altair chart of robust accuracy against ε, a line with points per series."""
    import altair as alt

    base = alt.Chart(points).encode(
        x=alt.X("eps:Q", title="ε (params.eps)"),
        y=alt.Y("robust_acc:Q", title="robust accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[
            "series:N",
            "experiment:N",
            alt.Tooltip("eps:Q", format=".4g"),
            alt.Tooltip("robust_acc:Q", format=".3f"),
            "n:Q",
        ],
    )
    return alt.layer(base.mark_line(), base.mark_point(filled=True, size=60))
