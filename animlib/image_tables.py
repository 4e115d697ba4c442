"""The per-image tables of the experiments page: the smallest swept value that fools the model,
the step at which each attack first did, and how often it did per true class."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .experiments import AT_START, sample_key
from .text import natural_key, unique_label
from .views import NO_VALUE

__all__ = ["flip_steps", "smallest_value", "success_by_class"]


def smallest_value(
    outcomes: pd.DataFrame, points: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per image and sweep, the smallest value of the swept parameter (ε, by default) at which
    the attack fooled the model: the answer to "which attack needs the least on which image" a
    sweep gives; and per sweep the value that fooled the model on at least half of the images
    it attacked.

    Args:
        outcomes: One row per run (:func:`animlib.experiment_grid.outcomes`: ``sample``,
            ``true_class``, ``experiment``, ``success``).
        points: :func:`robust_curve` of the experiments shown: each experiment's value and
            its series (the chart's names, one per sweep).

    Returns:
        The table: one row per image (``sample``, ``true class``), by sample, and one column
        per series (in natural order): the smallest value of that sweep whose run fooled the
        model on the image; NaN when none of the sweep's values did (or it did not attack the
        image); 0 where the model was wrong on the image before the attack (a success at step
        0: no value was needed). And per series with an image: the lower median of those
        smallest values over the images it attacked (always a value the sweep tried; an image
        wrong before the attack counts at the smallest), ``> 0.2`` (its largest) when no value
        fooled half.
    """
    images, table, at_start = _smallest(outcomes, points)
    largest = points.groupby("series")["value"].max()
    medians = {}
    for series, values in table.items():
        attacked = values.dropna()  # inf: attacked, never fooled
        if len(attacked):
            median = float(np.quantile(attacked.to_numpy(), 0.5, method="lower"))
            medians[series] = f"> {largest[series]:.4g}" if math.isinf(median) else f"{median:.4g}"
    # an image the model got wrong unattacked needs no value: 0 (its smallest tried value
    # stays in the medians: any value fools the model on it)
    shown = table.replace(np.inf, np.nan).mask(at_start, 0.0)
    taken = list(map(str, shown.columns))  # an attack called "sample" keeps its column
    images, sample = _labelled(images, taken)
    return _by_sample(images.join(shown), sample), medians


def _smallest(
    outcomes: pd.DataFrame, points: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The images (indexed by image key: sample, true_class) and, by image and series, the
    smallest value that fooled the model: inf where the sweep attacked the image and no value
    fooled it, NaN where it did not attack it; and where the model was wrong on the image
    before the attack (True)."""
    sweep = points.set_index("experiment")[["series", "value"]].rename(columns={"value": "_v"})
    runs = outcomes.drop(columns=["series", "_v"], errors="ignore").join(sweep, on="experiment")
    runs = runs[runs["series"].notna()]
    images = _images(runs)
    fooled = runs["success"].fillna(False).astype(bool)
    runs = runs.assign(_v=runs["_v"].where(fooled, np.inf))
    series = sorted(set(runs["series"]), key=natural_key)
    table = _pivot(runs, "image", "series", "_v", "min", images.index, series)
    flips = runs["flip_step"] if "flip_step" in runs else pd.Series(None, index=runs.index)
    start = runs.assign(_w=(fooled & flips.eq(0).fillna(False)).astype(float))
    wrong = _pivot(start, "image", "series", "_w", "max", images.index, series).fillna(0.0) > 0
    return images, table, wrong


def _pivot(
    runs: pd.DataFrame, index: str, columns: str, values: str, how: str, rows: Any, order: Any
) -> pd.DataFrame:
    """``values`` of ``runs`` aggregated by ``how`` per ``index`` value (the rows in the order
    of ``rows``; None: as they come) and ``columns`` value (in the order of ``order``), as
    floats, the columns' axis unnamed (as the page shows them)."""
    table = runs.pivot_table(index=index, columns=columns, values=values, aggfunc=how, dropna=False)
    table = table.reindex(columns=list(order)).astype(float)
    if rows is not None:
        table = table.reindex(rows)
    table.columns.name = None
    return table


def _images(runs: pd.DataFrame) -> pd.DataFrame:
    """The images ``runs`` attacked, indexed by image key (one sample id may name several
    images: experiments that each drew their own batch), with their sample and true class."""
    return runs[["image", "sample", "true_class"]].drop_duplicates("image").set_index("image")


def flip_steps(outcomes: pd.DataFrame, experiments: Sequence[str]) -> pd.DataFrame:
    """Per image, the step at which each experiment's attack first fooled the model: the
    image x attack table of flip steps (which attack is fastest on which image).

    Args:
        outcomes: One row per run (:func:`animlib.experiment_grid.outcomes`: ``sample``,
            ``true_class``, ``experiment``, ``flip_step``).
        experiments: The experiments to show, in this order.

    Returns:
        One row per image (``sample``, ``true class``), by sample; one column per experiment
        (NaN: never fooled, fooled but not at the last step (the attack failed: a run that
        flips back is no success, as in ``summarize``), or not attacked; 0: the model was wrong
        before the attack);
        ``fastest``: the experiments with the smallest flip step above 0 of the row (several
        when tied; empty when none flipped); ``misclassified before the attack`` on a row
        where some experiment shows 0: the model got the image wrong unattacked, so no
        attack is faster on it (beside three 0s, a targeted attack reaching its target at
        step 4 read as the quickest).
    """
    # (a run fooled, then not at its last step, has no flip step there: outcomes.shown_outcome)
    runs = outcomes[outcomes["experiment"].isin(list(experiments))]
    images = _images(runs)
    table = _pivot(runs, "image", "experiment", "flip_step", "min", images.index, experiments)
    flipped = table.where(table > 0)  # step 0: wrong before the attack, not its speed
    least = flipped.min(axis=1).to_numpy()  # NaN where none flipped: no column equals it
    names = np.array([str(e) for e in table.columns], dtype=object)
    fastest = [", ".join(names[hit]) or NO_VALUE for hit in flipped.to_numpy() == least[:, None]]
    at_start = (table == 0).any(axis=1).to_numpy()
    fastest = [AT_START if wrong else f for f, wrong in zip(fastest, at_start, strict=True)]
    taken = list(map(str, experiments))  # an experiment called "sample" keeps its column
    images, sample = _labelled(images, taken)
    out = images.join(table)
    out[unique_label("fastest", taken)] = fastest
    return _by_sample(out, sample)


def success_by_class(outcomes: pd.DataFrame, experiments: Sequence[str]) -> pd.DataFrame:
    """Per true class, the share of its images each experiment's attack fooled: which attack
    works best on which kind of image.

    Args:
        outcomes: One row per run (:func:`animlib.experiment_grid.outcomes`: ``true_label``,
            ``true_class``, ``experiment``, ``success``, ``image``).
        experiments: The experiments to show, in this order.

    Returns:
        One row per true class (by label; a run without one under ``no label``): ``true
        class``, ``images`` (how many images of the class the experiments attacked), then per
        experiment the fraction of its runs on the class that fooled the model at their last
        step (``success``, as ``summarize`` counts it: an image the model got wrong before the
        attack counts as fooled); NaN where it attacked none with a known outcome.
    """
    runs = outcomes[outcomes["experiment"].isin(list(experiments)) & outcomes["success"].notna()]
    labels = runs["true_label"].astype("Float64")
    named = runs["true_class"].where(runs["true_class"].notna(), labels.map(_label_text))
    runs = runs.assign(_class=named.fillna("no label"), _label=labels, _ok=runs["success"].eq(True))
    taken = list(map(str, experiments))
    name, count = unique_label("true class", taken), unique_label("images", [*taken, "true class"])
    if runs.empty:
        return pd.DataFrame(columns=[name, count, *experiments])
    rates = _pivot(runs, "_class", "experiment", "_ok", "mean", None, experiments)
    order = runs.groupby("_class")["_label"].min().fillna(np.inf)
    classes = sorted(rates.index, key=lambda c: (order[c], natural_key(str(c))))
    images = runs.groupby("_class")["image"].nunique()
    table = rates.reindex(classes)
    table.insert(0, count, images.reindex(classes).to_numpy())
    table.insert(0, name, classes)
    return table.reset_index(drop=True)


def _label_text(label: object) -> str | None:
    return None if pd.isna(label) else f"label {int(label)}"


def _labelled(images: pd.DataFrame, taken: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """:func:`_images` with its columns named as shown, apart from the names ``taken`` (the
    experiments' columns); and the sample column's name."""
    sample = unique_label("sample", taken)
    names = {"sample": sample, "true_class": unique_label("true class", taken)}
    return images.rename(columns=names), sample


def _by_sample(table: pd.DataFrame, sample: str) -> pd.DataFrame:
    """``table`` (indexed by image) in the order of its column ``sample`` (then of the image),
    without the image key: one row per image, the sample its first column."""
    samples = table[sample].tolist()
    order = sorted(range(len(table)), key=lambda i: (sample_key(samples[i]), table.index[i]))
    return table.iloc[order].reset_index(drop=True)
