"""The per-run values behind :func:`animlib.summarize` (clean and final correctness, success,
norms, flip step), from a run's run.json, and from its arrays only for what run.json lacks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import AnimlibError
from .listing import RunInfo


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def norms_from_arrays(info: RunInfo, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """Values run.json lacks, read from the arrays: initial prediction and final norms."""
    from .reader import open_run
    from .summary import perturbation_norms

    out: dict[str, Any] = {}
    try:
        run = open_run(info.url, storage_options=storage_options)
        if run.confidences is not None and len(run):
            out["initial_pred"] = int(np.argmax(run.confidences[0]))
        if len(run):
            original = run.original if run.original is not None else run.images[0]
            out.update(perturbation_norms(run.images[-1], original))
    except (AnimlibError, OSError, IndexError):
        pass  # a damaged run contributes what run.json says
    return out


def outcome_from_meta(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The per-run values behind :func:`summarize` (``clean_correct``, ``robust``, ``success``,
    ``linf``, ``l2``, ``flip_step``) from a run.json alone; None when it lacks some (an
    untargeted run without a stored original, an old targeted run without ``initial_pred``):
    those are read from the arrays (:func:`run_outcomes`)."""
    initial, linf, l2, from_arrays = run_json_inputs(meta)
    return None if from_arrays else outcome_values(meta, initial, linf, l2)


def run_json_inputs(meta: dict[str, Any]) -> tuple[Any, float | None, float | None, bool]:
    """The initial prediction and final norms run.json gives, and whether the arrays must be
    read for what it lacks."""
    s = meta.get("summary") or {}
    true, target, success = meta.get("true_label"), meta.get("target_label"), s.get("success")
    initial = initial_pred(meta)
    linf, l2 = _number(s.get("linf")), _number(s.get("l2"))
    # untargeted: step 0 is a success (flip_step 0) exactly when the clean input is misclassified
    derivable = target is None and success is not None
    need_pred = true is not None and initial is None and not derivable
    return initial, linf, l2, need_pred or (linf is None and int(meta.get("steps") or 0) > 0)


def initial_pred(meta: dict[str, Any]) -> Any:
    """The prediction at step 0 a run.json holds (in its summary, or beside it), or None."""
    summary = meta.get("summary")
    summary = summary if isinstance(summary, dict) else {}
    return summary.get("initial_pred", meta.get("initial_pred"))


INDEX_FIELD = "experiment_index"  # run.json: [[experiment step, run step, count], ...]


def is_index_range(item: Any) -> bool:
    """Whether ``item`` is one range of an ``experiment_index``: three ints."""
    return isinstance(item, list) and len(item) == 3 and all(type(v) is int for v in item)


def experiment_step(meta: dict[str, Any], step: Any) -> Any:
    """The experiment step of a sample run's own step ``step``: a sample left out of some
    steps and logged again (``active=``) has fewer steps of its own, and its
    ``experiment_index`` (``[[experiment step, run step, count], ...]``) tells which experiment
    step each was. ``step`` itself for any other run (or a step that is not an int)."""
    index = meta.get(INDEX_FIELD)
    if type(step) is not int or not isinstance(index, list):
        return step
    for item in index:
        if is_index_range(item):
            first, at, count = item
            if at <= step < at + count:
                return first + step - at
    return step


BUDGET_SLACK = 0.5 / 255  # an image rounded to the 1/255 grid after its projection moves this far


def past_budget(meta: dict[str, Any]) -> tuple[float, float] | None:
    """(L∞, ε) of a successful run whose last image lies further from its original than its
    ``params.eps`` allows (by more than rounding to the 1/255 grid), None for any other run.
    A budget in any Lp norm bounds L∞ too, so this holds for L2 and L1 attacks as well; an ε
    on the 0-255 scale is never exceeded on the 0-1 scale the norms are on."""
    s = meta.get("summary") or {}
    linf, eps = _number(s.get("linf")), _number((meta.get("params") or {}).get("eps"))
    if s.get("success") is not True or linf is None or eps is None or eps <= 0:
        return None
    return (linf, eps) if linf > eps * (1 + 1e-6) + BUDGET_SLACK else None


def shown_flip_step(success: Any, flip: Any) -> Any:
    """A run's flip step as the runs table and ``ls`` show it, as :func:`animlib.summarize`
    and ``outcomes`` count it: None when the attack fooled the model and no longer did at the
    last step (no success, so no speed); a flip step of 0 (the model wrong before the attack)
    stays, a fact of the image."""
    undone = success is False and type(flip) is int and flip > 0
    return None if undone else flip


def experiment_flip_step(meta: dict[str, Any]) -> Any:
    """A run's flip step (run.json ``summary.flip_step``), counted in its experiment's steps
    (:func:`experiment_step`)."""
    return experiment_step(meta, (meta.get("summary") or {}).get("flip_step"))


def left_out_steps(meta: dict[str, Any]) -> list[tuple[int, int]]:
    """The experiment steps a sample run was left out of (``active=``) between steps it
    logged: (first, last) ranges, from its ``experiment_index``; [] for any other run."""
    index = meta.get(INDEX_FIELD)
    if not isinstance(index, list) or not all(is_index_range(item) for item in index):
        return []
    gaps, end = [], None
    for first, _, count in sorted(index):
        if end is not None and first > end:
            gaps.append((end, first - 1))
        end = first + count if end is None else max(end, first + count)
    return gaps


def run_step_at(meta: dict[str, Any], step: int) -> int:
    """The run step a sample run shows at experiment step ``step``: through its
    ``experiment_index`` when it was left out of some steps (``active=``; in such a gap, the
    step it held), else ``step`` itself (unclamped: the caller clamps to the run's length)."""
    index = meta.get(INDEX_FIELD)
    if not isinstance(index, list) or not all(is_index_range(item) for item in index):
        return step
    shown = step
    for first, at, count in index:
        if first <= step:
            shown = at + min(step - first, count - 1)
    return shown


def current_outcome(meta: dict[str, Any], initial: Any = None) -> tuple[Any, Any, bool]:
    """A run's success and flip step (its own steps) under the labels its run.json holds now,
    and whether its summary was written for other labels (``stale``). Success follows the final
    prediction; a summary written before a label was edited by hand says otherwise, and its
    flip step, found with the old labels, is then unknown (``validate`` names such a summary).
    ``initial``: the prediction at step 0, if known (a flip step of 0 follows from it; None:
    run.json's own, :func:`initial_pred`).

    Every view takes these (the runs table, ``ls``, ``summarize``, ``outcomes``): the run.json
    summary alone read "success, flip 2" for a run whose corrected true label is its final
    prediction, beside a robust accuracy that counted it as held."""
    s = meta.get("summary") or {}
    true, target = meta.get("true_label"), meta.get("target_label")
    success, flip = s.get("success"), s.get("flip_step")
    final, stale = s.get("final_pred"), False
    initial = initial_pred(meta) if initial is None else initial

    def fooled(pred: Any) -> bool:  # (summary.success_flags, for one prediction)
        return pred == target if target is not None else pred != true

    if final is not None and (target is not None or true is not None):
        now = fooled(final)
        stale = success is not None and now != success
        flip = None if stale else flip
        success = now
        if initial is not None and type(initial) is int:  # step 0 under the labels held now
            if fooled(initial):
                flip = 0
            elif flip == 0:  # (found with other labels)
                flip, stale = None, True
    return success, flip, stale


def shown_outcome(meta: dict[str, Any], initial: Any = None) -> tuple[Any, Any, bool]:
    """A run's success and flip step as every per-run view gives them (``run_outcomes``,
    ``outcomes --csv/--json``, the grid's outcomes CSV, the flip-step table): those of
    :func:`current_outcome`, the flip step empty unless the run succeeds in the end
    (:func:`shown_flip_step`) and counted in its experiment's steps
    (:func:`experiment_step`); and whether its summary was written for other labels.
    A targeted run that reached its target at step 4 and left it at step 5 gave flip step 4
    beside ``success`` False in the outcomes, ``-`` in ``ls`` and the runs table."""
    success, flip, stale = current_outcome(meta, initial)
    return success, experiment_step(meta, shown_flip_step(success, flip)), stale


def outcome_values(meta: dict[str, Any], initial: Any, linf: Any, l2: Any) -> dict[str, Any]:
    """The per-run values of :func:`outcome_from_meta` (:func:`shown_outcome`)."""
    true, target = meta.get("true_label"), meta.get("target_label")
    final = (meta.get("summary") or {}).get("final_pred")
    success, flip, stale = shown_outcome(meta, initial)
    clean = None
    if true is not None and initial is not None:
        clean = int(initial) == int(true)
    elif true is not None and target is None and success is not None and not stale:
        clean = flip != 0
    return {
        "clean_correct": clean,
        "robust": None if true is None or final is None else int(final) == int(true),
        "success": success,
        "linf": linf,
        "l2": l2,
        "flip_step": flip,
    }


def outcome_of(info: RunInfo, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """Per-run values for the summary, from run.json; arrays are read only when it lacks them."""
    meta = info.meta or {}
    initial, linf, l2, from_arrays = run_json_inputs(meta)
    if from_arrays:
        extra = norms_from_arrays(info, storage_options)
        initial = extra.get("initial_pred", initial)
        linf = linf if linf is not None else extra.get("linf")
        l2 = l2 if l2 is not None else extra.get("l2")
    values = outcome_values(meta, initial, linf, l2)
    return {
        "id": info.id,
        "experiment": meta.get("experiment"),
        "sample": meta.get("sample"),
        **values,
    }
