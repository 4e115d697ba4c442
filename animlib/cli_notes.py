"""The notes the CLI's ``summary`` prints on stderr after its table: what its numbers leave out."""

from __future__ import annotations

import sys
from typing import Any

from .text import plural

__all__ = ["note_broken", "note_clean_misses", "note_left_out", "note_missing"]

REASONS = {"stale": "stale (writer killed or silent)", "no step": "with no step stored"}


def note_left_out(root: str, *, all_runs: bool) -> None:
    """On stderr: how many runs the summary counts though still running, how many it left out
    of its numbers, and why."""
    from .index import open_index
    from .index.experiments import left_out_counts, running_counted

    # (the index the summary just refreshed)
    index = open_index(root)
    runs, experiments = running_counted(index, experiments_only=not all_runs)
    if runs:
        of = f" of {plural(experiments, 'experiment')}" if experiments else ""
        print(
            f"note: {plural(runs, 'run')}{of} still running counted with their steps so far "
            "(not a final result: robust until attacked)",
            file=sys.stderr,
        )
    counts = left_out_counts(index, experiments_only=not all_runs)
    if counts:
        why = ", ".join(f"{n:,} {REASONS.get(r, r)}" for r, n in sorted(counts.items()))
        print(
            f"note: {plural(sum(counts.values()), 'run')} left out of the numbers as no result "
            f"({why}; column left_out): --include-incomplete counts them",
            file=sys.stderr,
        )


def note_broken(root: str) -> None:
    """On stderr, how many folders the summary could not read (their runs are not counted)."""
    from .experiment_views import unread_note
    from .index import open_index
    from .index.query import broken_rows

    n = broken_rows(open_index(root).table).num_rows  # the index the summary just refreshed
    if n:
        why = f"python -m animlib validate {root} says why"
        print(f"note: {unread_note(n)} ({why})", file=sys.stderr)


def note_missing(root: str, most: int = 5) -> None:
    """On stderr, the experiments some of whose sample runs are gone or damaged (their numbers
    cover the runs left; the summary's row alone did not show it)."""
    from .validation import missing_sample_runs

    lines = missing_sample_runs(root)
    for line in lines[:most]:
        text = line.removeprefix("MISSING ")
        print(f"note: {text}: its numbers cover the runs left", file=sys.stderr)
    if len(lines) > most:
        print(f"note: and {len(lines) - most} more experiments missing runs", file=sys.stderr)


def note_clean_misses(table: Any, most: int = 3) -> None:
    """On stderr, the rows of a summary ``table`` whose images the model got wrong before
    the attack (clean_acc below 1): an untargeted attack counts each such image as fooled at
    step 0 (success, flip step 0), a targeted one only where the model already predicted the
    target, which the success rate alone does not show."""
    from .experiment_views import clean_misses

    if "clean_acc" not in table or "n" not in table:
        return
    keys = list(table.columns[: list(table.columns).index("n")])  # the --by keys
    keys = ["experiment"] if "experiment" in keys else keys  # (not the attack, ε beside it)
    labels = [" ".join(map(str, row)) for row in table[keys].itertuples(index=False)]
    missed = clean_misses(table, labels)
    if not missed:
        return
    named = [f"{label} ({k} of {n})" for label, k, n in missed[:most]]
    more = f" and {len(missed) - most} more" if len(missed) > most else ""
    print(
        f"note: images misclassified before the attack in {', '.join(named)}{more}: an "
        "untargeted attack counts each as fooled at step 0 (success, flip step 0), a targeted "
        "one only where the model already predicted the target; robust_acc counts them as not "
        "robust",
        file=sys.stderr,
    )
