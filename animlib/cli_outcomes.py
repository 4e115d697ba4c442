"""The command line's ``outcomes``: per image, which experiments' attacks fooled the model, when."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

from .cli_output import as_written, print_json, table_lines
from .errors import AnimlibError
from .text import plural, printable, some_of
from .views import NO_VALUE, with_models

MOST_COLUMNS = 8  # experiments side by side in the text table (more: --csv, --json)
MOST_NAMED = 20  # samples named in the closing lines


def cmd_outcomes(args: argparse.Namespace) -> int:
    from .index import open_index
    from .index.experiments import experiments
    from .index.grid import outcomes
    from .summary_scope import experiment_ids, resolve_experiments

    index = open_index(args.runs)
    index.refresh()
    try:
        named = experiment_ids(args.experiment)
        wanted = resolve_experiments(index, named, args.runs) if named else []
    except AnimlibError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    table = not (args.csv or args.json)
    if not wanted and table:  # (the text table takes the first MOST_COLUMNS)
        wanted = _default_columns(index)
    wanted = wanted or [e.id for e in experiments(index)]
    if not wanted and table:
        print(f"no experiments in {printable(args.runs)}")
        return 0
    if not wanted:  # (what a script reads: an empty table, the note apart)
        print(f"note: no experiments in {printable(args.runs)}", file=sys.stderr)
    frame = outcomes(index, wanted)
    if (args.csv or args.json) and wanted:  # (notes on stderr: runs that are no result)
        _results(args.runs, index, frame, wanted)
    if args.csv:  # (UTF-8 bytes, as the dashboard's download, whatever stdout's encoding)
        from .experiment_grid import outcomes_to_csv

        sys.stdout.flush()
        getattr(sys.stdout, "buffer", sys.stdout).write(outcomes_to_csv(frame))
        return 0
    if args.json:
        from .summary_json import json_rows

        return print_json(json_rows(frame, None))
    if len(wanted) > MOST_COLUMNS:
        print(
            f"error: {len(wanted)} experiments do not fit side by side (at most {MOST_COLUMNS}): "
            "name some with --experiment A,B,..., or take every one with --csv or --json",
            file=sys.stderr,
        )
        return 2
    _print_flip_table(frame, wanted)
    counted = _results(args.runs, index, frame, wanted)
    for line in held_and_fooled(frame[frame["run"].isin(counted)], wanted):
        print(line)
    return 0


def _default_columns(index: Any) -> list[str]:
    """The experiments the table shows without ``--experiment``: every one in the order
    ``summary`` lists them (sweeps together, by ε), the first :data:`MOST_COLUMNS` only, with a
    note on stderr naming the others and how to see them."""
    import pandas as pd

    from .experiment_views import experiment_table
    from .index.experiments import experiments

    ordered = list(experiment_table(experiments(index), pd.DataFrame())["experiment"])
    if len(ordered) > MOST_COLUMNS:
        rest = ordered[MOST_COLUMNS:]
        print(
            f"note: the table and its closing lines show the first {MOST_COLUMNS} of "
            f"{len(ordered)} experiments (as summary lists them; at most {MOST_COLUMNS} fit "
            f"side by side), leaving out {len(rest):,}: {printable(some_of(rest, 5))}; name "
            f"the ones to show with --experiment A,B,... (at most {MOST_COLUMNS}), or take "
            "every one with --csv or --json",
            file=sys.stderr,
        )
    return ordered[:MOST_COLUMNS]


def _results(root: str, index: Any, frame: Any, wanted: Sequence[str]) -> set[str]:
    """The runs of ``frame`` the closing lines count: the ones ``summary`` counts (not
    failed, stale, step-less, or with arrays that cannot be read); on stderr, what they leave
    out, the runs still running, and the experiments missing sample runs."""
    from .cli_notes import note_missing
    from .index.checks import damaged_sample_runs, summary_budget
    from .index.experiments import counted_runs, left_out_counts, running_counted

    ids = set(frame["run"])
    damaged = damaged_sample_runs(index, within=ids, budget_s=summary_budget(index))[0]
    left = left_out_counts(index, experiments_only=True, within=ids)
    if damaged:
        left["arrays that cannot be read"] = len(damaged)
    if left:
        why = ", ".join(f"{n:,} {reason}" for reason, n in left.items())
        print(
            f"note: the closing lines leave out {plural(sum(left.values()), 'run')} that "
            f"are no result ({why}); the table shows them as their run.json says",
            file=sys.stderr,
        )
    running, _ = running_counted(index, experiments_only=True, within=ids)
    if running:
        print(
            f"note: {plural(running, 'run')} still running counted with their steps so far "
            "(not a final result)",
            file=sys.stderr,
        )
    note_missing(root, experiments=wanted)
    return counted_runs(index, ids) - set(damaged)


def _print_flip_table(frame: Any, wanted: Sequence[str]) -> None:
    """The image x experiment table of flip steps (the dashboard's), as text."""
    from .image_tables import flip_steps

    table = flip_steps(frame, wanted)
    models = models_of(frame)
    named = with_models({e: e for e in models}, models)
    headers = [as_written(printable(named.get(c, c))) for c in table.columns]
    rows = [[as_written(printable(_cell(v))) for v in row] for row in table.itertuples(index=False)]
    right = {i for i, c in enumerate(table.columns) if c in wanted or c == table.columns[0]}
    for text in table_lines(headers, rows, right=right):
        print(text)
    print(
        f"(the step at which each experiment first fooled the model on the image; {NO_VALUE}: "
        "never, not at its last step, or not attacked; 0: wrong before the attack)"
    )


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_VALUE
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if str(value) == "<NA>" else str(value)


def held_and_fooled(frame: Any, wanted: Sequence[str]) -> list[str]:
    """The closing lines of ``outcomes``: the images every experiment of ``wanted`` fooled in
    the end, and those none of the experiments that attacked them did (named by sample; by
    sample, true class and image hash where one sample id names several images)."""
    runs = frame[frame["experiment"].isin(list(wanted))]
    by_image = runs.groupby("image", sort=False)
    first = runs.drop_duplicates("image").set_index("image")
    twice = set(first["sample"][first["sample"].duplicated(keep=False)])
    lines = []
    for what, pick in (
        ("fooled by every experiment", lambda s: len(s) == len(wanted) and s.eq(True).all()),
        (
            "fooled by none of the experiments that attacked them",
            lambda s: s.notna().any() and not s.eq(True).any(),
        ),
    ):
        hit = [image for image, s in by_image["success"] if pick(s)]
        names = [_image_name(first.loc[image], image, twice) for image in hit]
        of = f"{len(names)} of {plural(by_image.ngroups, 'image')}"
        lines.append(f"{of} {what}" + (f": samples {some_of(names, MOST_NAMED)}" if names else ""))
    models = models_of(runs)
    if len(set(models.values())) <= 1:
        if len(wanted) > 1 and (worst := _worst_case(by_image, len(wanted))):
            lines.append(worst)
        return lines
    worst_cases = []
    for model in dict.fromkeys(models.values()):
        mine = [e for e, m in models.items() if m == model]
        of_model = runs[runs["experiment"].isin(mine)].groupby("image", sort=False)
        name = printable(model or NO_VALUE)
        if len(mine) > 1 and (worst := _worst_case(of_model, len(mine), f"each {name} experiment")):
            worst_cases.append(f"model {name}: {worst}")
    several = f"the experiments attacked {len(set(models.values()))} models"
    if not worst_cases:
        return [*lines, f"({several}, none by two of them over the same images: no worst case)"]
    return [
        *lines,
        f"({several}: the worst case is taken over each model's experiments)",
        *worst_cases,
    ]


def models_of(frame: Any) -> dict[str, str | None]:
    """Each experiment of ``frame`` (outcome rows) and the model its runs attacked (the
    first run's: an experiment logs one model)."""
    first = frame.drop_duplicates("experiment")
    return {
        e: (m if isinstance(m, str) and m else None)
        for e, m in zip(first["experiment"], first["model"], strict=True)
    }


def _worst_case(by_image: Any, experiments: int, over: str = "every experiment") -> str | None:
    """The line on the images robust to every experiment (AutoAttack's robust accuracy of an
    ensemble: right before the attack and at each attack's last step), over the images every
    experiment attacked; None when there are none."""
    counted = held = 0
    for _, runs in by_image:
        if runs["experiment"].nunique() == experiments:
            counted += 1
            right = (runs["final_pred"] == runs["true_label"]).all()
            wrong_first = (runs["target_label"].isna() & runs["flip_step"].eq(0)).any()
            held += bool(right and not wrong_first)
    if not counted:
        return None
    return (
        f"{held} of {plural(counted, 'image')} attacked by {over} robust to all of "
        f"them ({held / counted:.1%}): right before the attack and at each attack's last "
        "step, the worst case over the attacks (AutoAttack's robust accuracy of an ensemble)"
    )


def _image_name(row: Any, image: str, ambiguous: set) -> str:
    """An image as the closing lines name it: its sample id, with its true class and the
    start of its hash when that id names several images."""
    if row["sample"] not in ambiguous:
        return printable(row["sample"])
    digest = str(image).rsplit(":", 1)[-1][:8]
    return printable(f"{row['sample']} ({row['true_class']}, image {digest})")
