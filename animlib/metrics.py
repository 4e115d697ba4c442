"""Run metrics: the attack summary recomputed from a run's arrays."""

from __future__ import annotations

from typing import Any

from .protocol import RunLike, RunPath, as_run
from .summary import SummaryAccumulator


def run_metrics(run: RunLike | RunPath) -> dict[str, Any]:
    """The summary metrics of a run, recomputed from its arrays (every key of
    :data:`animlib.summary.KEYS`; None when unknown). A run folder's path works in place of a
    run (opened with :func:`animlib.open_run`); anything else raises RunInputError."""
    run = as_run(run)
    if len(run) == 0:
        return SummaryAccumulator(run.true_label, run.target_label).result()
    acc = SummaryAccumulator(run.true_label, run.target_label, run.original)
    acc.add_steps(run.confidences, run.images[len(run) - 1], count=len(run))
    return acc.result()
