"""Command line: ``python -m animlib demo | ls | summary | outcomes | tag | rm | render | ...``."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from .cli_args import (
    FLAGS,
    build_parser,
    default_runs,
    empty_path_name,
    render_targets,
    run_path,
)
from .cli_outcomes import cmd_outcomes
from .cli_output import as_written, escape_unencodable, print_json, table_lines
from .cli_rm import cmd_rm
from .cli_summary import cmd_summary
from .cli_tag import cmd_tag
from .errors import AnimlibError, Code, RenderLimitError, RenderOptionError
from .interrupts import sigterm_ends_command
from .options import RenderOptions
from .outcomes import current_outcome, shown_flip_step
from .text import clipped, natural_key, one_line, plural, printable


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import build_demo

    if args.folder and args.out and args.folder != args.out:
        print(f"error: two results folders: {args.folder} and --out {args.out}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("sklearn") is None:  # before anything is written
        print(
            "error: the demo trains on scikit-learn's bundled digits, and scikit-learn is not "
            "installed: pip install 'animlib[demo]' (or scikit-learn)",
            file=sys.stderr,
        )
        return 1
    out = args.folder or args.out or default_runs()  # a folder, as ls, summary, validate take
    t0 = time.perf_counter()
    result = build_demo(out, seed=args.seed, quiet=args.quiet)
    ids = getattr(result, "run_ids", None) or []
    exps = getattr(result, "experiments", None) or {}
    more = f" and {len(exps)} experiments ({sum(map(len, exps.values()))} runs)" if exps else ""
    print(f"wrote {len(ids)} runs{more} to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _queried(folder: str, infos: list, args: argparse.Namespace) -> list:
    """``infos`` searched and sorted as the runs page does it (``--search``, ``--sort``,
    ``--desc``), through the folder's run index; broken runs stay (listed apart)."""
    if not (args.search or args.sort):
        return infos
    from .index import Query, open_index

    rows = open_index(folder).query(Query(text=args.search, sort=args.sort, descending=args.desc))
    order = {run_id: k for k, run_id in enumerate(rows.rows["id"].to_pylist())}
    found = sorted((i for i in infos if i.id in order), key=lambda i: order[i.id])
    return found + [i for i in infos if not i.ok]


def _warn_unknown_params(folder: str, names: Sequence[str], infos: Sequence[Any] = ()) -> None:
    """Say which of the parameters asked for (columns, sort) no run has: a typo must not read
    as a column of "-" or an order that sorts nothing (as the runs page says it); and which
    ones runs (``infos``) hold past the parameters the index keeps (shown, not sorted by)."""
    from .index import open_index
    from .params import INDEXED, flatten

    if not any(names):
        return
    known = set(open_index(folder).facets()["params"])
    unknown = [n for n in dict.fromkeys(names) if n and n not in known]
    held = set()
    for info in infos if unknown else ():
        params = info.get("params")
        held |= set(flatten(params)) & set(unknown) if isinstance(params, dict) else set()
    if past := [n for n in unknown if n in held]:
        print(
            f"warning: {', '.join(printable(n) for n in past)}: past the first {INDEXED} "
            "parameters of a run (by name), which the index keeps: shown, but not sorted or "
            "searched by",
            file=sys.stderr,
        )
    if unknown := [n for n in unknown if n not in held]:
        what = ", ".join(printable(n) for n in unknown)
        print(f"warning: no run in {printable(folder)} has the parameter {what}", file=sys.stderr)


def _param_cells(info, names: Sequence[str]) -> list[str]:
    from .params import flatten, param_text

    params = flatten(info.get("params") or {})
    return [param_text(params[n]) if n in params else "-" for n in names]


def _of_experiments(folder: str, infos: list, wanted: set[str]) -> tuple[list, set[str]]:
    """The good runs of ``infos`` that belong to the experiments ``wanted``, and those of them
    that have runs: picked out by the run index's experiment column (as the runs page's
    Experiment filter does; no run.json of 100,000 runs parsed)."""
    from .index import open_index
    from .index.experiments import sample_rows

    rows, _ = sample_rows(open_index(folder), sorted(wanted))
    named = set(rows["id"].to_pylist())
    return [i for i in infos if i.id in named], set(rows["experiment"].to_pylist())


def _experiments_named(folder: str, named: str) -> tuple[list[str], list[str]]:
    """The experiment ids ``named`` ("a,b": ids, or names experiments were made from) names in
    ``folder``, and the names of none there."""
    from .index import open_index
    from .summary_scope import experiment_ids, named_experiments

    return named_experiments(open_index(folder), experiment_ids(named))


def _statuses(folder: str, infos: list) -> dict[str, str]:
    """Each good run's status as the runs page shows it: ``stale`` for a running run that
    went silent or whose writer is gone (:func:`animlib.meta.effective_status`)."""
    from .index import open_index
    from .meta import effective_status

    gone = open_index(folder).writers_gone  # (refreshed by list_runs)
    return {i.id: effective_status(i.meta, writer_gone=i.id in gone) for i in infos if i.ok}


NAME_CELLS = 32  # ls: a run's name beyond this is cut ("…")


def cmd_ls(args: argparse.Namespace) -> int:
    from .index.query import PARAM_PREFIX, check_sort, sorted_param
    from .listing import list_runs

    try:
        check_sort(args.sort)
    except AnimlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    infos = _queried(args.runs, list_runs(args.runs), args)
    if args.experiment:  # the runs page's Experiment filter, for scripts
        try:
            wanted, unknown = _experiments_named(args.runs, args.experiment)
        except AnimlibError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        infos, found = _of_experiments(args.runs, infos, set(wanted))
        unknown = sorted({*unknown, *(set(wanted) - found)}, key=natural_key)
        if unknown:  # a typo must not read as "this experiment has no runs" (a usage error,
            names = ", ".join(printable(e) for e in unknown)  # as summary and outcomes say it)
            print(f"error: no experiment {names} in {printable(args.runs)}", file=sys.stderr)
            return 2
    status = _statuses(args.runs, infos)  # (of the runs shown only: each parses its run.json)
    if args.json:  # (a sort by a parameter no run has is warned of as in text)
        sort = [sorted_param(args.sort or "") or ""]
        _warn_unknown_params(args.runs, sort, [i for i in infos if i.ok])
        return print_json(
            [
                {
                    "id": i.id,
                    "url": i.url,
                    "ok": i.ok,
                    "status": status.get(i.id),
                    "error": i.error,
                    "field": i.field,
                    "meta": i.meta,
                }
                for i in infos
            ]
        )
    ok = [i for i in infos if i.ok]
    broken = [i for i in infos if not i.ok]
    params = [p for p in args.params.split(",") if p]
    _warn_unknown_params(args.runs, [*params, sorted_param(args.sort or "") or ""], ok)
    named = any(i.get("name") != i.id for i in ok)  # ("攻撃" has the id "run": say its name)
    modeled = len({i.get("model") or "" for i in ok}) > 1  # (runs of several models: which)
    base = (
        "id", *(("name",) if named else ()), "attack", *(("model",) if modeled else ()),
        "status", "steps", "success", "flip",
    )  # fmt: skip
    headers = (*base, *(PARAM_PREFIX + p if p in base else p for p in params))
    rows = []
    for info in ok:
        name = (clipped(one_line(info.get("name")), NAME_CELLS),) if named else ()
        model = (info.get("model") or None,) if modeled else ()
        cells = (info.id, *name, info.get("attack"), *model, status[info.id], info.get("steps"))
        success, flip, _ = current_outcome(info.meta or {})
        cells += (success, shown_flip_step(success, flip))
        row = [_fmt(c) for c in cells] + _param_cells(info, params)
        rows.append([as_written(printable(c)) for c in row])
    right = set(range(len(base) - 3, len(headers)))
    for text in table_lines([as_written(h) for h in headers], rows, right=right):
        print(text)
    for info in broken:
        print(info.line())
    print(f"{plural(len(ok), 'run')}, {len(broken)} broken")
    return 0


def _render_options(args: argparse.Namespace) -> dict:
    """The render options given on the command line, checked by :class:`RenderOptions` (the same
    check and message as every other entry point); unset ones keep their defaults."""
    given = {name: getattr(args, name) for name in FLAGS if getattr(args, name) is not None}
    RenderOptions.of(given)
    return given


def _progress_printer(label: str, stream: TextIO | None = None):
    """``progress(done, total)`` for a render: on a terminal one line redrawn twice a second;
    into a file or pipe (a log, ``| tail``) whole lines, one every few seconds and the last."""
    out = stream or sys.stderr
    tty = out.isatty()
    every = 0.5 if tty else 5.0
    last = [time.monotonic() if not tty else 0.0]  # a log's first line comes after a while

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > every:
            last[0] = now
            text = f"{label}: {done}/{total} frames"
            if tty:
                print(f"\r{text}", end="" if done < total else "\n", file=out, flush=True)
            else:
                print(text, file=out, flush=True)

    return progress


ALL_ONLY = ("out", "format", "scheduler", "workers", "force")  # render options of --all alone


def cmd_render(args: argparse.Namespace) -> int:
    opts = _render_options(args)
    given = [f"--{n}" for n in ALL_ONLY if (v := getattr(args, n)) is not None and v is not False]
    if given and not args.all:  # (--format gif on one run wrote an MP4 without a word)
        hint = "; one run's format is its file's suffix (OUT.gif)" if "--format" in given else ""
        verb = "applies" if len(given) == 1 else "apply"
        print(f"error: {', '.join(given)} {verb} only with --all{hint}", file=sys.stderr)
        return 2
    if args.all:
        return _render_all(args, opts)
    targets = render_targets(args.paths, args.output)
    if isinstance(targets, str):
        print(f"error: {targets}", file=sys.stderr)
        return 2
    from .store import local_file

    folders, output = [run_path(f) for f in targets[0]], local_file(targets[1])
    if args.no_cache:
        from .reader import open_run
        from .rendering import render

        runs = [open_run(folder) for folder in folders]
        path = render(runs, output, progress=_progress_printer(_label(runs)), **opts)
        print(f"wrote {path}")
        return 0
    # through the cache, as render(..., cache=True) does; a hit loads neither matplotlib nor
    # Zarr (see peek_run): the command then takes a third of the time
    from .cache import cached_copy, stats
    from .reader import peek_run
    from .store import remote_file

    runs = [peek_run(folder) for folder in folders]
    made = _made(stats())
    copy = cached_copy if remote_file(output) is None else render_to_url
    progress = _progress_printer(_label(runs))
    path = copy(runs, output, options=RenderOptions.of(opts), progress=progress)
    print(f"wrote {path}" + ("" if _made(stats()) > made else " (from the render cache)"))
    return 0


def _label(runs: list[Any]) -> str:
    """How a render's progress names its runs: the id, or the first and how many more."""
    return runs[0].id if len(runs) == 1 else f"{runs[0].id} and {len(runs) - 1} more"


def _render_all(args: argparse.Namespace, opts: dict) -> int:
    """``render --all RESULTS --out DIR``: every run, on a Dask cluster when dask is installed."""
    from .bulk import render_all

    if len(args.paths) > 1 or args.output:
        given = args.paths[1] if len(args.paths) > 1 else f"-o {args.output}"
        print(f"error: with --all the output folder is --out DIR, not {given}", file=sys.stderr)
        return 2
    try:
        import dask.distributed  # noqa: F401

        use_dask = True
    except ImportError:
        if args.scheduler:
            print("error: --scheduler needs dask: pip install 'dask[distributed]'", file=sys.stderr)
            return 2
        print("dask is not installed: rendering one run after another", file=sys.stderr)
        use_dask = False
    report = render_all(
        args.paths[0],
        args.out or "renders",
        fmt=args.format or "mp4",
        scheduler=args.scheduler,
        n_workers=args.workers,
        force=args.force,
        use_dask=use_dask,
        **opts,
    )
    for outcome in report.failed:
        print(f"FAILED {outcome.run_id}: {outcome.message}")
    print(report.summary())
    return 1 if report.failed else 0


def render_to_url(run: Any, url: str, **kw: Any) -> str:
    """The cached render of ``run`` uploaded to the file URL ``url`` (``s3://…/a.mp4``)."""
    from .rendering import render

    return str(render(run, url, cache=True, **kw))


def _made(counts: dict[str, int]) -> int:
    return counts["renders"] + counts["appends"]


def cmd_validate(args: argparse.Namespace) -> int:
    from .validation import validate

    path = run_path(args.path, results_folder=True)  # (a run id: the run in the results folder)
    reports = validate(path, deep=not args.quick)  # (its runs, then its incomplete experiments)
    for report in reports:
        print(report.line())
    runs = [r for r in reports if r.kind == "run"]
    if not reports:  # (nothing is broken: exit 0, as ls of an empty folder)
        print(f"note: no runs in {path}", file=sys.stderr)
    broken = sum(not r.ok for r in runs)
    missing = [r for r in reports if r.kind == "experiment"]
    mixed = sum(r.code == Code.MISMATCH for r in missing)
    counts = ((len(missing) - mixed, "missing runs"), (mixed, "mixing others' runs"))
    lacking = "".join(f", {plural(n, 'experiment')} {what}" for n, what in counts if n)
    print(f"{len(runs) - broken} ok, {broken} broken{lacking}")
    return 1 if broken or missing else 0


COMMANDS = {
    "demo": cmd_demo,
    "ls": cmd_ls,
    "summary": cmd_summary,
    "outcomes": cmd_outcomes,
    "tag": cmd_tag,
    "rm": cmd_rm,
    "render": cmd_render,
    "validate": cmd_validate,
}


def _unknown_arguments(
    parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]
) -> int:
    """A render's unknown ``--option``: the message every entry point gives for an unknown
    render option (``--fsp 10`` read "unrecognized arguments"); anything else: argparse's."""
    flag = unknown[0].split("=", 1)[0]
    if flag in ("--runs", "--results"):  # the dashboard's flag, typed to a command
        print(f"error: no option {flag}: {_where_the_folder_goes(args.command)}", file=sys.stderr)
        return 2
    if args.command == "render" and flag.startswith("--") and len(flag) > 2:
        name = flag[2:].replace("-", "_")
        if name in FLAGS:  # --top_k: the option, spelled otherwise
            print(f"error: no option {flag}: did you mean {FLAGS[name]}?", file=sys.stderr)
            return 2
        if name not in RenderOptions.__dataclass_fields__:  # (one the command line has not:
            try:  # max_height_px, set from Python only, has no flag: argparse's error)
                RenderOptions.of({name: None})
            except RenderOptionError as exc:  # Python's message, and the flags to type
                flags = ", ".join(FLAGS.values())
                print(f"error: {exc} (option {flag}; as flags: {flags})", file=sys.stderr)
                return 2
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return 2  # (parser.error exits)


def _where_the_folder_goes(command: str) -> str:
    """How ``command`` is told the results folder (``--runs`` is the dashboard's flag)."""
    if command in ("render", "tag", "rm"):
        return (
            f"{command} looks a run id up in the results folder $ANIMLIB_RUNS (else runs): "
            f"give the run's folder (FOLDER/ID) or set ANIMLIB_RUNS=FOLDER"
        )
    if command == "validate":
        return "give the results folder or a run folder as the argument: animlib validate FOLDER"
    return f"give the results folder as the argument: animlib {command} FOLDER"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 broken/failed, 2 usage error or a
    run or folder named that does not exist)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        return _unknown_arguments(parser, args, unknown)
    for name in ("runs", "paths", "path", "out", "output"):  # (an unset shell variable)
        if (value := getattr(args, name, None)) == "" or (isinstance(value, list) and "" in value):
            print(f"error: the {empty_path_name(args, name)} path is empty", file=sys.stderr)
            return 2
    if sys.stdout is None:  # started with stdout closed (``animlib ls >&-``)
        print("error: standard output is closed", file=sys.stderr)
        return 1
    with escape_unencodable(), sigterm_ends_command():  # (an ASCII terminal: names escaped)
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command; a failure is a message and an exit code."""
    try:
        code = int(COMMANDS[args.command](args))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return code
    except (RenderOptionError, RenderLimitError) as exc:
        # the message every entry point gives, and the option as typed when it differs
        flag = FLAGS.get(exc.field or "")
        if isinstance(exc, RenderLimitError) and flag is None:  # a run, a frame: not an option
            print(f"error: {exc}", file=sys.stderr)
            return 1
        typed = f" (option {flag})" if flag and flag != f"--{exc.field}" else ""
        print(f"error: {exc}{typed}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: no traceback (a render removes its partial file)
        print("interrupted", file=sys.stderr)
        return 130
    except AnimlibError as exc:  # (an argument naming no run or folder: a usage error, as
        # tag, rm and --experiment say it; any other problem: the command failed)
        print(f"error: {exc}", file=sys.stderr)
        return 2 if exc.code == Code.NOT_FOUND else 1
    except BrokenPipeError:
        return _closed_pipe(args.command)
    except OSError as exc:  # a folder missing, not allowed; writing to a full disk
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:  # (a render under ulimit -v: 37 lines of
        # numpy's traceback, or threading's when a thread's stack cannot be had)
        if isinstance(exc, RuntimeError) and "can't start new thread" not in str(exc):
            raise
        what = f" ({exc})" if str(exc) else ""
        print(f"error: out of memory{what}: {args.command} needs more", file=sys.stderr)
        return 1


def _closed_pipe(command: str) -> int:
    """The reader of our output went away (``animlib ls | head``): stop quietly, exit 0; 1
    for ``validate`` and ``render``, whose exit status is their verdict, which was not reached
    (``set -o pipefail; animlib validate runs | head`` passed over a broken run).

    stdout is pointed at /dev/null so the interpreter's final flush raises nothing either.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1 if command in ("validate", "render") else 0
