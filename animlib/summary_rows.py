"""One summary row per group of run outcomes: its rates and medians, and the order of groups."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .text import natural_key

LEFT_OUT = "left_out"  # the runs of a group its numbers leave out (see left_out_reason)
SUMMARY_COLUMNS = (
    "n",
    "clean_acc",
    "robust_acc",
    "success_rate",
    "median_linf",
    "median_l2",
    "median_flip_step",
    LEFT_OUT,
)


def summary_row(outcomes: list[dict | None]) -> dict[str, Any]:
    """The summary columns of one group from its runs' outcomes (None: a run left out):
    ``n``, the rates over the counted runs, the medians over the successful ones, and
    ``left_out``."""
    runs = [r for r in outcomes if r is not None]
    won = [r for r in runs if r["success"] is True]
    return {
        "n": len(runs),
        "clean_acc": _rate(r["clean_correct"] for r in runs),
        "robust_acc": _rate(r["robust"] for r in runs),
        "success_rate": _rate(r["success"] for r in runs),
        "median_linf": _median(r["linf"] for r in won),
        "median_l2": _median(r["l2"] for r in won),
        "median_flip_step": _median(r["flip_step"] for r in won),
        LEFT_OUT: len(outcomes) - len(runs),
    }


def group_order(values: tuple) -> tuple:
    """The sort key of a group's ``by`` values: numbers in order, then text in natural order,
    then missing values."""
    out = []
    for v in values:
        if v is None or _isnan(v):
            out.append((2, 0.0, ""))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((0, float(v), ""))
        else:
            out.append((1, 0.0, natural_key(str(v))))
    return tuple(out)


def _rate(values: Iterable[Any]) -> float:
    known = [bool(v) for v in values if v is not None]
    return float(np.mean(known)) if known else math.nan


def _median(values: Iterable[Any]) -> float:
    known = [float(v) for v in values if v is not None and not _isnan(v)]
    return float(np.median(known)) if known else math.nan


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
