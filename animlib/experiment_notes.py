"""What the experiments page warns of: experiments missing sample runs, or pooling another's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .experiments import ExperimentInfo, mixed_runs
from .text import some_of


def missing_note(lacking: Sequence[tuple[str, int, Any, Sequence[str]]]) -> str:
    """What the experiments page says of experiments with sample runs missing: ``lacking``
    holds each one's id, how many are missing, its sample count and those of its runs that
    cannot be read (named like its samples; Markdown escaped by the caller)."""
    parts = []
    for exp_id, missing, samples, unreadable in lacking:
        bad = f": {', '.join(unreadable[:2])}{' …' if len(unreadable) > 2 else ''} cannot be read"
        parts.append(f"{exp_id} ({missing} of {samples}{bad if unreadable else ''})")
    damaged = sum(1 for *_, unreadable in lacking if unreadable)
    why = "deleted or moved out of the results folder"
    if damaged:
        why = "damaged (the runs page lists why) or deleted or moved out of the results folder"
    return (
        f"Sample runs missing from {some_of(parts)}: {why}, so those experiments' "
        "numbers cover only the runs left."
    )


def experiment_warnings(
    lacking: Sequence[tuple[str, int, Any, Sequence[str]]],
    experiments: Sequence[ExperimentInfo],
    escape: Callable[[Any], str],
) -> list[str]:
    """What the experiments page warns of: the experiments with sample runs missing
    (:func:`missing_note` of ``lacking``), and those of ``experiments`` holding more sample
    runs than their writer made (another experiment's runs of that id:
    :func:`animlib.experiments.mixed_runs`), their ids through ``escape`` (Markdown)."""
    notes = [missing_note(lacking)] if lacking else []
    mixed = [f"{escape(e.id)} ({e.get('n_runs')} runs, {e.get('n_samples')} made)"
             for e in experiments if mixed_runs(e)]  # fmt: skip
    if mixed:
        notes.append(
            f"More sample runs than their writer made in {some_of(mixed)}: runs of "
            "another experiment of that id are among them (folders renamed, then the name "
            "logged again, or runs copied in from another results folder), and the numbers "
            "pool both. Give one of them another `experiment` in run.json, or remove its runs."
        )
    return notes
