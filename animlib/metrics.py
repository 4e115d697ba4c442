"""Run metrics (the attack summary recomputed from the arrays) and the confidence table."""

from __future__ import annotations

from typing import Any

import numpy as np

from .protocol import RunLike
from .summary import SummaryAccumulator


def run_metrics(run: RunLike) -> dict[str, Any]:
    """The summary metrics of a run, recomputed from its arrays (every key of
    :data:`animlib.summary.KEYS`; None when unknown)."""
    if len(run) == 0:
        return SummaryAccumulator(run.true_label, run.target_label).result()
    acc = SummaryAccumulator(run.true_label, run.target_label, run.original)
    acc.add_steps(run.confidences, run.images[len(run) - 1], count=len(run))
    return acc.result()


def unique_names(names: list[Any]) -> list[str]:
    """Class names as unique strings for table columns: a repeated name gets its index appended
    (ImageNet, for one, has two classes called "crane")."""
    names = [str(n) for n in names]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    out = [f"{n} [{k}]" if seen[n] > 1 else n for k, n in enumerate(names)]
    return out if len(set(out)) == len(out) else [f"{n} [{k}]" for k, n in enumerate(names)]


def confidence_table(run: RunLike, top_k: int | None = None):
    """A steps x classes pandas DataFrame of confidences (top-k classes by max over the run)."""
    import pandas as pd

    conf = run.confidences
    if conf is None:
        return pd.DataFrame(index=pd.RangeIndex(len(run), name="step"))
    names = unique_names(run.class_names)
    order = np.argsort(-conf.max(axis=0), kind="stable")
    keep = list(order[:top_k]) if top_k else list(order)
    for label in (run.true_label, run.target_label):
        if label is not None and label not in keep:
            keep.append(label)
    keep = sorted(int(k) for k in keep)
    frame = pd.DataFrame(conf[:, keep], columns=[names[k] for k in keep])
    frame.index.name = "step"
    return frame
