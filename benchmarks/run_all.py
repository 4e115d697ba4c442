"""Run every benchmark in turn and print their tables (the README's Performance section).

    python benchmarks/run_all.py [--full]

About 15 minutes on 2 cores once the data exist (the player's latency is measured apart:
``bench_player.py``); the first run also writes the benchmark runs
through RunWriter (the 10,000-step 512x512 run alone takes about 6 minutes) into
``$ANIMLIB_BENCH_DATA`` (default: a folder in the system temp dir), reused afterwards.
``--full`` also times the slow baselines on the 1,000-step renders (about 15 more minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_render.py", "bench_cache.py", "bench_listing.py", "bench_step_read.py"]
SCRIPTS += ["bench_memory.py", "bench_batch.py"]
SCRIPTS += ["bench_index.py"]  # run index: 100,000 runs (cloned once, about 4 minutes)
SCRIPTS += ["bench_experiments.py"]  # experiments page: 100,000 sample runs (cloned once, ~3 min)
SCRIPTS += ["bench_bulk.py"]  # render --all of 1,000 small runs on a LocalCluster (about 3 minutes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also time the slow baselines")
    args = ap.parse_args()
    started = time.perf_counter()
    failed = []
    for script in SCRIPTS:
        cmd = [sys.executable, str(HERE / script)]
        if args.full and script in ("bench_render.py", "bench_listing.py"):
            cmd.append("--full")
        print(f"\n$ python benchmarks/{' '.join(cmd[1:]).replace(str(HERE) + '/', '')}", flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            failed.append(script)
    print(f"\nAll benchmarks: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
