"""What a run.json written by another tool lacks (summary, image hash), computed from its arrays."""

# animlib's writers store a run's summary (final prediction, success, flip step, norms) in its
# run.json, so listing never reads arrays. A run written from the format alone has none, and
# every table (the runs page, ``ls``, ``summarize``, ``outcomes``, the experiments page) showed
# its outcome as unknown; without ``original_sha1`` its runs on one clean image were never
# grouped. Listing fills both in from the arrays instead, in memory only (the run folder is never
# written): once per run.json version, as the run index keeps what listing read.

from __future__ import annotations

from typing import Any

from . import meta as M
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


def _lacks_hash(meta: dict[str, Any]) -> bool:
    """Whether run.json has no ``original_sha1`` key (animlib's writers always write one, null
    without an original): runs of the same clean image are grouped by it."""
    steps = meta.get("steps")
    return "original_sha1" not in meta and type(steps) is int and steps > 0


def values_from_arrays(root: Store, run_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    """What animlib's writer would have stored in run ``run_id``'s run.json and ``meta`` lacks:
    the ``summary`` (from its confidences, last image and original, its first step without
    one) and ``original_sha1``; {} for a run whose arrays cannot be read (the checks of the
    pages say why)."""
    from .reader import open_run_in
    from .summary import SummaryAccumulator

    found: dict[str, Any] = {}
    try:
        run = open_run_in(root, run_id)
        n = len(run)
        if _lacks_hash(meta):
            found["original_sha1"] = M.original_sha1(run.original)
        if lacks_summary(meta) and run.confidences is not None and n:
            original = run.original if run.original is not None else run.images[0]
            acc = SummaryAccumulator(run.true_label, run.target_label, original)
            acc.add_steps(run.confidences[:n], run.images[n - 1])
            found["summary"] = {**acc.stored(), "initial_pred": int(run.confidences[0].argmax())}
    except Exception:  # (AnimlibError and any other: one odd run never breaks a listing)
        return {}
    return found


def fill_summary(root: Store, run_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with what :func:`values_from_arrays` gives when it lacks some (the values it
    has are kept); ``meta`` itself otherwise."""
    if not (lacks_summary(meta) or _lacks_hash(meta)):
        return meta
    found = values_from_arrays(root, run_id, meta)
    if "summary" in found:
        stored = {k: v for k, v in (meta.get("summary") or {}).items() if v is not None}
        found["summary"] = {**found["summary"], **stored}
    return {**meta, **found}
