"""Reading one step: a 10,000-step 512x512 run vs a 100-step run of the same images.

    python benchmarks/bench_step_read.py [--samples 60]

For each run, at random steps: ``run.images[i]`` with the chunk in the OS page cache (warm) and
with it dropped first (``posix_fadvise(DONTNEED)``, so it comes from disk: cold), and what the
viewer does for a deep link to a step -- ``open_run`` + that step's image and confidences --
cold. A step is read without reading the others: the time must not grow with the run's length,
so the 10,000-step run is compared with a 100-step one side by side. As a reference, the naive
way (read every step, keep the one wanted) is timed on the 100-step run.

The 10,000-step run is written once through ``RunWriter`` (several minutes) and reused.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import _common as C
import numpy as np

import animlib


def short_run() -> animlib.Run:
    """100 steps, the same 512x512 uint8 images as the long run."""
    name = f"short-{C.LONG_SIZE}px-100steps-uint8"
    folder, _ = C.cached_dataset(
        name,
        lambda f: C.pgd_like_run(f, "short", 100, C.LONG_SIZE, dtype="uint8", block=8),
    )
    return animlib.open_run(folder / "short")


def raw_gib(run: animlib.Run) -> float:
    """Size of all the run's images in memory, in GiB."""
    return len(run) * int(np.prod(run.image_shape)) * run.images[0].itemsize / 2**30


def chunk_files(run: animlib.Run, step: int) -> list[Path]:
    """The stored file(s) holding ``step``'s image (chunk keys ``c.i.0.0.0`` or ``c/i/0/0/0``)."""
    index = step // run.images.chunk_len
    flat = Path(run.url) / "images" / f"c.{index}.0.0.0"
    if flat.is_file():
        return [flat]
    folder = Path(run.url) / "images" / "c" / str(index)
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def metadata_files(run: animlib.Run) -> list[Path]:
    """run.json, the Zarr metadata and the confidences' chunks."""
    root = Path(run.url)
    files = [root / "run.json", *root.glob("**/zarr.json")]
    return files + [p for p in (root / "confidences").rglob("*") if p.is_file()]


def measure(run: animlib.Run, steps: list[int]) -> dict[str, float]:
    """Median / p95 of warm and cold single-step reads and of a cold deep link."""
    for i in steps:  # warm the page cache
        run.images[i]
    warm = [C.timed(run.images.__getitem__, i) for i in steps]
    cold, dropped = [], 0
    for i in steps:
        dropped += C.drop_from_page_cache(chunk_files(run, i))
        cold.append(C.timed(run.images.__getitem__, i))
    link = []
    for i in steps:
        C.drop_from_page_cache(chunk_files(run, i) + metadata_files(run))
        t = time.perf_counter()
        opened = animlib.open_run(run.url)
        image = opened.images[i]
        conf = opened.confidences[i]
        link.append(time.perf_counter() - t)
        assert image.shape == tuple(opened.image_shape) and conf.shape == (len(C.CLASSES),)
    assert dropped >= len(steps), "chunk files not found: cannot measure cold reads"

    def p95(xs: list[float]) -> float:
        return float(np.percentile(xs, 95))

    return {
        "warm": statistics.median(warm),
        "warm95": p95(warm),
        "cold": statistics.median(cold),
        "cold95": p95(cold),
        "link": statistics.median(link),
        "link95": p95(link),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=60)
    args = ap.parse_args()
    started = time.perf_counter()
    print(f"bench_step_read: {C.machine()}", flush=True)
    long, built = C.long_run()
    if built is not None:
        print(f"  (the {len(long):,}-step run took {built:.0f} s to write through RunWriter)")
    short = short_run()
    short.images[0]  # start Zarr's I/O thread before timing anything
    rng = np.random.default_rng(1)
    results = {}
    for run in (short, long):  # the same random positions, relative to the length
        picks = sorted({int(x * len(run)) for x in rng.random(args.samples)})
        results[len(run)] = measure(run, picks)
    t = time.perf_counter()
    short.images[0 : len(short)]
    whole_short = time.perf_counter() - t
    rows = []
    for run in (short, long):
        r = results[len(run)]
        rows.append(
            [
                f"{len(run):,}",
                f"{run.image_shape[0]}x{run.image_shape[1]}x{run.image_shape[2]} uint8",
                f"{C.fmt_seconds(r['warm'])} / {C.fmt_seconds(r['warm95'])}",
                f"{C.fmt_seconds(r['cold'])} / {C.fmt_seconds(r['cold95'])}",
                f"{C.fmt_seconds(r['link'])} / {C.fmt_seconds(r['link95'])}",
                C.fmt_seconds(whole_short)
                if run is short
                else f"— ({raw_gib(run):.1f} GiB, not run)",
            ]
        )
    C.print_table(
        f"Read one step ({args.samples} random steps per run; median / 95th percentile)",
        [
            "steps",
            "images",
            "images[i], warm",
            "images[i], cold",
            "open_run + step i (deep link), cold",
            "naive: read all, keep one",
        ],
        rows,
    )
    long_r, short_r = results[len(long)], results[len(short)]
    print(
        f"10,000-step / 100-step run: warm {long_r['warm'] / short_r['warm']:.2f}x, "
        f"cold {long_r['cold'] / short_r['cold']:.2f}x, "
        f"deep link {long_r['link'] / short_r['link']:.2f}x; "
        f"one step vs reading the 100-step run whole: {whole_short / short_r['warm']:.0f}x faster"
    )
    worst = max(long_r["cold95"], long_r["warm95"])
    print(
        f"Acceptance: one step of the 10,000-step run in {long_r['cold']:.4f} s cold median, "
        f"{worst:.4f} s at the 95th percentile (< 20 ms: {C.verdict(worst < 0.020)})"
    )
    print(f"({time.perf_counter() - started:.0f} s in all; {C.machine()})")


if __name__ == "__main__":
    main()
