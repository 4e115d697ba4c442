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


def zstd_zeros(nbytes: int) -> bytes:
    """A valid zstd frame of ``nbytes`` zero bytes in a few KB (RLE blocks): what a chunk file
    crafted to exhaust memory looks like (805 MB in 24 KB)."""
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append(0b11100000)  # 8-byte content size, single segment
    out += nbytes.to_bytes(8, "little")
    block, left = 128 * 1024, nbytes
    while left > 0:
        size = min(block, left)
        left -= size
        header = (1 if left == 0 else 0) | (1 << 1) | (size << 3)  # an RLE block
        out += header.to_bytes(3, "little") + b"\x00"
    return bytes(out)


def uint8_image(step: int, shape=(16, 12, 3)) -> np.ndarray:
    """The uint8 version of :func:`image_for`."""
    return (image_for(step, shape) * 255).astype(np.uint8)
