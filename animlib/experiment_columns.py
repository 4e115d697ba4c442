"""The experiments table's columns on the page: their order, labels and widths (fit 1280 px)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from .experiment_views import param_column, param_label
from .runs_table import column_label
from .text import csv_safe_columns

# the answer first: robust accuracy and success rate right after the attack and its parameters
# (at 900 px they were past the edge, behind model and status)
ANSWER = ("robust_acc", "success_rate", "clean_acc", "n", "median_flip_step", "median_linf")
LAST = ("median_l2", "left_out", "model", "status", "steps", "tags", "created")
HIDDEN = ("params",)  # what the search finds, not shown
RUNS_WIDTH = 50  # pixels of the runs link column
NAME_WIDTH = 200  # pixels of the name column (a longer name is cut: double-click reads it)
MODEL_WIDTH = 120  # pixels of the model column (a long model name is cut)
TAGS_WIDTH = 160  # pixels of the tags column (more tags are cut: double-click reads them)
MODEL_CHARS = 16  # model names up to this long keep their own width (mlp: 40 px, not 120)
MEDIAN = "Median over the runs the attack succeeded on"
PERTURBATION = "the last step's image minus the original"


def column_order(shown: pd.DataFrame) -> list[str]:
    """The table's columns as shown: the runs link, the experiment, its attack and parameters,
    the answer, then the details; so that it fits a 1280-px window, without the columns that
    tell the rows nothing (:func:`said_by_all`). With a ``name`` column (some name had to be
    made safe for paths), the name stands for the experiment: its id, made from it, is left
    out (it stays searchable, and the grid and links name it)."""
    who = "experiment" if "name" not in shown else "name"
    said = said_by_all(shown)
    skip = {*ANSWER, *LAST, *HIDDEN, "experiment", "name", "runs"}
    order = ["runs", who, *(c for c in shown.columns if c not in skip)]
    return order + [c for c in (*ANSWER, *LAST) if c in shown.columns and c not in said]


def said_by_all(shown: pd.DataFrame) -> list[str]:
    """The detail columns the table leaves out for rows ``shown``: ``status`` when all
    finished, ``left_out`` when none left a run out (a note under the table counts them)."""
    status = shown.get("status", pd.Series(dtype=object))
    left = pd.to_numeric(shown.get("left_out", pd.Series(dtype=float)), errors="coerce")
    return [
        column
        for column, idle in (("status", (status == "finished").all()), ("left_out", not left.any()))
        if column in shown and idle
    ]


def table_csv(shown: pd.DataFrame) -> bytes:
    """The table's rows ``shown`` as CSV (the page's download): every column, those the page
    leaves out too (status, left out, ``params``: every parameter as ``name=value``); times in
    ISO 8601 (UTC); text a spreadsheet would run as a formula written as text."""
    frame = shown.drop(columns=["runs"], errors="ignore").copy()
    csv_safe_columns(frame)
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = frame[name].map(lambda t: t.isoformat() if pd.notna(t) else None)
    return frame.to_csv(index=False).encode()


def column_config(shown: pd.DataFrame, sweep: str) -> dict[str, Any]:
    """The table's ``column_config`` for rows ``shown`` swept over parameter ``sweep``:
    labels, number formats, and fixed widths where a long text would widen the table past
    the page (the name, the model: cut, a double-click on the cell shows it whole)."""
    column = param_column(sweep)
    label = param_label(sweep)
    number = st.column_config.NumberColumn
    config: dict[str, Any] = {
        "runs": st.column_config.LinkColumn(
            "",
            display_text="runs",
            width=RUNS_WIDTH,
            help="The experiment's runs in the runs table",
        ),
        "eps": number("ε", format="%.4g"),
        # (params.steps, not a second "steps" beside the runs' own step count)
        column: number(column if label in shown.columns else label, format="%.4g"),
        "clean_acc": number("clean acc", format="%.3f"),
        "robust_acc": number("robust acc", format="%.3f"),
        "success_rate": number("success rate", format="%.3f"),
        # (short labels: "median flip step" alone was 120 px; the help says they are medians)
        "median_linf": number("L∞", format="%.4f", help=f"{MEDIAN}: L∞ of {PERTURBATION}"),
        "median_l2": number("L2", format="%.3f", help=f"{MEDIAN}: L2 of {PERTURBATION}"),
        "median_flip_step": number(
            "flip step",
            format="%.1f",
            help=f"{MEDIAN}: the first step whose prediction left the true class (reached the "
            "target)",
        ),
        "left_out": number(
            "left out",
            format="%d",
            help="Runs in none of the numbers: failed, stale (writer killed or silent) or "
            "with no step stored",
        ),
        "tags": st.column_config.TextColumn("tags", width=TAGS_WIDTH),
        # as the runs page shows its runs' (UTC: the same in any browser's time zone)
        "created": st.column_config.DatetimeColumn(
            column_label("created"),
            format="YYYY-MM-DD HH:mm",
            help="When the experiment's first run was created",
        ),
    }
    models = shown["model"].dropna().astype(str) if "model" in shown else pd.Series(dtype=str)
    if models.str.len().max() > MODEL_CHARS:  # a long one: cut (a short one sizes itself)
        config["model"] = st.column_config.TextColumn("model", width=MODEL_WIDTH)
    if "name" in shown:
        config["name"] = st.column_config.TextColumn(
            "experiment",
            width=NAME_WIDTH,
            help="The experiment's name (the grid and links use its id, made from the name; "
            "the search finds both). A long one is cut: double-click it to read it whole",
        )
    return config
