"""The experiment columns of an index row: what the experiments page reads of a sample run."""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa

from ..experiments import image_key
from ..outcomes import outcome_from_meta

SAMPLE_TYPES = {
    "sample": pa.string(),  # the sample id as JSON (a number or a string)
    "image": pa.string(),  # what identifies the attacked image (experiments.image_key)
    "true_label": pa.int64(),
    "target_label": pa.int64(),
    "final_pred": pa.int64(),
    "targeted": pa.bool_(),
    "clean_correct": pa.bool_(),
    "robust": pa.bool_(),
    "eps": pa.float64(),  # params.eps, else params.epsilon
    "experiment_flip": pa.int64(),  # the flip step in the experiment's steps (a paused sample)
    "experiment_steps": pa.int64(),  # the steps the experiment had logged (paused samples: more)
    "updated_key": pa.string(),  # ``updated`` as written
    # whether the columns above (with the run columns) give exactly what the experiment views
    # compute from run.json; runs of experiments with a row that does not are read as before
    "exact": pa.bool_(),
}
SAMPLE_COLUMNS = tuple(SAMPLE_TYPES)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_none(value: Any) -> bool:
    return value is None or (_is_int(value) and -(2**63) <= value < 2**63)


def _float_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isfinite(value))


def _text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _exact(meta: dict[str, Any], outcome: dict[str, Any] | None, eps: Any) -> bool:
    summary = meta.get("summary") or {}
    sample = meta.get("sample")
    return (
        outcome is not None
        and (_is_int(sample) or isinstance(sample, str))
        and isinstance(summary, dict)
        and isinstance(meta.get("params") or {}, dict)
        and all(
            _int_or_none(v)
            for v in (
                meta.get("true_label"),
                meta.get("target_label"),
                meta.get("experiment_steps"),
                summary.get("final_pred"),
            )
        )
        and _int_or_none(summary.get("flip_step"))
        and (summary.get("success") is None or isinstance(summary.get("success"), bool))
        and all(_float_or_none(summary.get(k)) for k in ("linf", "l2"))
        and _float_or_none(eps)
        and all(_text_or_none(meta.get(k)) for k in ("created", "updated"))
        and isinstance(meta.get("attack"), str)
    )


def sample_values(meta: dict[str, Any]) -> dict[str, Any]:
    """The experiment columns of a run that names an experiment (see :data:`SAMPLE_TYPES`).

    Args:
        meta: its run.json.

    Returns:
        One value per experiment column.
    """
    summary = meta.get("summary") if isinstance(meta.get("summary"), dict) else {}
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    try:
        outcome = outcome_from_meta(meta) if isinstance(meta.get("summary") or {}, dict) else None
    except (TypeError, ValueError):  # labels that are no numbers: read as before (and refused)
        outcome = None
    eps = params.get("eps", params.get("epsilon"))
    exact = _exact(meta, outcome, eps)
    values: dict[str, Any] = dict.fromkeys(SAMPLE_COLUMNS)
    values.update(exact=exact, targeted=meta.get("target_label") is not None)
    if not exact:
        return values
    updated = meta.get("updated")
    values.update(
        sample=json.dumps(meta.get("sample")),
        image=image_key(meta),
        true_label=meta.get("true_label"),
        target_label=meta.get("target_label"),
        final_pred=summary.get("final_pred"),
        clean_correct=outcome["clean_correct"],
        robust=outcome["robust"],
        eps=eps,
        experiment_flip=outcome["flip_step"],
        experiment_steps=meta.get("experiment_steps"),
        updated_key=updated if isinstance(updated, str) else None,
    )
    return values
