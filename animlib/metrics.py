"""Attack metrics: success, flip step, final confidences and perturbation norms."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import as_float01


def is_success(probs: np.ndarray, true_label: int | None, target_label: int | None) -> bool | None:
    """Targeted: argmax is the target. Untargeted: argmax is not the true class. None if unknown."""
    pred = int(np.argmax(probs))
    if target_label is not None:
        return pred == target_label
    if true_label is not None:
        return pred != true_label
    return None


def success_series(
    confidences: np.ndarray, true_label: int | None, target_label: int | None
) -> np.ndarray | None:
    """Per-step success flags, or None when the run has no labels to judge by."""
    preds = confidences.argmax(axis=1)
    if target_label is not None:
        return preds == target_label
    if true_label is not None:
        return preds != true_label
    return None


def perturbation_norms(image: np.ndarray, original: np.ndarray) -> dict[str, float]:
    """L-inf, L2 and L0 of ``image - original`` in [0, 1] units (L0 counts changed pixels)."""
    delta = as_float01(image) - as_float01(original)
    changed = np.abs(delta).max(axis=-1) > 1e-6
    return {
        "linf": float(np.abs(delta).max()),
        "l2": float(np.sqrt(np.square(delta, dtype=np.float64).sum())),
        "l0": int(changed.sum()),
    }


def summarize(
    confidences: np.ndarray | None,
    true_label: int | None,
    target_label: int | None,
    final_image: np.ndarray | None = None,
    original: np.ndarray | None = None,
) -> dict[str, Any]:
    """Summary metrics for the runs table (all JSON-ready; missing ones are None)."""
    out: dict[str, Any] = {
        "success": None,
        "flip_step": None,
        "final_pred": None,
        "final_pred_conf": None,
        "final_true_conf": None,
        "final_target_conf": None,
        "initial_true_conf": None,
        "linf": None,
        "l2": None,
        "l0": None,
    }
    if confidences is not None and len(confidences):
        last = confidences[-1]
        out["final_pred"] = int(last.argmax())
        out["final_pred_conf"] = float(last.max())
        if true_label is not None:
            out["final_true_conf"] = float(last[true_label])
            out["initial_true_conf"] = float(confidences[0][true_label])
        if target_label is not None:
            out["final_target_conf"] = float(last[target_label])
        flags = success_series(confidences, true_label, target_label)
        if flags is not None:
            out["success"] = bool(flags[-1])
            hits = np.flatnonzero(flags)
            out["flip_step"] = int(hits[0]) if hits.size else None
    if final_image is not None and original is not None and final_image.shape == original.shape:
        out.update(perturbation_norms(final_image, original))
    return out


def run_metrics(run: Any) -> dict[str, Any]:
    """Recompute the summary metrics of an opened run from its arrays."""
    if len(run) == 0:
        return summarize(None, run.true_label, run.target_label)
    return summarize(
        run.confidences, run.true_label, run.target_label, run.images[-1], run.original
    )
