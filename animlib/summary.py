"""The attack summary of a run (success, flip step, final confidences, perturbation norms)."""

# Computed by one accumulator: the writer feeds it one step at a time (so run.json always holds the
# summary of the steps written so far), ``metrics.run_metrics`` feeds it a whole stored run.

from __future__ import annotations

import math
import secrets
from typing import Any

import numpy as np

from .arrays import as_float01

#: every summary value, in the order run.json stores them; None when unknown
KEYS = (
    "success",
    "flip_step",
    "final_pred",
    "final_pred_conf",
    "final_true_conf",
    "initial_true_conf",
    "final_target_conf",
    "linf",
    "l2",
    "l0",
)
ALWAYS_STORED = ("success", "flip_step")  # run.json holds these even when unknown (null)


def success_flags(
    confidences: np.ndarray, true_label: int | None, target_label: int | None
) -> np.ndarray | None:
    """Per-step success of an attack over (steps, K) confidences: targeted, the argmax is the
    target; untargeted, it is not the true class. None when the run has no label to judge by."""
    preds = np.asarray(confidences).argmax(axis=-1)
    if target_label is not None:
        return preds == target_label
    if true_label is not None:
        return preds != true_label
    return None


def perturbation_norms(image: np.ndarray, original: np.ndarray) -> dict[str, float]:
    """L-inf, L2 and L0 of ``image - original`` in [0, 1] units (L0 counts changed pixels)."""
    mag = as_float01(image) - as_float01(original)  # a new array: made absolute in place
    np.abs(mag, out=mag)
    if mag.ndim == 3:  # a pixel changed if any channel did (elementwise: fast for C = 1..4)
        changed = mag[..., 0] > 1e-6
        for c in range(1, mag.shape[-1]):
            changed |= mag[..., c] > 1e-6
    else:
        changed = mag > 1e-6
    # (not np.dot: a BLAS call wakes OpenBLAS's threads, which then spin on the writer's cores)
    return {
        "linf": float(mag.max()),
        "l2": math.sqrt(float(np.square(mag, dtype=np.float64).sum())),
        "l0": int(np.count_nonzero(changed)),
    }


class SummaryAccumulator:
    """Accumulates the summary over the steps of a run, in order, one block of steps at a time.

    ``add(confidences, image)`` takes one step; ``add_steps(confidences, last_image)`` takes a
    block of steps (a whole stored run at once): both give the same summary.
    """

    def __init__(
        self,
        true_label: int | None,
        target_label: int | None,
        original: np.ndarray | None = None,
        *,
        steps: int = 0,
        stored: dict[str, Any] | None = None,
    ) -> None:
        self.true_label = true_label
        self.target_label = target_label
        self.original = original
        self.steps = steps  # steps seen so far
        self.values: dict[str, Any] = dict.fromkeys(KEYS)
        for key in KEYS:  # resuming a run: start from what its run.json says
            if stored and stored.get(key) is not None:
                self.values[key] = stored[key]

    def add(self, confidences: np.ndarray | None = None, image: np.ndarray | None = None) -> None:
        """Account for one more step (its (K,) confidences and its image)."""
        block = None if confidences is None else np.asarray(confidences)[None]
        self.add_steps(block, image, count=1)

    def add_steps(
        self,
        confidences: np.ndarray | None,
        last_image: np.ndarray | None = None,
        *,
        count: int | None = None,
    ) -> None:
        """Account for a block of steps: their (n, K) confidences (None for a run without a
        classifier, then give ``count``) and the block's last image."""
        n = len(confidences) if confidences is not None else int(count or 0)
        if n == 0:
            return
        if confidences is not None:
            self._add_confidences(np.asarray(confidences))
        original = self.original
        if last_image is not None and original is not None and last_image.shape == original.shape:
            self.values.update(perturbation_norms(last_image, original))
        self.steps += n

    def note_image(self, image: np.ndarray) -> None:
        """Take the perturbation norms from ``image``, the latest step (no step is added)."""
        original = self.original
        if original is not None and image.shape == original.shape:
            self.values.update(perturbation_norms(image, original))

    def copy(self) -> SummaryAccumulator:
        """An independent accumulator in the same state (the original image is shared)."""
        twin = SummaryAccumulator(self.true_label, self.target_label, self.original)
        twin.steps = self.steps
        twin.values = dict(self.values)
        return twin

    def _add_confidences(self, conf: np.ndarray) -> None:
        v = self.values
        true, target = self.true_label, self.target_label
        flags = success_flags(conf, true, target)
        if flags is not None:
            v["success"] = bool(flags[-1])
            hits = np.flatnonzero(flags)
            if v["flip_step"] is None and hits.size:
                v["flip_step"] = self.steps + int(hits[0])
        last = conf[-1]
        v["final_pred"] = int(last.argmax())
        v["final_pred_conf"] = float(last.max())
        if true is not None:
            v["final_true_conf"] = float(last[true])
            if v["initial_true_conf"] is None:
                v["initial_true_conf"] = float(conf[0][true])
        if target is not None:
            v["final_target_conf"] = float(last[target])

    def result(self) -> dict[str, Any]:
        """Every summary value (None when unknown), JSON-ready."""
        return dict(self.values)

    def stored(self) -> dict[str, Any]:
        """The summary as run.json stores it: the known values, plus success and flip_step."""
        return {k: v for k, v in self.values.items() if v is not None or k in ALWAYS_STORED}


def kept_steps_meta(run: Any, n: int, last: np.ndarray, now: str) -> dict[str, Any]:
    """The run.json fields of ``run`` cut to its first ``n`` steps by a resume: the summary of
    the steps kept, and ``steps_dropped`` (renders of its steps made before are no longer its
    frames, though it may grow past its old length before the next one is made).

    Args:
        run: the run as stored (a :class:`~animlib.reader.Run`).
        n: the steps kept (fewer than it has).
        last: the image of step ``n - 1``.
        now: the time of the resume (ISO 8601).

    Returns:
        ``summary`` and ``steps_dropped`` (when, how many kept, how many it had).
    """
    summary = SummaryAccumulator(run.true_label, run.target_label, run.original)
    conf = run.confidences[:n] if run.has_confidences else None
    summary.add_steps(conf, last, count=n)
    dropped = {"at": now, "kept": n, "had": len(run), "id": secrets.token_hex(6)}  # (id: two
    return {"summary": summary.stored(), "steps_dropped": dropped}  # resumes in one second)
