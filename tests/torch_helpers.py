"""Helpers for torch tests: the digits CNN trained once per session, fresh recomputation."""

from __future__ import annotations

import math

import numpy as np

import animlib


def cnn_weights(tmp_path_factory) -> str:
    """Path of the digits CNN weights, trained on first use in this pytest session."""
    from animlib.demo import cnn

    path = str(tmp_path_factory.getbasetemp() / "digits_cnn.npz")
    cnn.load_or_train(path)
    return path


def recompute(root, experiment: str, model) -> dict:
    """The summarize() columns of one experiment, from its stored images and a fresh forward pass.

    Every stored step of every run goes through ``model``; nothing stored besides the images and
    the labels is trusted.
    """
    import torch

    exp = next(e for e in animlib.list_experiments(root) if e.id == experiment)
    clean, robust, success, linf, l2, flips = [], [], [], [], [], []
    for run_id in exp.run_ids:
        run = animlib.open_run_in(root, run_id)
        images = np.stack(list(run.images))
        with torch.no_grad():
            preds = model(torch.from_numpy(np.moveaxis(images, -1, 1))).argmax(1).numpy()
        true, target = run.true_label, run.target_label
        hits = preds == target if target is not None else preds != true
        clean.append(preds[0] == true)
        robust.append(preds[-1] == true)
        success.append(bool(hits[-1]))
        if hits[-1]:
            delta = images[-1].astype(np.float64) - images[0]
            linf.append(np.abs(delta).max())
            l2.append(math.sqrt(np.square(delta).sum()))
            flips.append(int(np.flatnonzero(hits)[0]))

    def median(values):
        return float(np.median(values)) if values else math.nan

    return {
        "n": len(exp.run_ids),
        "clean_acc": float(np.mean(clean)),
        "robust_acc": float(np.mean(robust)),
        "success_rate": float(np.mean(success)),
        "median_linf": median(linf),
        "median_l2": median(l2),
        "median_flip_step": median(flips),
    }


def assert_summary_matches(root, experiment: str, model) -> None:
    """summarize()'s row for ``experiment`` equals :func:`recompute`."""
    table = animlib.summarize(root).set_index("experiment")
    row = table.loc[experiment]
    for key, value in recompute(root, experiment, model).items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(row[key]), key
        else:
            assert row[key] == np_approx(value), (experiment, key, row[key], value)


def np_approx(value: float):
    import pytest

    return pytest.approx(value, rel=1e-5, abs=1e-6)
