"""Render cache: a cached re-render vs rendering, and a changed run rendering again.

    python benchmarks/bench_cache.py [--repeat 20]

On the 224x224, 120-step run of bench_render, with the cache in a fresh temporary folder
(``ANIMLIB_CACHE``), the viewer's call ``cached_render(run, "mp4", fps=10, ...)``:

* miss: nothing cached, the video is rendered and stored;
* hit: the same call again (the run object already open);
* hit from a deep link: a new process opens the run by id (``open_run_in``) and calls
  ``cached_render`` -- what the viewer page does on a second visit (Python imports not timed);
* after the run changed (``RunWriter.resume`` + one more ``log``): the key changes, it renders
  again; then that render is a hit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C
import numpy as np

import animlib
from animlib.cache import cached_render

OPTIONS = {"fps": 10, "dpi": 100, "stride": 1, "top_k": 10, "amplification": None}


def child(root: str, run_id: str, repeat: int) -> None:
    """In a fresh process: open the run by id and get its cached video, as the viewer does."""
    import zarr  # noqa: F401 -- imported lazily by animlib on first use; imports are not timed

    from animlib.cache import cached_render
    from animlib.reader import open_run_in

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        path = cached_render(open_run_in(root, run_id), "mp4", **OPTIONS)
        times.append(time.perf_counter() - t)
    print(json.dumps({"first": times[0], "median": statistics.median(times), "path": str(path)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.repeat)
        return
    started = time.perf_counter()
    print(f"bench_cache: {C.machine()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="animlib-bench-cache-"))
    try:
        source, _ = C.cached_dataset(
            "render-224px-120steps", lambda f: C.pgd_like_run(f, "pgd", 120, 224)
        )
        root = tmp / "runs"
        shutil.copytree(source, root)  # this benchmark changes the run
        os.environ["ANIMLIB_CACHE"] = str(tmp / "cache")
        run = animlib.open_run(root / "pgd")

        miss = C.timed(cached_render, run, "mp4", **OPTIONS)
        video = cached_render(run, "mp4", **OPTIONS)
        hits = [C.timed(cached_render, run, "mp4", **OPTIONS) for _ in range(args.repeat)]
        assert cached_render(run, "mp4", **OPTIONS) == video

        cmd = [sys.executable, __file__, "--child", str(root), "pgd", "--repeat", "5"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        link = json.loads(proc.stdout.strip().splitlines()[-1])
        assert link["path"] == str(video), "a new process must find the same cached file"

        with animlib.RunWriter.resume(root / "pgd") as w:
            w.log(image=run.images[len(run) - 1], confidences=run.confidences[-1])
        changed = animlib.open_run(root / "pgd")
        again = C.timed(cached_render, changed, "mp4", **OPTIONS)
        new_video = cached_render(changed, "mp4", **OPTIONS)
        assert new_video != video and len(changed) == len(run) + 1
        new_hits = [C.timed(cached_render, changed, "mp4", **OPTIONS) for _ in range(args.repeat)]

        hit = statistics.median(hits)
        rows = [
            ["render (miss)", C.fmt_seconds(miss), "1x"],
            [
                f"cached re-render (hit), median of {args.repeat}",
                C.fmt_seconds(hit),
                f"{miss / hit:,.0f}x faster",
            ],
            [
                "deep link, new process: open_run_in + hit (first call)",
                C.fmt_seconds(link["first"]),
                f"{miss / link['first']:,.0f}x faster",
            ],
            ["run changed (resume + 1 step): renders again (miss)", C.fmt_seconds(again), "—"],
            [
                "changed run, then a hit",
                C.fmt_seconds(statistics.median(new_hits)),
                f"{again / statistics.median(new_hits):,.0f}x faster",
            ],
        ]
        C.print_table(
            "Render cache, 224x224 run, 120 then 121 steps, MP4 (cache in a temporary folder)",
            ["call", "time", "vs rendering"],
            rows,
        )
        worst = max(np.percentile(hits, 95), link["first"])
        print(
            f"Acceptance: a cached re-render returns in {hit * 1e3:.1f} ms (median; "
            f"{worst * 1e3:.1f} ms worst of p95 and a new process) "
            f"(< 100 ms: {C.verdict(worst < 0.1)})"
        )
        print(f"({time.perf_counter() - started:.0f} s in all; {C.machine()})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
