"""Render cache: cached re-render vs render, render(cache=True), a shared S3 cache, live runs.

    python benchmarks/bench_cache.py [--repeat 20]

On the 224x224, 120-step run of bench_render, with the cache in a fresh temporary folder
(``ANIMLIB_CACHE``), the viewer's call ``cached_render(run, "mp4", fps=10, ...)``:

* miss: nothing cached, the video is rendered and stored;
* hit: the same call again (the run object already open);
* hit from a deep link: a new process opens the run by id (``open_run_in``) and calls
  ``cached_render`` -- what the viewer page does on a second visit (Python imports not timed);
* ``animlib.render(run, path, cache=True)`` a second time: the cached file copied to ``path``;
* after the run changed (``RunWriter.resume`` + one more ``log``): the key changes, it renders
  again; then that render is a hit.

A shared cache (``ANIMLIB_CACHE=s3://...`` on moto's S3 server on loopback, when moto and s3fs
are installed): a miss (render + upload), the first hit of another machine (a fresh local
folder: one download), then its local read-through copy.

A live run (being written, 120 steps of 224x224, then 10 more per view): what each view cost
before (a content key: the whole video rendered again, one more entry per view) against the live
entry (only the new frames rendered and joined; one entry).
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
from animlib import cache
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


def _faster(label: str, seconds: float, base: float) -> list[str]:
    """A table row: ``label``, the time, and how many times faster than ``base`` seconds."""
    return [label, C.fmt_seconds(seconds), f"{base / seconds:,.0f}x faster"]


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

        copies = []
        animlib.render(run, tmp / "copy.mp4", cache=True, **OPTIONS)
        for i in range(args.repeat):
            copies.append(C.timed(animlib.render, run, tmp / f"copy{i}.mp4", cache=True, **OPTIONS))
        copy = statistics.median(copies)

        hit = statistics.median(hits)
        rows = [
            ["render (miss)", C.fmt_seconds(miss), "1x"],
            _faster(f"cached re-render (hit), median of {args.repeat}", hit, miss),
            _faster("deep link, new process: open_run_in + hit (first call)", link["first"], miss),
            _faster(f"render(run, path, cache=True), again, median of {args.repeat}", copy, miss),
            ["run changed (resume + 1 step): renders again (miss)", C.fmt_seconds(again), "—"],
            _faster("changed run, then a hit", statistics.median(new_hits), again),
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
        worst_copy = float(np.percentile(copies, 95))
        print(
            f"Acceptance: a second identical animlib.render(..., cache=True) returns in "
            f"{copy * 1e3:.1f} ms (median; p95 {worst_copy * 1e3:.1f} ms) "
            f"(< 100 ms: {C.verdict(worst_copy < 0.1)})"
        )
        shared_cache(run, tmp)
        live_run(tmp)
        print(f"({time.perf_counter() - started:.0f} s in all; {C.machine()})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def shared_cache(run: animlib.Run, tmp: Path) -> None:
    """Miss, another machine's first hit (a download), then its local copy, on moto's S3."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        print("\n(shared cache: moto is not installed, skipped)")
        return
    saved = dict(os.environ)
    try:
        with C.moto_s3("bench-cache"):
            os.environ.update(
                ANIMLIB_CACHE="s3://bench-cache/renders", ANIMLIB_CACHE_LOCAL=str(tmp / "machine-a")
            )
            _shared_cache(run, tmp)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _shared_cache(run: animlib.Run, tmp: Path) -> None:
    cache.reset_stats()
    miss = C.timed(cached_render, run, "mp4", **OPTIONS)
    os.environ["ANIMLIB_CACHE_LOCAL"] = str(tmp / "machine-b")
    first = C.timed(cached_render, run, "mp4", **OPTIONS)
    local = [C.timed(cached_render, run, "mp4", **OPTIONS) for _ in range(10)]
    copies = [
        C.timed(animlib.render, run, tmp / f"s3copy{i}.mp4", cache=True, **OPTIONS)
        for i in range(10)
    ]
    counts = cache.stats()
    size = (tmp / "machine-b").joinpath(next(iter(os.listdir(tmp / "machine-b")))).stat()
    rows = [
        ["miss: render + upload (machine A)", C.fmt_seconds(miss), "1x"],
        _faster(
            f"machine B, first hit: one download ({size.st_size / 2**20:.1f} MiB)", first, miss
        ),
        _faster("machine B, then: its local copy (median of 10)", statistics.median(local), miss),
        _faster(
            "machine B, render(..., cache=True) (median of 10)", statistics.median(copies), miss
        ),
    ]
    C.print_table(
        "Shared render cache on S3 (moto on loopback), 224x224 run, 120 steps, MP4",
        ["call", "time", "vs rendering"],
        rows,
    )
    print(
        f"Renders: {counts['renders']} for 1 + 21 requests from two machines "
        f"({counts['downloads']} download) "
        f"({C.verdict(counts['renders'] == 1 and counts['downloads'] == 1)})"
    )


def live_run(tmp: Path) -> None:
    """A run being written, viewed after every 10 new steps: full re-render vs the live entry."""
    from animlib.cache import live

    source, _ = C.cached_dataset(
        "render-224px-120steps", lambda f: C.pgd_like_run(f, "pgd", 120, 224)
    )
    done = animlib.open_run(source / "pgd")
    os.environ["ANIMLIB_CACHE"] = str(tmp / "live-cache")
    live.LIVE_REFRESH_SECONDS = 0.0  # every view re-made (the default re-makes at most every 2 s)
    writer = animlib.RunWriter(
        tmp / "live-runs",
        name="live",
        attack=done.attack,
        model=done.model,
        class_names=done.class_names,
        true_label=done.true_label,
        original=done.original,
    )
    images, conf = done.images[0:120], done.confidences
    for i in range(100):
        writer.log(image=images[i], confidences=conf[i])
    cache.reset_stats()
    rows = []
    for view in range(3):
        run = animlib.open_run(writer.url)
        full = C.timed(animlib.render, run, tmp / f"full{view}.mp4", **OPTIONS)
        t = time.perf_counter()
        path = cached_render(run, "mp4", **OPTIONS)
        took = time.perf_counter() - t
        what = "first view: rendered" if view == 0 else "appended 10 frames"
        rows.append(
            [
                f"view {view + 1}, {len(run)} steps",
                C.fmt_seconds(full),
                f"{what}: {C.fmt_seconds(took)}",
                C.fmt_ratio(full / took),
            ]
        )
        for i in range(100 + 10 * view, min(110 + 10 * view, 120)):
            writer.log(image=images[i], confidences=conf[i])
    writer.finish()
    entries = [n for n in os.listdir(tmp / "live-cache") if not n.startswith(".")]
    C.print_table(
        "A live run (224x224, 100 steps + 10 per view), MP4: each view before (full render, a new "
        "entry) vs now (the live entry)",
        ["view", "full re-render (before)", "live entry (now)", "speed-up"],
        rows,
    )
    counts = cache.stats()
    print(
        f"Live entries: {len(entries)} file(s) for 3 views ({counts['renders']} render, "
        f"{counts['appends']} appends; before: 3 files) ({C.verdict(len(entries) == 1)}); "
        f"{path.name} holds {len(run)} frames"
    )


if __name__ == "__main__":
    main()
