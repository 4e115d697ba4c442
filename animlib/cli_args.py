"""The command line's arguments: every command and option declared (``build_parser``), and read."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import Code, RunFormatError
from .settings import DEFAULT_RUNS, settings
from .store.paths import is_run_id

__all__ = [
    "FLAGS",
    "build_parser",
    "default_runs",
    "empty_path_name",
    "int_at_least",
    "render_targets",
    "run_path",
]

# render options as the command line spells them (errors name the flag, not the field)
FLAGS = {
    name: "--" + name.replace("_", "-")
    for name in ("fps", "dpi", "stride", "top_k", "amplification", "width_px", "bitrate")
}


def default_runs() -> str:
    """The results folder when none is given: ``$ANIMLIB_RUNS`` (as for the dashboard), else
    ``runs``."""
    return settings().runs or DEFAULT_RUNS


def run_path(arg: str, *, results_folder: bool = False) -> str:
    """The run folder a command's RUN argument names: the path as given, or a run id (no path
    separator, and no such file or folder here) in the results folder (``$ANIMLIB_RUNS``, else
    ``runs``), as ``ls`` prints it and deep links name it. The name of the results folder
    itself is that folder (``validate runs``), not a run in it.

    Args:
        arg: the argument as typed.
        results_folder: ``arg`` may name a results folder too (``validate``): the error for a
            name found nowhere says so.

    Raises:
        RunFormatError: (NOT_FOUND) a run id found neither here nor in the results folder,
            naming both.
    """
    from .near_names import did_you_mean
    from .store import open_store

    candidate = _in_results_folder(arg)
    if candidate is None and results_folder and "://" not in arg and not os.path.lexists(arg):
        raise RunFormatError(  # (it read "results folder does not exist" for runs/TYPO)
            "no such run folder or results folder" + did_you_mean(open_store(arg)),
            field=os.path.abspath(arg),
            code=Code.NOT_FOUND,
        )
    if candidate is None or os.path.abspath(arg) == os.path.abspath(local_root()):
        _check_confined(arg)  # (runs/ID, or ID from inside the results folder)
        return arg
    if _holds(candidate):
        _check_confined(candidate)
        return candidate
    where = "$ANIMLIB_RUNS" if settings().runs else "the default; set $ANIMLIB_RUNS to change it"
    nor = f"nor in the results folder {default_runs()} ({where})"
    hint = did_you_mean(open_store(candidate))
    if results_folder:  # (it read "run 'results': no such run folder" for a results folder)
        raise RunFormatError(
            f"no such run folder or results folder here, {nor}{hint}",
            field=os.path.abspath(arg),
            code=Code.NOT_FOUND,
        )
    raise RunFormatError(
        f"no such run folder here ({os.path.abspath(arg)}), {nor}{hint}",
        run=arg,
        field="path",
        code=Code.NOT_FOUND,
    )


def _in_results_folder(arg: str) -> str | None:
    """Where the run id ``arg`` is in the results folder, or None if ``arg`` is a path."""
    bare = "/" not in arg and os.sep not in arg and is_run_id(arg)
    if not bare or os.path.lexists(arg):
        return None
    root = local_root()
    return f"{root.rstrip('/')}/{arg}" if "://" in root else os.path.join(root, arg)


def _check_confined(path: str) -> None:
    """Refuse a run folder of the (local) results folder that is a symlink leading out of it,
    however ``path`` spells it (``ID``, ``runs/ID``, ``./runs/ID/.``, through a symlink to the
    results folder), as ``ls``, ``validate RUNS`` and the dashboard refuse it: a folder
    elsewhere must not be read, rendered or retagged as a run of this one.

    Raises:
        RunFormatError: (UNSAFE) naming the run.
    """
    root = local_root()
    if "://" in root or "://" in path:
        return  # (object storage has no symlinks)
    parent, name = os.path.split(os.path.normpath(os.path.abspath(path)))
    if not is_run_id(name) or os.path.realpath(parent) != os.path.realpath(root):
        return  # (not an entry of the results folder: a path the user names is theirs)
    from .errors import StoreError
    from .store import open_store
    from .store.paths import RESULTS_FOLDER, unsafe_link

    try:
        open_store(root).child(name).guard("")
    except StoreError as exc:
        if exc.code == Code.UNSAFE:
            raise unsafe_link("", RESULTS_FOLDER, name) from None
        raise


def local_root() -> str:
    """The results folder with a leading ``~`` expanded, as ``ls`` opens it (LocalStore):
    ``ANIMLIB_RUNS="~/runs"`` from a .env file or a systemd unit reaches no shell."""
    root = default_runs()
    return root if "://" in root else os.path.expanduser(root)


def _holds(folder: str, member: str = "") -> bool:
    """Whether the folder ``folder`` (a local path or a URL, as a results folder may be)
    exists, or with ``member`` holds that file; a storage error is raised, naming the URL."""
    if "://" not in folder:
        path = os.path.join(folder, member) if member else folder
        return os.path.isfile(path) if member else os.path.lexists(path)
    from .store import open_store

    return open_store(folder).contains(member)


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type`` taking an integer of at least ``low`` (a seed: 0; the examples'
    steps: 1), with a one-line error naming what was typed."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more; got {value}")
        return value

    return parse


_seed = int_at_least(0)  # a seed of numpy's generators


def _option_value(text: str) -> int | float | str:
    """A render option's value as typed: an int, a float, or the text itself, so that
    :class:`~animlib.options.RenderOptions` judges it with the message every entry point gives
    (argparse's ``type=int`` said "invalid int value: '1.5'" instead)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build_parser() -> argparse.ArgumentParser:
    # as it was called: the ``animlib`` command, or ``python -m animlib`` (runs __main__.py)
    prog = "python -m animlib" if os.path.basename(sys.argv[0]) == "__main__.py" else "animlib"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Log, check, animate and render adversarial runs.",
        allow_abbrev=False,
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"animlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    runs = default_runs()
    where = f"{runs}, from $ANIMLIB_RUNS" if settings().runs else f"$ANIMLIB_RUNS, else {runs}"

    p = sub.add_parser(
        "demo", allow_abbrev=False, help="train small classifiers, attack them, write demo runs"
    )
    p.add_argument("folder", nargs="?", help=f"results folder (as --out; default: {where})")
    p.add_argument("--out", default=None, help=f"results folder (default: {where})")
    p.add_argument("--seed", type=_seed, default=0, help="random seed, 0 or more (default: 0)")
    p.add_argument("--quiet", action="store_true", help="print less")

    p = sub.add_parser(
        "ls", allow_abbrev=False, help="list the runs in a results folder (metadata only)"
    )
    p.add_argument("runs", nargs="?", default=runs, help=f"results folder (default: {where})")
    p.add_argument("--json", action="store_true", help="print JSON (id, ok, error, meta per run)")
    p.add_argument(
        "--experiment",
        default="",
        help="only the runs of these experiments (comma-separated ids or names)",
    )
    p.add_argument(
        "--params", default="", help="run parameters shown as columns (comma-separated, e.g. eps)"
    )
    p.add_argument(
        "--search",
        default="",
        help="only runs with every word in their id, name, attack, model, status, tags, source "
        "or parameters (name=value), as the runs page's search",
    )
    p.add_argument(
        "--sort", default="", help="a runs-table column (name, steps, l2, ...) or params.NAME"
    )
    p.add_argument("--desc", action="store_true", help="sort in descending order")

    p = sub.add_parser(
        "summary", allow_abbrev=False, help="attack results per experiment (or other run.json keys)"
    )
    p.add_argument("runs", nargs="?", default=runs, help=f"results folder (default: {where})")
    p.add_argument(
        "--by", default="experiment", help="comma-separated run.json keys, e.g. attack,params.eps"
    )
    p.add_argument(
        "--all-runs",
        action="store_true",
        help="count every readable run, also those in no experiment (default: experiments' only)",
    )
    p.add_argument(
        "--include-incomplete",
        action="store_true",
        help="count failed and stale (killed) runs and runs with no step too (default: left "
        "out of every column, counted in left_out)",
    )
    p.add_argument(
        "--experiment",
        default="",
        help="only the runs of these experiments (comma-separated ids or names): one sweep's table",
    )
    p.add_argument(
        "--search",
        default="",
        help="only runs with every word in their id, name, attack, model, status, tags, source "
        "or parameters (name=value), as ls --search and the runs page's search",
    )
    p.add_argument(
        "--over",
        default="",
        help="one more run.json key, e.g. params.seed: each row gets over_n (its values) and "
        "each rate's standard deviation across them (robust_acc_sd, ...)",
    )
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")

    from .cli_outcomes import MOST_COLUMNS as most

    p = sub.add_parser(
        "outcomes",
        allow_abbrev=False,
        help="per image, which experiments fooled the model and at which step (the dashboard's "
        "grid as a table, CSV or JSON)",
    )
    p.add_argument("runs", nargs="?", default=runs, help=f"results folder (default: {where})")
    p.add_argument(
        "--experiment",
        default="",
        help=f"the experiments, in this order (comma-separated ids or names; at most {most} "
        f"in the table; default: every one, the table the first {most} as summary lists "
        "them, a note naming the others; --csv and --json take any number)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--csv", action="store_true", help="one CSV row per run (the dashboard's Outcomes CSV)"
    )
    out.add_argument("--json", action="store_true", help="one JSON object per run")

    p = _runs_command(sub, "tag", *RUNS_COMMANDS["tag"])
    p.add_argument("--add", default="", help="tags to add (comma-separated)")
    p.add_argument(
        "--remove", default="", help="tags to take out (comma-separated; as written, case too)"
    )

    p = _runs_command(sub, "rm", *RUNS_COMMANDS["rm"])
    p.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    p.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")

    p = sub.add_parser(
        "render",
        allow_abbrev=False,
        help="render a run (or compare 2-6: RUN RUN ... -o OUT) to .mp4/.gif/.html/.webm",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="RUN",
        help="RUN FILE: a run folder and its video (or RUN -o FILE); RUN RUN ... -o FILE: one "
        "video comparing 2-6 runs; with --all: a results folder",
    )
    p.add_argument("-o", "--output", help="output file; format from its suffix")
    p.add_argument("--all", action="store_true", help="render every run in the folder RUN")
    p.add_argument("--out", help="output folder or URL for --all (default: renders)")
    p.add_argument("--format", help="output format for --all (default: mp4)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler tcp://HOST:PORT for --all")
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: cores)")
    p.add_argument("--force", action="store_true", help="re-render outputs that are up to date")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="render even if the render cache (ANIMLIB_CACHE) holds this video; do not add it",
    )
    p.add_argument("--fps", type=_option_value, help="frames per second (default: 10)")
    p.add_argument("--dpi", type=_option_value, help="figure dpi (default: 100)")
    p.add_argument(
        "--stride", type=_option_value, help="render every n-th step and the last (default: 1)"
    )
    p.add_argument("--top-k", type=_option_value, help="classes shown in the bars (default: 10)")
    p.add_argument("--amplification", type=_option_value, help="perturbation gain (default: auto)")
    p.add_argument(
        "--width-px",
        type=_option_value,
        help="frame width at 100 dpi (default: 1280): a wider frame gives the text more room, "
        "the panels stay their size; --dpi scales the whole picture",
    )
    p.add_argument(
        "--bitrate", type=_option_value, help="video bitrate in kbit/s (default: quality-based)"
    )

    p = sub.add_parser(
        "validate",
        allow_abbrev=False,
        help="check a run folder, or every run in a results folder and that no experiment "
        "lost sample runs (exit 1 if any is broken or missing)",
    )
    p.add_argument(
        "path", help=f"a run folder, a results folder, or a run id in the results folder ({where})"
    )
    p.add_argument("--quick", action="store_true", help="skip reading every image chunk")
    return parser


# the built-in formats' suffixes (the movie writers' registry imports numpy: not for parsing)
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".webm", ".gif", ".html", ".htm")


def _is_run(path: str, *, remote: bool = True, by_id: bool = True) -> bool:
    """Whether ``path`` is a local run folder, or (with ``by_id``) a run id of one in the
    results folder (local or remote), or, with ``remote``, any URL (not checked)."""
    if remote and "://" in path:
        return True
    candidate = _in_results_folder(path) if by_id else None
    if candidate is None:
        return (Path(path) / "run.json").is_file()
    return _holds(candidate, "run.json")


def render_targets(paths: list[str], output: str | None) -> tuple[list[str], str] | str:
    """The run folders and the output file of ``render RUN FILE``, ``render RUN -o FILE`` or
    ``render RUN RUN ... -o FILE`` (a comparison), or the error to print."""
    compare = f"a comparison of {len(paths)} runs needs its file as -o OUT.mp4"
    if len(paths) == 2 and (output is None or paths[1] == output):
        # (a file name such as a.mp4 stays the output, even if a run in the results folder
        # has that id: only a run folder here of that name makes it a run)
        named = not paths[1].lower().endswith(OUTPUT_SUFFIXES)
        if output is None and _is_run(paths[1], remote=False, by_id=named):
            return compare  # (else "unsupported output format '.10-0003'")
        return paths[:1], paths[1]
    if output is None:
        if len(paths) == 1:
            return "render needs an output file: render RUN OUT.mp4 (or -o OUT.mp4)"
        return compare
    if len(paths) == 2 and not _is_run(paths[1]):  # (a comparison names two run folders)
        return f"two output files: {paths[1]} and -o {output}"
    return paths, output


def empty_path_name(args: argparse.Namespace, name: str) -> str:
    """What the empty path of argument ``name`` is: ``render RUN ""`` names the file."""
    if name != "paths":
        return name
    two = len(args.paths) == 2 and not args.output and not args.all
    return "file" if two and args.paths[1] == "" else "run"


RUNS_COMMANDS = {  # what they do; how they name an experiment's runs
    "tag": (
        "add or remove tags of ended runs (run.json rewritten), or of an experiment's runs",
        "an experiment id or name there (every run of it)",
    ),
    "rm": (
        "remove runs, or every run of an experiment, from the results folder (asks first)",
        "an experiment id there (every run of it, and no rerun's)",
    ),
}


def _runs_command(sub: Any, name: str, summary: str, experiments: str) -> argparse.ArgumentParser:
    """The parser of ``tag`` or ``rm``, with their RUN arguments: runs, or the runs of
    experiments (``experiments`` says how those are named)."""
    p = sub.add_parser(name, allow_abbrev=False, help=summary)
    p.add_argument(
        "targets",
        nargs="+",
        metavar="RUN",
        help="a run folder or URL, a run id in the results folder ($ANIMLIB_RUNS, else runs), or "
        + experiments,
    )
    return p
