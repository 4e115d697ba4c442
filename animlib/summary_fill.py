"""The summary of a run.json written without one (by another tool), computed from its arrays."""

# animlib's writers store a run's summary (final prediction, success, flip step, norms) in its
# run.json, so listing never reads arrays. A run written from the format alone has none, and
# every table (the runs page, ``ls``, ``summarize``, ``outcomes``, the experiments page) showed
# its outcome as unknown. Listing fills it in from the arrays instead, in memory only (the run
# folder is never written): once per run.json version, as the run index keeps what listing read.

from __future__ import annotations

from typing import Any

from .errors import AnimlibError
from .store import Store


def lacks_summary(meta: dict[str, Any]) -> bool:
    """Whether run.json has no final prediction for a run with steps that may have
    confidences (animlib's writers always store one)."""
    summary = meta.get("summary")
    if summary is not None and not isinstance(summary, dict):
        return False  # (refused by the format check)
    arrays = meta.get("arrays")
    may_have = not isinstance(arrays, list) or "confidences" in arrays
    steps = meta.get("steps")
    return (
        (summary or {}).get("final_pred") is None and may_have and type(steps) is int and steps > 0
    )


def summary_from_arrays(root: Store, run_id: str) -> dict[str, Any] | None:
    """The summary animlib's writer would have stored for run ``run_id`` of ``root``, from its
    confidences, last image and original (its first step without one); None for a run without
    confidences or whose arrays cannot be read (the checks of the pages say why)."""
    from .reader import open_run_in
    from .summary import SummaryAccumulator

    try:
        run = open_run_in(root, run_id)
        n = len(run)
        if run.confidences is None or n == 0:
            return None
        original = run.original if run.original is not None else run.images[0]
        acc = SummaryAccumulator(run.true_label, run.target_label, original)
        acc.add_steps(run.confidences[:n], run.images[n - 1])
        summary = acc.stored()
        summary["initial_pred"] = int(run.confidences[0].argmax())
        return summary
    except (AnimlibError, OSError, ValueError, IndexError):
        return None


def fill_summary(root: Store, run_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with the summary :func:`summary_from_arrays` gives when it lacks one (values it
    has are kept); ``meta`` itself otherwise."""
    if not lacks_summary(meta):
        return meta
    found = summary_from_arrays(root, run_id)
    if found is None:
        return meta
    stored = {k: v for k, v in (meta.get("summary") or {}).items() if v is not None}
    return {**meta, "summary": {**found, **stored}}
