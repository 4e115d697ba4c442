"""Tables and series the viewer and compare pages show, computed without Streamlit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .metrics import run_metrics
from .outcomes import INDEX_FIELD, experiment_step, left_out_steps, shown_flip_step
from .params import flatten, param_text
from .protocol import RunLike
from .text import confidence_text, csv_cell, run_titles, unique_label, unique_names

if TYPE_CHECKING:  # (pandas 2.1's Styler imports matplotlib.pyplot: ~0.8 s for every command)
    from pandas.io.formats.style import Styler

NO_VALUE = "–"  # what every table shows for a value a run does not have

# pale tints with dark text: the dark theme's near-white text was unreadable on them
TRUE_BG = "background-color: #d9f2d9; color: #1b1b1b"
TARGET_BG = "background-color: #ffe3c2; color: #1b1b1b"
STYLE_MAX_CELLS = 20_000  # tinted and bold past it, ~40 µs a cell: 200,000 took 9 s a rerun


def with_models(titles: dict[str, str], models: dict[str, str | None]) -> dict[str, str]:
    """``titles`` (by experiment id) with each experiment's model after it (``pgd · cnn-at``;
    :data:`NO_VALUE` for none) when ``models`` (id -> model) holds several; else as they are."""
    if len(set(models.values())) <= 1:
        return dict(titles)
    return {i: f"{t} · {models.get(i) or NO_VALUE}" for i, t in titles.items()}


def styled_confidences(run: Any, top_k: int | None = 10) -> Styler:
    """The steps x classes table with true/target columns tinted and each row's argmax bold
    (a plain table past :data:`STYLE_MAX_CELLS` cells: pandas styles cell by cell)."""
    frame = confidence_frame(run, top_k=top_k)
    names = unique_names(run.class_names)
    if frame.size > STYLE_MAX_CELLS:
        return frame
    true = names[run.true_label] if run.true_label is not None else None
    target = names[run.target_label] if run.target_label is not None else None

    def column_style(col: pd.Series) -> list[str]:
        if col.name == true:
            return [TRUE_BG] * len(col)
        if col.name == target:
            return [TARGET_BG] * len(col)
        return [""] * len(col)

    full_argmax = run.confidences.argmax(axis=1)
    argmax_names = np.asarray(names, dtype=object)[full_argmax]

    def row_style(row: pd.Series) -> list[str]:
        best = argmax_names[row.name]
        return ["font-weight: bold" if c == best else "" for c in row.index]

    return frame.style.apply(column_style, axis=0).apply(row_style, axis=1).format(confidence_text)


def _column_labels(runs: Sequence[Any]) -> list[str]:
    """One column label per run: its title, made unique with trailing spaces."""
    labels: list[str] = []
    for title in run_titles(runs):
        labels.append(unique_label(title, labels))
    return labels


def metric_cards(m: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """The viewer's metric cards for a run's metrics ``m`` (:func:`animlib.metrics.run_metrics`):
    (label, value, change of the true class's confidence or None: none when it rounds to 0),
    ``–`` where there is none."""
    initial, final = m["initial_true_conf"], m["final_true_conf"]
    flip = shown_flip_step(m["success"], m["flip_step"])
    flip_text = NO_VALUE if flip is None else str(flip)
    if flip is None and m["flip_step"] is not None:  # flipped, then undone by the last step
        flip_text = f"{NO_VALUE} (flipped at {m['flip_step']}, not at the end)"
    return [
        ("success", {True: "yes", False: "no", None: "n/a"}[m["success"]], None),
        ("flip step", flip_text, None),
        (
            "final true conf",
            _conf(final, 3),
            None
            if initial is None or final is None or round(final - initial, 3) == 0
            else f"{final - initial:+.3f}",
        ),
        ("L∞", _num(m["linf"], 4), None),
        ("L2", _num(m["l2"], 3), None),
        ("L0 (pixels)", NO_VALUE if m["l0"] is None else str(m["l0"]), None),
    ]


def left_out_note(meta: dict[str, Any], flip_step: Any) -> str | None:
    """The viewer's note on a sample run left out of some experiment steps (``active=``): its
    own steps skip them, so its step numbers (and flip step) are not the experiment's, which
    the experiments page counts in. None for any other run."""
    gaps = left_out_steps(meta)
    if not gaps:
        return None
    spans = [str(a) if a == b else f"{a}–{b}" for a, b in gaps]
    listed = spans[0] if len(spans) == 1 else ", ".join(spans[:-1]) + " and " + spans[-1]
    after = gaps[0][1] + 1  # the first experiment step logged again, and its own step
    own = next(at for first, at, _ in meta[INDEX_FIELD] if first == after)
    text = (
        f"This sample was left out of experiment step{'s' * (len(spans) > 1 or '–' in listed)} "
        f"{listed} (`active=`): its own steps skip them, so step {own} here is experiment step "
        f"{after}"
    )
    shown = experiment_step(meta, flip_step)
    if type(flip_step) is int and shown != flip_step:
        text += f", and its flip step {flip_step} is experiment step {shown}"
    return text + ". The experiments page counts in experiment steps."


def compare_metrics(runs: Sequence[Any]) -> pd.DataFrame:
    """Metrics of several runs side by side: one column per run."""
    rows = {}
    for run, label in zip(runs, _column_labels(runs), strict=True):
        m = run_metrics(run)
        rows[label] = {
            "id": run.id,
            "attack": run.attack or "",
            "model": run.model or "",
            "steps": str(len(run)),
            "success": {True: "yes", False: "no", None: "n/a"}[m["success"]],
            "flip step": NO_VALUE if m["flip_step"] is None else str(m["flip_step"]),
            "final true conf": _conf(m["final_true_conf"]),
            "final target conf": _conf(m["final_target_conf"]),
            "L∞": _num(m["linf"], 4),
            "L2": _num(m["l2"], 3),
            "L0": NO_VALUE if m["l0"] is None else str(m["l0"]),
        }
    return pd.DataFrame(rows)


def compare_params(runs: Sequence[Any]) -> tuple[pd.DataFrame, int]:
    """The runs' ``params`` side by side: one row per parameter (nested ones as ``a.b``), one
    column per run (as :func:`compare_metrics`), ``–`` where a run does not set it; the rows
    whose values differ first, each group in the order the runs name them.

    Returns:
        The table (index: the parameter names) and how many of its rows differ.
    """
    flat = [flatten(run.params or {}) for run in runs]
    names = list(dict.fromkeys(name for params in flat for name in params))
    cells = {
        name: [param_text(params[name]) if name in params else NO_VALUE for params in flat]
        for name in names
    }
    differ = [name for name in names if len(set(cells[name])) > 1]
    same = [name for name in names if name not in differ]
    table = pd.DataFrame(
        [cells[name] for name in differ + same],
        index=pd.Index(differ + same, name="parameter"),
        columns=_column_labels(runs),
    )
    return table, len(differ)


def _num(value: float | None, digits: int) -> str:
    return NO_VALUE if value is None else f"{value:.{digits}f}"


def _conf(value: float | None, digits: int = 4) -> str:
    return NO_VALUE if value is None else confidence_text(value, digits)


def confidence_frame(run: RunLike, top_k: int | None = None) -> pd.DataFrame:
    """A steps x classes pandas DataFrame of confidences: every class in class order, or with
    ``top_k`` the true and target classes first, then the top-k by their highest confidence
    over the run (with 1,000 classes the classes that matter need no scrolling)."""
    conf = run.confidences
    if conf is None:
        return pd.DataFrame(index=pd.RangeIndex(len(run), name="step"))
    names = unique_names(run.class_names)
    if top_k:
        order = np.argsort(-conf.max(axis=0), kind="stable")[:top_k]
        roles = [int(k) for k in (run.true_label, run.target_label) if k is not None]
        keep = list(dict.fromkeys([*roles, *(int(k) for k in order)]))
    else:
        keep = list(range(conf.shape[1]))
    frame = pd.DataFrame(conf[:, keep], columns=[names[k] for k in keep])
    frame.index.name = "step"
    return frame


def confidence_csv(run: RunLike) -> bytes:
    """The steps x classes confidences as CSV, every cell safe to open in a spreadsheet:
    class names that a spreadsheet would run as formulas (``=HYPERLINK(...)``, ``+SUM(1,2)``,
    ``-2+3``, ``@SUM(1)``) are written as text."""
    frame = confidence_frame(run)
    # (unique again: "a\rb" is written as "a\nb", which another class may be called)
    frame.columns = unique_names([csv_cell(c) for c in frame.columns])
    return frame.to_csv().encode()
