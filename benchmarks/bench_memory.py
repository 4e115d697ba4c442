"""Peak memory (RSS) rendering a 10,000-step 512x512 run, vs a 120-step run of the same images.

    python benchmarks/bench_memory.py

Each render runs in a fresh Python process (``animlib.render(run, "x.mp4")``, default options:
every step is a frame). Reported: the process's resident set before rendering (animlib imported,
run opened), its peak (``ru_maxrss``), the peak of the ffmpeg it pipes frames into, and the peak
of both together (sampled every 20 ms). Memory must not grow with the number of steps: a run is
read a block of steps at a time and frames stream to the encoder. The 10,000-step run is written
once through ``RunWriter`` (several minutes) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import _common as C
import imageio_ffmpeg
import numpy as np

import animlib

MIB = 2**20


def short_run(steps: int) -> animlib.Run:
    """A run of the long run's images (512x512 uint8), only ``steps`` long."""
    name = f"short-{C.LONG_SIZE}px-{steps}steps-uint8"
    folder, _ = C.cached_dataset(
        name,
        lambda f: C.pgd_like_run(f, "short", steps, C.LONG_SIZE, dtype="uint8", block=8),
    )
    return animlib.open_run(folder / "short")


def rss(pid: int | str = "self") -> int:
    """Resident set size of a process in bytes (Linux /proc), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return kids


def child(run_path: str, out: str) -> None:
    """Render in this (fresh) process and print one JSON line of measurements."""
    from animlib.rendering import render

    me = os.getpid()
    run = animlib.open_run(run_path)
    before = rss()
    peak_sum = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak_sum[0] = max(peak_sum[0], rss(me) + sum(rss(k) for k in children(me)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    render(run, out)
    seconds = time.perf_counter() - t
    stop.set()
    sampler.join()
    kb = 1024  # ru_maxrss is in KiB on Linux
    print(
        json.dumps(
            {
                "steps": len(run),
                "seconds": seconds,
                "before": before,
                "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kb,
                "ffmpeg": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kb,
                "both": peak_sum[0],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short-steps", type=int, default=120)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    started = time.perf_counter()
    print(f"bench_memory: {C.machine()}", flush=True)
    long, built = C.long_run()
    if built is not None:
        print(f"  (the {len(long):,}-step run took {built:.0f} s to write through RunWriter)")
    short = short_run(args.short_steps)
    rows, results = [], {}
    out = Path(C.data_dir()) / "bench-memory-out.mp4"
    for run in (short, long):
        cmd = [sys.executable, __file__, "--child", run.url, str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        frames = imageio_ffmpeg.count_frames_and_secs(str(out))[0]
        assert frames == len(run), f"{frames} frames for {len(run)} steps"
        out.unlink(missing_ok=True)
        results[len(run)] = r
        raw = len(run) * int(np.prod(run.image_shape))
        rows.append(
            [
                f"{len(run):,}",
                f"{C.fmt_seconds(r['seconds'])} ({r['seconds'] / len(run) * 1e3:.1f} ms/frame)",
                f"{r['before'] / MIB:.0f} MiB",
                f"{r['peak'] / MIB:.0f} MiB",
                f"{r['ffmpeg'] / MIB:.0f} MiB",
                f"{r['both'] / MIB:.0f} MiB",
                f"{raw / 2**30:.2f} GiB",
            ]
        )
        print("  " + " | ".join(rows[-1]), flush=True)
    C.print_table(
        "Render 512x512 uint8 runs to MP4 (every step a frame): resident memory",
        [
            "steps",
            "render time",
            "python before",
            "python peak",
            "ffmpeg peak",
            "python + ffmpeg peak (sampled)",
            "all images of the run",
        ],
        rows,
    )
    lr, sr = results[len(long)], results[len(short)]
    print(
        f"{len(long):,} vs {len(short)} steps: python peak {lr['peak'] / sr['peak']:.2f}x, "
        f"python + ffmpeg {lr['both'] / sr['both']:.2f}x "
        f"(for {len(long) / len(short):.0f}x the steps)"
    )
    worst = max(lr["peak"], lr["both"])
    print(
        f"Acceptance: rendering the {len(long):,}-step 512x512 run peaks at {worst / MIB:.0f} MiB "
        f"(python + ffmpeg) (< 1 GiB: {C.verdict(worst < 2**30)})"
    )
    print(f"({time.perf_counter() - started:.0f} s in all; {C.machine()})")


if __name__ == "__main__":
    main()
