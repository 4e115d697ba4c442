"""Render every run of a results folder (local or fsspec URL), in parallel on a Dask cluster."""

# (``render --all``; the stamp deciding "up to date" is to become the one render-cache key.)

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cache import render_key
from .errors import AnimlibError, RenderError, RenderOptionError, StoreError
from .listing import list_runs
from .movie_writers import format_name
from .options import RenderOptions
from .store import Store, open_store
from .store.paths import shown_inside


@dataclass
class Outcome:
    """What happened to one run: ``rendered``, ``skipped`` (up to date) or ``failed``."""

    run_id: str
    status: str
    message: str = ""
    output: str = ""


@dataclass
class BatchReport:
    """All outcomes of a batch render."""

    outcomes: list[Outcome] = field(default_factory=list)
    # renders in the output folder made by an earlier ``render --all`` (a stamp beside them) of
    # runs no longer in the results folder (removed or renamed): listed, never removed
    orphans: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> str:
        text = (
            f"{self.count('rendered')} rendered, {self.count('skipped')} up to date, "
            f"{self.count('failed')} failed"
        )
        if self.orphans:
            shown = ", ".join(self.orphans[:3]) + (" …" if len(self.orphans) > 3 else "")
            many = len(self.orphans) > 1
            what = "renders are of runs" if many else "render is of a run"
            text += (
                f"; {len(self.orphans)} earlier {what} not in this results folder (removed, "
                "renamed, or rendered from another folder into this one), left as "
                f"{'they are' if many else 'it is'}: {shown}"
            )
        return text


def _up_to_date(out: Store, name: str, stamp_name: str, stamp: str) -> bool:
    if not out.contains(name):
        return False
    try:
        return out.read(stamp_name).decode() == stamp
    except (StoreError, UnicodeDecodeError):
        return False


def render_one(
    runs_url: str,
    run_id: str,
    out_url: str,
    fmt: str = "mp4",
    options: dict[str, Any] | None = None,
    storage_options: dict[str, Any] | None = None,
    force: bool = False,
) -> Outcome:
    """Render run ``run_id`` of the results folder ``runs_url`` into the folder ``out_url`` as
    ``<run id>.<fmt>``, unless up to date. Nothing is read through a symlink leading outside
    ``runs_url``.

    A sidecar ``.<run id>.<fmt>.stamp`` records the render's key (the render cache's: the run's
    content, the format and every option); when it matches, the run is skipped. A file of that
    name with no stamp (not rendered here: the user's own) is left alone unless ``force``.
    Never raises for a broken run: the outcome says why.
    """
    from .reader import open_run_in
    from .rendering import render

    name = f"{run_id}.{fmt}"
    stamp_name = f".{name}.stamp"
    try:
        opts = RenderOptions.of(options)
        run = open_run_in(runs_url, run_id, storage_options=storage_options)
        out = open_store(out_url, storage_options)
        stamp = render_key(run, fmt, opts)
        if not force and _up_to_date(out, name, stamp_name, stamp):
            return Outcome(run_id, "skipped", "up to date", out.url_of(name))
        if not force and out.contains(name) and not out.contains(stamp_name):
            why = "exists and was not rendered here (no stamp beside it): left alone (--force"
            return Outcome(run_id, "failed", f"{out.url_of(name)} {why} replaces it)")
        out.makedirs()
        with out.staged(name) as local:
            render(run, local, options=opts)
        out.write_atomic(stamp_name, stamp.encode())
        return Outcome(run_id, "rendered", "", out.url_of(name))
    except AnimlibError as exc:
        return Outcome(run_id, "failed", str(exc))
    except Exception as exc:  # one bad run must not stop the batch
        return Outcome(run_id, "failed", f"run {run_id!r}: {type(exc).__name__}: {exc}")


def _check_out_folder(runs: Store, out: Store) -> None:
    """Refuse an output folder inside the results folder (its videos would list as broken runs
    there) unless hidden (a name starting with a dot: listings skip it)."""
    if shown_inside(out.url, runs.url):
        raise RenderOptionError(
            f"{out.url}: in the results folder {runs.url}, videos would list as broken runs; "
            "write them to another folder (or a hidden one in it, such as .renders)",
            field="out",
        )


def _progress_line(done: int, total: int, outcome: Outcome, started: float) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    bar = "#" * filled + "-" * (width - filled)
    elapsed = time.monotonic() - started
    note = outcome.status if not outcome.message else f"{outcome.status}: {outcome.message}"
    print(
        f"[{bar}] {done}/{total} {elapsed:5.1f}s  {outcome.run_id}: {note}",
        file=sys.stderr,
        flush=True,
    )


def render_all(
    runs_url: str,
    out_url: str,
    *,
    fmt: str = "mp4",
    scheduler: str | None = None,
    n_workers: int | None = None,
    storage_options: dict[str, Any] | None = None,
    force: bool = False,
    progress: Callable[[int, int, Outcome], None] | None = None,
    use_dask: bool = True,
    **options: Any,
) -> BatchReport:
    """Render every run in ``runs_url`` to ``out_url`` (skipping up-to-date outputs).

    With ``scheduler`` (``tcp://host:port``) the work goes to that Dask cluster; otherwise a
    local Dask cluster of one single-threaded worker process per core is started. Broken runs
    and failing renders are reported in the returned :class:`BatchReport`; the rest go on.
    """
    if n_workers is not None and (isinstance(n_workers, bool) or not 1 <= n_workers <= 1024):
        raise RenderOptionError(f"must be 1 to 1024; got {n_workers!r}", field="workers")
    fmt = format_name(fmt)  # a typo fails here, once, not once per run (".GIF" is "gif")
    RenderOptions.of(options)  # likewise
    out = open_store(out_url, storage_options)
    _check_out_folder(open_store(runs_url, storage_options), out)
    infos = list_runs(runs_url, storage_options=storage_options)
    out.makedirs()  # (a bucket that does not exist: one error, not one per run)
    report = BatchReport(orphans=_orphans(out, fmt, {info.id for info in infos}))
    for info in infos:
        if not info.ok:
            report.outcomes.append(Outcome(info.id, "failed", f"run {info.id!r}: {info.error}"))
    todo = [info for info in infos if info.ok]
    total = len(infos)
    done = len(report.outcomes)
    started = time.monotonic()
    show = progress or (lambda d, t, o: _progress_line(d, t, o, started))
    for outcome in report.outcomes:
        show(report.outcomes.index(outcome) + 1, total, outcome)
    args = (out_url, fmt, options, storage_options, force)
    if not use_dask:
        for info in todo:
            outcome = render_one(runs_url, info.id, *args)
            report.outcomes.append(outcome)
            done += 1
            show(done, total, outcome)
        return report

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=30)
        except (OSError, ValueError, TimeoutError) as exc:
            raise RenderError(
                f"cannot reach the Dask scheduler {scheduler}: {exc}", field="scheduler"
            ) from None
    else:
        workers = min(n_workers or os.cpu_count() or 1, max(len(todo), 1))  # (none idle)
        cluster = _local_cluster(LocalCluster, workers)
        client = Client(cluster)
    try:
        futures = [
            client.submit(render_one, runs_url, info.id, *args, pure=False, key=f"render-{info.id}")
            for info in todo
        ]
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # a worker died
                outcome = Outcome(future.key.removeprefix("render-"), "failed", repr(exc))
            report.outcomes.append(outcome)
            done += 1
            show(done, total, outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return report


def _orphans(out: Store, fmt: str, listed: set[str]) -> list[str]:
    """The renders in ``out`` that ``render --all`` made (``.<run id>.<fmt>.stamp`` beside
    them) of runs not in ``listed``, sorted."""
    tail = f".{fmt}.stamp"
    names = [e.name for e in out.list() if not e.is_dir]
    present = set(names)
    runs = (n[1 : -len(tail)] for n in names if n.startswith(".") and n.endswith(tail))
    return sorted(f"{r}.{fmt}" for r in runs if r not in listed and f"{r}.{fmt}" in present)


def _local_cluster(make: Callable[..., Any], workers: int) -> Any:
    """A local Dask cluster of ``workers`` processes that leave a Ctrl-C to this one (each
    printed a traceback): they ignore SIGINT from their start (``animlib.dask_quiet``)."""
    return make(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        preload=["animlib.dask_quiet"],
    )
