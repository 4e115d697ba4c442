"""Listing speed: animlib.list_runs on 100 / 1,000 / 10,000 runs, cold and warm, vs open_run.

    python benchmarks/bench_listing.py [--runs 100 1000 10000] [--naive-max 1000] [--full]

Each size is measured in a fresh Python process (animlib imported first, not timed) with an
empty cache folder (no run index) right after the page cache of every ``run.json`` was dropped
(``posix_fadvise(DONTNEED)``), so the first ``list_runs`` is cold: nothing about the runs is in
memory, and it builds the run index. Then, in the same process:

* ``list_runs`` again (warm OS cache);
* ``folder_signature`` -- a cheap change signature of the folder;
* the dashboard's listing (``animlib.ui.listing``, served by the run index): first call, then
  later calls (a refresh when due, then the rows the index holds);
* naive: ``animlib.open_run`` on every run (what a listing that opens the arrays would cost) --
  by default only up to ``--naive-max`` runs, ``--full`` for all sizes.

The runs are real: 20 runs written through ``RunWriter``, copied (arrays hard-linked, each copy
with its own ``run.json``: name, creation time) into folders of the requested sizes, once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common as C
import numpy as np

import animlib

ATTACKS = ["FGSM", "PGD", "CW", "Square"]
START = datetime(2025, 1, 1, tzinfo=UTC)


def templates() -> Path:
    """20 small real runs (32x32 RGB, 8 steps, 10 classes), 2 of them failed."""

    def build(folder: Path) -> None:
        rng = np.random.default_rng(0)
        for i in range(20):
            x0 = rng.random((32, 32, 3), dtype=np.float32)
            try:
                with animlib.RunWriter(
                    folder,
                    name=f"{ATTACKS[i % 4].lower()}-img{i}",
                    attack=ATTACKS[i % 4],
                    model="resnet18",
                    class_names=C.CLASSES,
                    true_label=i % 10,
                    params={"eps": 8 / 255, "seed": i},
                    tags=["bench"],
                    original=x0,
                ) as w:
                    for s in range(8):
                        p = rng.random(10).astype(np.float32)
                        w.log(image=np.clip(x0 + 0.01 * s, 0, 1), confidences=p / p.sum())
                    if i % 10 == 9:
                        raise RuntimeError("attack diverged")
            except RuntimeError:
                pass

    folder, built = C.cached_dataset("listing-templates", build)
    if built is not None:
        print(f"  (wrote 20 template runs through RunWriter in {built:.1f} s)", flush=True)
    return folder


def results_folder(n: int) -> Path:
    """A folder of ``n`` runs: copies of the templates, each with its own run.json."""
    source = sorted(p for p in templates().iterdir() if p.is_dir())
    metas = [json.loads((p / "run.json").read_text()) for p in source]

    def build(folder: Path) -> None:
        for i in range(n):
            k = i % len(source)
            dst = folder / f"{source[k].name}-{i:05d}"
            for top, _dirs, files in os.walk(source[k]):
                rel = Path(top).relative_to(source[k])
                (dst / rel).mkdir(parents=True, exist_ok=True)
                for name in files:
                    if name != "run.json" and not name.startswith("."):
                        os.link(Path(top) / name, dst / rel / name)
            meta = dict(metas[k], name=f"{metas[k]['name']}-{i:05d}")
            meta["created"] = (START + timedelta(seconds=i)).isoformat()
            (dst / "run.json").write_text(json.dumps(meta, indent=2) + "\n")

    folder, built = C.cached_dataset(f"listing-{n}", build)
    if built is not None:
        print(f"  (made {n} runs in {built:.1f} s)", flush=True)
    return folder


def child(folder: str, naive: bool) -> None:
    """Measurements inside a fresh process; prints one JSON line."""
    import logging

    from animlib.listing import folder_signature, list_runs

    out: dict[str, float | int | None] = {}
    t = time.perf_counter()
    infos = list_runs(folder)
    out["cold"] = time.perf_counter() - t
    out["count"] = len(infos)
    out["broken"] = sum(not i.ok for i in infos)
    out["warm"] = min(C.timed(list_runs, folder) for _ in range(3))
    out["signature"] = min(C.timed(folder_signature, folder) for _ in range(3))
    try:
        logging.getLogger("streamlit").setLevel(logging.ERROR)
        from animlib import ui

        for name in ("streamlit", "streamlit.runtime.caching.cache_data_api"):
            logging.getLogger(name).setLevel(logging.ERROR)
        out["dash_miss"] = C.timed(ui.listing, folder)
        out["dash_hit"] = min(C.timed(ui.listing, folder) for _ in range(3))
    except ImportError:
        out["dash_miss"] = out["dash_hit"] = None
    out["naive"] = None
    if naive:
        t = time.perf_counter()
        for info in infos:
            animlib.open_run(info.url)
        out["naive"] = time.perf_counter() - t
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, nargs="+", default=[100, 1000, 10_000])
    ap.add_argument("--naive-max", type=int, default=1000)
    ap.add_argument("--full", action="store_true", help="the naive baseline for every size")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.naive)
        return
    started = time.perf_counter()
    print(f"bench_listing: {C.machine()}", flush=True)
    rows, results = [], {}
    for n in args.runs:
        folder = results_folder(n)
        dropped = C.drop_from_page_cache(C.run_json_files(folder))
        naive = args.full or n <= args.naive_max
        cmd = [sys.executable, __file__, "--child", str(folder)] + (["--naive"] if naive else [])
        with tempfile.TemporaryDirectory(prefix="animlib-bench-listing-") as cache:
            env = dict(os.environ, ANIMLIB_CACHE=cache)  # no run index yet: a cold listing
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        assert r["count"] == n, r
        results[n] = r
        row = [
            f"{n:,}",
            C.fmt_seconds(r["cold"]),
            f"{r['cold'] / n * 1e6:.0f} us",
            C.fmt_seconds(r["warm"]),
            C.fmt_seconds(r["signature"]),
            C.fmt_seconds(r["dash_miss"]),
            C.fmt_seconds(r["dash_hit"]),
            C.fmt_seconds(r["naive"]),
            C.fmt_ratio(r["naive"] / r["cold"] if r["naive"] else None),
        ]
        rows.append(row)
        print(f"  {' | '.join(row)}   ({dropped} run.json dropped from the page cache)", flush=True)
    C.print_table(
        "List a results folder (fresh process, run.json pages dropped from the OS cache first)",
        [
            "runs",
            "list_runs cold",
            "per run",
            "list_runs warm",
            "folder_signature",
            "dashboard listing: miss",
            "dashboard listing: hit",
            "naive: open_run each",
            "naive / list_runs cold",
        ],
        rows,
    )
    if 10_000 in results:
        cold = results[10_000]["cold"]
        print(f"Acceptance: 10,000 runs listed cold in {cold:.2f} s (< 2 s: {C.verdict(cold < 2)})")
    print(f"({time.perf_counter() - started:.0f} s in all; {C.machine()})")


if __name__ == "__main__":
    main()
