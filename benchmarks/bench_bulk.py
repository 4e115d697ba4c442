"""``render --all`` on a Dask LocalCluster: 1,000 small runs, progress, throughput vs one process.

    python benchmarks/bench_bulk.py [--runs 1000] [--workers 2] [--serial 50]

Writes ``--runs`` small runs (12x12 RGB, 3-7 steps, 10 classes) once into the benchmark data
folder, then renders every one to MP4 with ``animlib.bulk.render_all`` on a fresh
``LocalCluster`` of ``--workers`` single-threaded worker processes, printing a progress line
every 10 %. Side by side in the same run it renders the first ``--serial`` runs in this
process, one after the other (``use_dask=False``), and prints seconds per run for both and their
ratio. The acceptance line of issue 13: every run rendered, progress reported for each, no
failure.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import _common as C
import numpy as np

from animlib.bulk import render_all


def build(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        steps = 3 + i % 5
        x = rng.random((12, 12, 3), dtype=np.float32)
        with C.animlib.RunWriter(
            folder, name=f"small-{i:04d}", attack="PGD", model="tiny", class_names=C.CLASSES,
            true_label=i % 10, original=x,
        ) as w:  # fmt: skip
            for s in range(steps):
                p = np.full(10, 0.5 / 9, np.float32)
                p[i % 10] = 0.5 + 0.05 * (steps - s)
                w.log(image=np.clip(x + 0.01 * s, 0, 1), confidences=p / p.sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--serial", type=int, default=50, help="runs rendered in one process too")
    args = ap.parse_args()
    runs, built = C.cached_dataset(f"bulk-{args.runs}", lambda f: build(f, args.runs))
    print(C.machine())
    print(f"{args.runs} runs in {runs}" + (f" (written in {built:.1f} s)" if built else ""))
    out = Path(tempfile.mkdtemp(prefix="animlib-bulk-"))
    seen: list[int] = []
    step = max(1, args.runs // 10)

    def progress(done: int, total: int, outcome) -> None:
        seen.append(done)
        if done % step == 0 or done == total:
            print(f"  {done:5d}/{total}  {outcome.status:8s} {outcome.run_id}", flush=True)

    try:
        t0 = time.perf_counter()
        report = render_all(
            str(runs), str(out / "cluster"), n_workers=args.workers, progress=progress, dpi=50
        )
        cluster_s = time.perf_counter() - t0
        sample = sorted(p.name for p in runs.iterdir() if p.is_dir())[: args.serial]
        serial_root = out / "sample"
        serial_root.mkdir()
        for name in sample:  # the same runs (copied: links are refused): one process in turn
            shutil.copytree(runs / name, serial_root / name)
        t0 = time.perf_counter()
        serial = render_all(
            str(serial_root), str(out / "serial"), use_dask=False, progress=lambda *a: None, dpi=50
        )
        serial_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    rendered = report.count("rendered")
    per_cluster = cluster_s / max(rendered, 1)
    per_serial = serial_s / max(serial.count("rendered"), 1)
    C.print_table(
        "render --all (MP4, dpi 50)",
        ["how", "runs", "rendered", "failed", "total", "per run", "vs one process"],
        [
            [f"LocalCluster, {args.workers} workers", args.runs, rendered,
             report.count("failed"), C.fmt_seconds(cluster_s), C.fmt_seconds(per_cluster),
             C.fmt_ratio(per_serial / per_cluster)],
            ["one process, in turn", len(sample), serial.count("rendered"),
             serial.count("failed"), C.fmt_seconds(serial_s), C.fmt_seconds(per_serial), "1x"],
        ],
    )  # fmt: skip
    ok = rendered == args.runs and seen == list(range(1, args.runs + 1))
    print(f"every run rendered, progress for each of {args.runs}: {C.verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
