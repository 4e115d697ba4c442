"""The notes the CLI's ``summary`` prints on stderr after its table: what its numbers leave out."""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import Any

from .text import plural, printable, some_of

__all__ = [
    "note_broken",
    "note_clean_misses",
    "note_left_out",
    "note_missing",
    "note_mixed_models",
    "note_repeated_images",
    "summary_notes",
]

REASONS = {"stale": "stale (writer killed or silent)", "no step": "with no step stored"}


def summary_notes(
    root: str,
    table: Any,
    *,
    all_runs: bool,
    all_counted: bool,
    checked: tuple[int, int] = (0, 0),
    within: Collection[str] | None = None,
    elsewhere: bool = False,
) -> None:
    """On stderr, every note of ``summary`` on its ``table`` (``all_counted``: it was asked to
    count the incomplete runs too; ``checked``: the runs it left out because their arrays
    cannot be read, and those whose arrays it did not check yet; ``within``: the runs it was
    narrowed to, which the notes then speak of; ``elsewhere``: another check of the arrays was
    under way). The notes read the run index the summary refreshed: none lists the folder."""
    if not all_counted:
        note_left_out(root, all_runs=all_runs, within=within)
    experiments = None if within is None else _experiments_of(root, within)
    note_broken(root, *checked, experiments=experiments, elsewhere=elsewhere)
    note_missing(root, experiments=experiments)
    note_repeated_images(table)
    note_past_budget(root, all_runs=all_runs, all_counted=all_counted, within=within)
    note_clean_misses(table)
    note_mixed_models(table)
    note_float32_keys(table)


def note_past_budget(
    root: str,
    *,
    all_runs: bool,
    all_counted: bool = False,
    within: Collection[str] | None = None,
    most: int = 3,
) -> None:
    """On stderr, the successful runs counted in the summary (``all_counted``: the incomplete
    ones too) whose perturbation is larger than their ``params.eps``
    (:func:`animlib.outcomes.past_budget`): an attack that leaves its budget (a missing
    projection) counts them in success_rate, and a median L∞ hides them."""
    from .index import open_index
    from .index.experiments import counted_runs, past_budget_candidates
    from .outcomes import past_budget

    index = open_index(root)  # (the index the summary just refreshed)
    ids = past_budget_candidates(index, experiments_only=not all_runs, within=within)
    infos = index.infos(ids) if ids else []  # (only these run.json are parsed)
    counted = None if all_counted else counted_runs(index, {i.id for i in infos})
    past = sorted(
        f"{info.id} (L∞ {found[0]:.4g} > ε {found[1]:.4g})"
        for info in infos
        if (counted is None or info.id in counted)  # (those in the numbers)
        and (found := past_budget(info.meta or {})) is not None
    )
    if past:
        one = len(past) == 1
        print(
            f"note: {plural(len(past), 'successful run')} {'goes' if one else 'go'} past "
            f"params.eps: {some_of(past, most)}; success_rate counts {'it' if one else 'them'}: "
            "check the attack's projection",
            file=sys.stderr,
        )


def note_float32_keys(table: Any) -> None:
    """On stderr, a summary ``table``'s group values that are one number in float32 but not
    as stored: ``eps=8/255`` from a script beside ``np.float32(8/255)`` (a tensor's value,
    stored as 0.03137255), or ``0.3`` beside ``3 * 0.1``, group apart."""
    import numpy as np

    columns = list(table.columns)
    for column in columns[: columns.index("n")] if "n" in columns else []:
        floats = sorted({v for v in table[column] if isinstance(v, float) and v == v})
        with np.errstate(over="ignore", under="ignore"):
            single = [np.float32(v) for v in floats]
        for a, b, sa, sb in zip(floats, floats[1:], single, single[1:], strict=False):
            if sa == sb and np.isfinite(sa) and sa != 0:  # (not both past float32's range)
                print(
                    f"note: {printable(column)} groups {a!r} and {b!r} apart: they differ only "
                    "past float32 precision (a float32 of the value, such as a tensor's, or "
                    "arithmetic such as 3 * 0.1); log the same value for both to group them",
                    file=sys.stderr,
                )
                return


def _experiments_of(root: str, runs: Collection[str]) -> set[str]:
    """The experiments the runs ``runs`` belong to (from the run index the summary read)."""
    from .index import open_index

    table = open_index(root).table
    pairs = zip(table["id"].to_pylist(), table["experiment"].to_pylist(), strict=True)
    return {experiment for run, experiment in pairs if run in runs and experiment}


def note_mixed_models(table: Any, most: int = 3) -> None:
    """On stderr, the rows of a summary ``table`` that pool the runs of several models: their
    rates average models that are not comparable (two students' BIM runs in one row)."""
    from .summary_scope import MIXED_MODELS

    mixed = table.attrs.get(MIXED_MODELS) or {}
    if not mixed:
        return
    named = [
        printable(f"{label} ({', '.join(models)})") for label, models in list(mixed.items())[:most]
    ]
    more = f" and {len(mixed) - most} more" if len(mixed) > most else ""
    print(
        f"note: {plural(len(mixed), 'row')} {'pools' if len(mixed) == 1 else 'pool'} the runs "
        "of several models: "
        f"{'; '.join(named)}{more}; add model to --by, or narrow the summary with --experiment "
        "or --search",
        file=sys.stderr,
    )


def note_left_out(root: str, *, all_runs: bool, within: Collection[str] | None = None) -> None:
    """On stderr: how many runs the summary counts though still running, how many it left out
    of its numbers, and why."""
    from .index import open_index
    from .index.experiments import left_out_counts, running_counted

    # (the index the summary just refreshed)
    index = open_index(root)
    runs, experiments = running_counted(index, experiments_only=not all_runs, within=within)
    if runs:
        of = f" of {plural(experiments, 'experiment')}" if experiments else ""
        print(
            f"note: {plural(runs, 'run')}{of} still running counted with their steps so far "
            "(not a final result: robust until attacked)",
            file=sys.stderr,
        )
    counts = left_out_counts(index, experiments_only=not all_runs, within=within)
    if counts:
        why = ", ".join(f"{n:,} {REASONS.get(r, r)}" for r, n in sorted(counts.items()))
        print(
            f"note: {plural(sum(counts.values()), 'run')} left out of the numbers as no result "
            f"({why}; column left_out): --include-incomplete counts them",
            file=sys.stderr,
        )


def note_broken(
    root: str,
    damaged: int = 0,
    unchecked: int = 0,
    experiments: Collection[str] | None = None,
    elsewhere: bool = False,
) -> None:
    """On stderr, how many folders the summary could not read (their runs are not counted;
    with ``experiments``, those named like their sample runs only), how many runs it left out
    because their arrays cannot be read (``damaged``), and how many runs' arrays it has not
    checked yet (``unchecked``; ``elsewhere``: another check of them was under way)."""
    from .experiment_views import unread_note
    from .experiments import CHECK_BUDGET_S, unreadable_samples
    from .index import open_index
    from .index.checks import SHARED_BUDGET_S
    from .index.query import broken_rows

    index = open_index(root)  # the index the summary just refreshed
    broken = broken_rows(index.table)["id"].to_pylist()
    if experiments is not None:  # (a summary narrowed: the folders that may be its runs)
        broken = [r for e in experiments for r in unreadable_samples(e, broken)]
    n = len(broken)
    why = f"python -m animlib validate {root} says why"
    if n:
        print(f"note: {unread_note(n)} ({why})", file=sys.stderr)
    if unchecked:
        how = f"a summary checks for {CHECK_BUDGET_S:g} s, the next ones go on"
        if elsewhere:
            how = f"another process is checking them now, a summary meanwhile {SHARED_BUDGET_S:g} s"
        print(
            f"note: the arrays of {plural(unchecked, 'run')} are not checked yet ({how}; "
            f"python -m animlib validate {root} lists the broken ones now): a damaged one "
            "among them is still counted",
            file=sys.stderr,
        )
    if damaged:
        print(
            f"note: {plural(damaged, 'run')} left out of the numbers: arrays that cannot "
            f"be read (column left_out; {why})",
            file=sys.stderr,
        )


def note_missing(root: str, most: int = 5, experiments: Collection[str] | None = None) -> None:
    """On stderr, the experiments (of ``experiments`` only, when given) some of whose sample
    runs are gone or damaged (their numbers cover the runs left; the summary's row alone did
    not show it), from the run index the command refreshed."""
    from .validation import missing_sample_runs

    lines = missing_sample_runs(root, experiments=experiments, refresh=False)
    for line in lines[:most]:
        if line.startswith("MIXED "):
            print(f"note: {line.removeprefix('MIXED ')}", file=sys.stderr)
            continue
        text = line.removeprefix("MISSING ")
        print(f"note: {text}: its numbers cover the runs left", file=sys.stderr)
    if len(lines) > most:
        print(f"note: and {len(lines) - most} more experiments missing runs", file=sys.stderr)


def note_clean_misses(table: Any, most: int = 3) -> None:
    """On stderr, the rows of a summary ``table`` whose images the model got wrong before
    the attack (clean_acc below 1): an untargeted attack counts each such image still wrong at
    its last step as fooled at step 0 (success, flip step 0), a targeted one only where the
    model already predicted the target, which the success rate alone does not show."""
    from .experiment_views import clean_misses
    from .summary_pools import group_label

    if "clean_acc" not in table or "n" not in table:
        return
    keys = list(table.columns[: list(table.columns).index("n")])  # the --by keys
    keys = ["experiment"] if "experiment" in keys else keys  # (not the attack, ε beside it)
    labels = [group_label(row) for row in table[keys].itertuples(index=False)]
    missed = clean_misses(table, labels)
    if not missed:
        return
    named = [f"{label} ({k} of {n})" for label, k, n in missed]
    print(
        f"note: images misclassified before the attack in {some_of(named, most)}: an "
        "untargeted attack counts each still misclassified at its last step as fooled at step "
        "0 (success, flip step 0), a targeted one only where the model already predicted the "
        "target; robust_acc, the accuracy at the last step, counts one as robust only if the "
        "attack's last image is classified correctly (RobustBench would not count it)",
        file=sys.stderr,
    )


def note_repeated_images(table: Any) -> None:
    """On stderr, the groups of a summary ``table`` that hold one image attacked alike
    (attack, model, params, target) by several experiments: a rerun with
    ``if_exists="new"`` (``pgd-2`` beside ``pgd``), which their ``n`` and rates count twice
    (its ``attrs["reruns"]``, which :func:`animlib.summarize`'s warning names too)."""
    from .summary_pools import RERUNS, reruns_text

    if reruns := table.attrs.get(RERUNS):
        print(f"note: {reruns_text(reruns, '--by experiment')}", file=sys.stderr)
