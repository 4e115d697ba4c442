"""Render every run of a results folder (local or fsspec URL), in parallel on a Dask cluster."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import AnimlibError
from .listing import list_runs
from .location import Location


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

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> str:
        return (
            f"{self.count('rendered')} rendered, {self.count('skipped')} up to date, "
            f"{self.count('failed')} failed"
        )


def _stamp(fingerprint: str, fmt: str, options: dict[str, Any]) -> str:
    blob = json.dumps({"fp": fingerprint, "fmt": fmt, "options": options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def render_one(
    run_url: str,
    out_url: str,
    fmt: str = "mp4",
    options: dict[str, Any] | None = None,
    storage_options: dict[str, Any] | None = None,
    force: bool = False,
) -> Outcome:
    """Render one run into the folder ``out_url`` as ``<run id>.<fmt>``, unless up to date.

    A sidecar ``.<run id>.<fmt>.stamp`` records the run's content fingerprint and the options;
    when it matches, the run is skipped. Never raises for a broken run: the outcome says why.
    """
    from .reader import open_run
    from .rendering import render

    options = dict(options or {})
    run_loc = Location.of(run_url, storage_options)
    out = Location.of(out_url, storage_options)
    run_id = run_loc.name
    name = f"{run_id}.{fmt}"
    stamp_name = f".{name}.stamp"
    try:
        run = open_run(run_loc)
        stamp = _stamp(run.fingerprint, fmt, options)
        if not force and out.exists(name):
            try:
                if out.read_bytes(stamp_name).decode() == stamp:
                    return Outcome(run_id, "skipped", "up to date", out.child(name).url)
            except (OSError, UnicodeDecodeError):
                pass
        out.makedirs()
        if out.is_local:
            render(run, os.path.join(out.root, name), **options)
        else:
            with tempfile.TemporaryDirectory(prefix="animlib-") as tmp:
                local = render(run, os.path.join(tmp, name), **options)
                out.fs.put_file(str(local), out.path(name))
        out.write_atomic(stamp_name, stamp.encode())
        return Outcome(run_id, "rendered", "", out.child(name).url)
    except AnimlibError as exc:
        return Outcome(run_id, "failed", str(exc))
    except Exception as exc:  # one bad run must not stop the batch
        return Outcome(run_id, "failed", f"run {run_id!r}: {type(exc).__name__}: {exc}")


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
    infos = list_runs(runs_url, storage_options=storage_options)
    report = BatchReport()
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
            outcome = render_one(info.url, *args)
            report.outcomes.append(outcome)
            done += 1
            show(done, total, outcome)
        return report

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        workers = n_workers or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        futures = [
            client.submit(render_one, info.url, *args, pure=False, key=f"render-{info.id}")
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
