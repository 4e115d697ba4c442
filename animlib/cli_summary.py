"""The command line's ``summary``: attack results per experiment (or other keys), its notes."""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from .cli_notes import summary_notes
from .cli_output import print_json, summary_text
from .errors import AnimlibError, Code
from .text import plural, printable


def _no_summary(root: str, all_runs: bool) -> str:
    """What an empty summary means: no runs at all, or runs that belong to no experiment
    (from the run index the summary just refreshed)."""
    from .index import open_index
    from .index.query import good_rows

    readable = good_rows(open_index(root).table, columns=["id"]).num_rows
    if all_runs or not readable:
        return f"no readable runs in {root}"
    return (
        f"no experiments in {root}: none of its {plural(readable, 'readable run')} was logged by "
        "a BatchWriter (--all-runs --by attack counts them too)"
    )


def _number(value: float) -> str:
    """A summary's number: a whole one as it is (a flip step 10234, not 10.000 or 1.023e+04),
    others to 4 significant digits (1/16 read 0.062 at 3 decimals), one decimal from 10,000."""
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 1e4 else f"{value:.4g}"


def cmd_summary(args: argparse.Namespace) -> int:
    from .experiments import CHECKED_ELSEWHERE, DAMAGED, UNCHECKED, summarize
    from .summary_pools import RERUNS_NOTE
    from .summary_scope import narrows

    narrowed = narrows(args.experiment, args.search)
    try:
        with warnings.catch_warnings():  # (summarize's warning of reruns: a note says it below)
            warnings.filterwarnings("ignore", message=RERUNS_NOTE, category=UserWarning)
            table = summarize(
                args.runs,
                by=args.by,
                experiments_only=not args.all_runs,
                include_incomplete=args.include_incomplete,
                experiments=args.experiment,
                search=args.search,
                over=args.over or None,
            )
    except AnimlibError as exc:
        if exc.field not in ("by", "experiments", "over"):
            raise
        text = str(exc)
        if exc.field == "by" and exc.code == Code.NOT_FOUND and args.by == "experiment":
            runs = f"no run in {printable(args.runs)}"
            if narrowed:
                runs = "none of the runs --search finds"
            text = (
                f"{runs} belongs to an experiment: group them by other keys, e.g. --by "
                "attack,params.eps"
            )
        print(f"error: {text}", file=sys.stderr)
        return 2
    checked = int(table.attrs.get(DAMAGED, 0)), int(table.attrs.get(UNCHECKED, 0))  # (first)
    elsewhere = bool(table.attrs.get(CHECKED_ELSEWHERE))
    beside = not args.all_runs and len(table) and list(table.columns[:2]) == ["experiment", "n"]
    beside = beside and not args.over  # (the experiment's attack and ε: not with a spread)
    if beside:
        table = _beside_experiments(args.runs, table, narrowed, every=args.json)  # by experiment
    if args.json:
        from .summary_json import json_rows

        if beside:  # (by experiment, with its attack beside it: a null attack shows blank)
            print_json(json_rows(table, None, blank_is_null=("attack", "model")))
        else:
            print_json(json_rows(table, args.runs))
    elif table.empty:
        print(_none_matches(args) if narrowed else _no_summary(args.runs, args.all_runs))
    else:
        print(summary_text(table, float_format=_number))
    sys.stdout.flush()  # the notes after the table, also when both go to a terminal
    summary_notes(
        args.runs,
        table,
        all_runs=args.all_runs,
        all_counted=args.include_incomplete,
        checked=checked,
        within=_scope(args) if narrowed else None,
        elsewhere=elsewhere,
    )
    if without := table.attrs.get("over_missing"):
        print(
            f"note: {plural(without, 'run')} counted in the rates hold{'s' if without == 1 else ''}"
            f" no {printable(args.over)} (or null): not in over_n or the deviations",
            file=sys.stderr,
        )
    return 0


def _scope(args: argparse.Namespace) -> set[str] | None:
    """The runs ``summary`` was narrowed to (``--experiment``, ``--search``), None for all."""
    from .index import open_index
    from .summary_scope import run_scope

    index = open_index(args.runs)  # (the index the summary just refreshed)
    return run_scope(index, experiments=args.experiment, search=args.search, where=args.runs)


def _none_matches(args: argparse.Namespace) -> str:
    """What an empty summary narrowed by ``--experiment`` or ``--search`` means."""
    what = " and ".join(
        f"{flag} {printable(value)!r}"
        for flag, value in (("--experiment", args.experiment), ("--search", args.search))
        if value.strip(", ")
    )
    runs = "run" if args.all_runs else "run of an experiment"
    return f"no readable {runs} in {printable(args.runs)} matches {what}"


def _beside_experiments(root: str, summary, narrowed: bool = False, every: bool = False):
    """The summary by experiment with each experiment's attack, model, ε, status and steps beside
    its id (a failed or unfinished experiment reads as one), in the dashboard's order (the
    experiments of one sweep together, by ε), from the run index the summary just refreshed;
    ``narrowed`` (by ``--experiment`` or ``--search``): only the experiments it holds;
    ``every``: the model and ε columns even when empty (``--json``: the same keys on any folder)."""
    from .experiment_views import EPS, experiment_table
    from .experiments import SUMMARY_COLUMNS
    from .index import open_index
    from .index.experiments import experiments

    listed = experiments(open_index(root))
    if narrowed:
        held = set(summary["experiment"])
        listed = [e for e in listed if e.id in held]
    full = experiment_table(listed, summary)
    eps = [EPS] if every or full[EPS].notna().any() else []
    model = ["model"] if every or full["model"].astype(bool).any() else []  # (two models apart)
    return full[["experiment", "attack", *model, *eps, "status", "steps", *SUMMARY_COLUMNS]]
