"""Test helpers: deterministic images/probabilities and small runs written via the public API."""

from __future__ import annotations

import numpy as np

import animlib

CLASSES = ["cat", "dog", "frog", "ship"]


def probs_for(step: int, k: int = 4) -> np.ndarray:
    """Deterministic probabilities whose argmax moves from class 0 to class 1 over the steps."""
    logits = np.zeros(k)
    logits[0] = 2.0 - 0.25 * step
    logits[1] = 0.25 * step
    return np.exp(logits) / np.exp(logits).sum()


def image_for(step: int, shape=(16, 12, 3)) -> np.ndarray:
    """Deterministic float image for a step (so a reader can check what it sees)."""
    rng = np.random.default_rng(step)
    return rng.random(shape, dtype=np.float32)


def write_run(root, name="r", steps=12, shape=(16, 12, 3), confidences=True, original=True, **kw):
    """Write a small run through the public API and return its id."""
    x0 = image_for(0, shape)
    with animlib.RunWriter(
        root,
        name=name,
        attack=kw.pop("attack", "PGD"),
        model=kw.pop("model", "tiny"),
        class_names=CLASSES if confidences else None,
        true_label=0 if confidences else None,
        original=x0 if original else None,
        **kw,
    ) as w:
        for i in range(steps):
            w.log(image=image_for(i, shape), confidences=probs_for(i) if confidences else None)
    return w.run_id
