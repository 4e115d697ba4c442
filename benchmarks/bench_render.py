"""Render speed: seed-style clear+imshow+save vs set_data+save vs animlib.render vs encode floor.

    python benchmarks/bench_render.py [--sizes 64 224 512] [--steps 120 1000] [--repeat 5] [--full]
                                      [--compare 6 | --compare 0]

All are timed side by side in one process, interleaved round by round, on the same stored run
(float32 RGB images, 10 classes, 1280x360 frames at 10 fps, H.264 MP4):

* seed: what a hand-written script does -- per frame ``ax.clear()`` + ``imshow`` on the image
  panels and ``barh`` for the confidences, then ``Animation.save`` (which redraws the figure);
* set_data: the same figure built once, updated with ``set_data``/``set_width``, then
  ``Animation.save``;
* animlib: ``animlib.render(run, "x.mp4")``, cold (animlib's and matplotlib's text caches
  cleared first, as for the first render in a fresh process) and, for short runs, warm (the
  same call again, as in a dashboard that has rendered before);
* floor: only encoding ``animlib.render``'s frames, drawn beforehand, with the same writer (which
  pipes YUV planes to ffmpeg: for these frames, given without the parts that changed, it
  converts each whole frame; ``animlib.render`` converts only what it redrew).

A comparison row follows: ``animlib.render_compare`` of ``--compare`` (6) stored 224x224 runs of
120 down to 60 steps (float32 and uint8 in turn, as old runs are), 1280x1440 frames, against
the floor of encoding its own frames (the baselines draw single runs only).

The panels' pixels are computed by animlib's compiled loop (``animlib.kernels.display_rgb``,
Numba), loaded before timing as in any process that has rendered before (a process's second
render starts loading it; ``--no-jit`` times the numpy code instead).

Every ffmpeg run uses the same encoder settings (libx264, preset veryfast, crf 20, yuv420p), so
the ratios compare drawing, not encoders. The baselines are slow, so they run once, and by
default only for runs of at most ``--baseline-max-steps`` (120) steps; ``--full`` runs them
everywhere (about 15 minutes more). animlib and the floor run ``--repeat`` rounds (5; 1 for longer
runs) and report medians; "animlib / floor" is the median of each round's ratio, so load that
changes between rounds cancels out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import _common as C
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FFMpegWriter, FuncAnimation

import animlib
from animlib import kernels
from animlib.animation import use_bundled_ffmpeg
from animlib.frames import FrameRenderer
from animlib.movie_writers import get_writer
from animlib.rendering import render

ENCODER_ARGS = ["-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
FPS = 10


def _mpl_writer() -> FFMpegWriter:
    return FFMpegWriter(fps=FPS, codec="libx264", extra_args=list(ENCODER_ARGS))


def seed_baseline(run: animlib.Run, out: Path) -> None:
    """Per frame: clear the 4 panels, imshow the 3 images, barh the top-10 confidences."""
    fig, axes = plt.subplots(1, 4, figsize=(12.8, 3.6), dpi=100)
    x0, conf, names = run.original, run.confidences, run.class_names

    def update(i: int) -> None:
        x = run.images[i]
        for ax in axes:
            ax.clear()
        axes[0].imshow(x0)
        axes[0].set_title("original")
        axes[1].imshow(x)
        axes[1].set_title(f"step {i}")
        d = (x.astype(np.float32) - x0.astype(np.float32)).mean(-1)
        m = float(np.abs(d).max()) or 1.0
        axes[2].imshow(d, cmap="RdBu_r", vmin=-m, vmax=m)
        axes[2].set_title("perturbation")
        top = np.argsort(-conf[i])[:10]
        axes[3].barh(range(len(top)), conf[i][top])
        axes[3].set_yticks(range(len(top)), [names[t] for t in top])
        axes[3].set_xlim(0, 1)
        axes[3].invert_yaxis()
        for ax in axes[:3]:
            ax.axis("off")

    anim = FuncAnimation(fig, update, frames=len(run), interval=1000 / FPS)
    anim.save(out, writer=_mpl_writer())
    plt.close(fig)


def set_data_baseline(run: animlib.Run, out: Path) -> None:
    """The same panels built once and updated in place (set_data / set_width / set_text)."""
    fig, axes = plt.subplots(1, 4, figsize=(12.8, 3.6), dpi=100)
    x0, conf, names = run.original, run.confidences, run.class_names
    f0 = x0.astype(np.float32)
    last = (run.images[len(run) - 1].astype(np.float32) - f0).mean(-1)
    m = float(np.abs(last).max()) or 1.0
    top = np.argsort(-conf.max(axis=0))[:10]
    axes[0].imshow(x0)
    axes[0].set_title("original")
    adv = axes[1].imshow(run.images[0])
    title = axes[1].set_title("step 0")
    pert = axes[2].imshow(np.zeros(x0.shape[:2]), cmap="RdBu_r", vmin=-m, vmax=m)
    axes[2].set_title("perturbation")
    bars = axes[3].barh(range(len(top)), conf[0][top])
    axes[3].set_yticks(range(len(top)), [names[t] for t in top])
    axes[3].set_xlim(0, 1)
    axes[3].invert_yaxis()
    for ax in axes[:3]:
        ax.axis("off")

    def update(i: int) -> None:
        x = run.images[i]
        adv.set_data(x)
        title.set_text(f"step {i}")
        pert.set_data((x.astype(np.float32) - f0).mean(-1))
        for bar, value in zip(bars, conf[i][top], strict=True):
            bar.set_width(float(value))

    anim = FuncAnimation(fig, update, frames=len(run), interval=1000 / FPS)
    anim.save(out, writer=_mpl_writer())
    plt.close(fig)


Runs = animlib.Run | list[animlib.Run]  # one run, or the runs of a comparison


def ours(run: Runs, out: Path) -> None:
    """``animlib.render`` with text caches cleared first, as in a fresh process (cold)."""
    C.clear_text_caches()
    render(run, out, fps=FPS)


def warm(run: Runs, out: Path) -> None:
    """``animlib.render`` again: laid-out text and glyphs cached, as in a busy dashboard."""
    render(run, out, fps=FPS)


def predraw(run: Runs, folder: Path) -> np.memmap:
    """animlib's frames (RGBA, as the renderer hands them to the writer) in a file on disk."""
    with FrameRenderer(run) as frames:
        w, h = frames.size
        store = np.lib.format.open_memmap(
            folder / "frames.npy", mode="w+", dtype=np.uint8, shape=(len(frames), h, w, 4)
        )
        for i in range(len(frames)):
            store[i] = frames.frame_rgba(i)
    store.flush()
    return store


def floor(frames: np.memmap, out: Path) -> None:
    """Encode pre-drawn frames with the MP4 writer animlib.render uses: the encoder alone."""
    h, w = frames.shape[1:3]
    writer = get_writer("mp4")
    with writer.saving(out, (w, h), FPS, channels=4):
        for frame in frames:
            writer.grab_frame(frame)


def dataset(size: int, steps: int) -> animlib.Run:
    """The stored float32 run for this size and length (generated once, then reused)."""
    name = f"render-{size}px-{steps}steps"
    folder, built = C.cached_dataset(name, lambda f: C.pgd_like_run(f, "pgd", steps, size))
    if built is not None:
        print(f"  (generated {name} through RunWriter in {built:.1f} s)", flush=True)
    return animlib.open_run(folder / "pgd")


COMPARE_SIZE = 224
COMPARE_LENGTHS = (120, 120, 100, 100, 60, 60)  # steps of the compared runs, longest first


def compare_dataset(n: int) -> list[animlib.Run]:
    """``n`` stored runs of ``COMPARE_SIZE`` pixels for a comparison: float32 and uint8 in turn,
    of ``COMPARE_LENGTHS`` steps (generated once, then reused)."""
    lengths = [COMPARE_LENGTHS[i % len(COMPARE_LENGTHS)] for i in range(n)]
    name = f"compare-{n}x{COMPARE_SIZE}px-" + "-".join(map(str, lengths))

    def build(folder: Path) -> None:
        for i, steps in enumerate(lengths):
            dtype = "float32" if i % 2 == 0 else "uint8"
            C.pgd_like_run(folder, f"run{i}", steps, COMPARE_SIZE, dtype=dtype)

    folder, built = C.cached_dataset(name, build)
    if built is not None:
        print(f"  (generated {name} through RunWriter in {built:.1f} s)", flush=True)
    return [animlib.open_run(folder / f"run{i}") for i in range(n)]


def measure(
    run: Runs, frames: np.memmap, tmp: Path, rounds: int, baselines: bool, hot: bool
) -> dict[str, list[float]]:
    """Times of every method, round by round (baselines in the first round only)."""
    times: dict[str, list[float]] = {"cold": [], "warm": [], "floor": []}
    for round_ in range(rounds):
        todo = [("cold", ours, run), ("warm", warm, run), ("floor", floor, frames)]
        if not hot:
            del todo[1]
        if baselines and round_ == 0:
            todo = [("seed", seed_baseline, run), ("set_data", set_data_baseline, run), *todo]
        for key, fn, arg in todo:
            times.setdefault(key, []).append(C.timed(fn, arg, tmp / f"{key}.mp4"))
    return times


def one_case(
    label: str, steps: int, run: Runs, tmp: Path, rounds: int, baselines: bool
) -> tuple[list[object], dict[str, float | None]]:
    """Time one case; its table row and {seed, cold, over_cold, over_warm}."""
    med = statistics.median
    frames = predraw(run, tmp)
    t = measure(run, frames, tmp, rounds, baselines, hot=steps <= 120)
    del frames
    (tmp / "frames.npy").unlink(missing_ok=True)
    seed, sdata = (t[k][0] if k in t else None for k in ("seed", "set_data"))
    cold, enc = med(t["cold"]), med(t["floor"])
    hot = med(t["warm"]) if t["warm"] else None
    # each round's animlib / floor, so load that changes between rounds cancels out
    over_cold = med(a / b for a, b in zip(t["cold"], t["floor"], strict=True))
    over_warm = None
    if t["warm"]:
        over_warm = med(a / b for a, b in zip(t["warm"], t["floor"], strict=True))
    spread = ""
    if len(t["cold"]) > 1:
        ratios = [a / b for a, b in zip(t["cold"], t["floor"], strict=True)]
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}x"
    row = [
        label,
        steps,
        C.fmt_seconds(seed),
        C.fmt_seconds(sdata),
        C.fmt_seconds(cold),
        C.fmt_seconds(hot),
        C.fmt_seconds(enc),
        C.fmt_ratio(seed / cold if seed else None),
        C.fmt_ratio(sdata / cold if sdata else None),
        C.fmt_ratio(over_cold),
        C.fmt_ratio(over_warm),
        spread or "—",
    ]
    print("  " + " | ".join(str(c) for c in row), flush=True)
    result = {"seed": seed, "cold": cold, "over_cold": over_cold, "over_warm": over_warm}
    return row, result


HEADERS = [
    "image",
    "steps",
    "seed: clear+imshow+save",
    "set_data+save",
    "animlib (cold)",
    "animlib (warm)",
    "encode floor",
    "seed / animlib",
    "set_data / animlib",
    "animlib / floor (cold)",
    "animlib / floor (warm)",
    "cold / floor, min-max",
]


def acceptance(what: str, result: dict[str, float | None] | None, limit: float) -> None:
    """One acceptance line: the cold ratio (and the warm one) against ``limit``."""
    if result is None or result["over_cold"] is None:
        return
    cold, hot = result["over_cold"], result["over_warm"]  # 3 decimals: 1.30x can be over 1.3
    warm_text = f", {hot:.3f}x warm" if hot is not None else ""
    warm_verdict = f", warm {C.verdict(hot <= limit)}" if hot is not None else ""
    print(
        f"{what}: {cold:.3f}x the encode floor cold{warm_text} "
        f"(<= {limit:g}x: cold {C.verdict(cold <= limit)}{warm_verdict})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 224, 512])
    ap.add_argument("--steps", type=int, nargs="+", default=[120, 1000])
    ap.add_argument("--repeat", type=int, default=5, help="rounds for runs of <= 120 steps")
    ap.add_argument("--repeat-long", type=int, default=1, help="rounds for longer runs")
    ap.add_argument("--baseline-max-steps", type=int, default=120)
    ap.add_argument("--full", action="store_true", help="baselines for every run length")
    ap.add_argument("--compare", type=int, default=6, help="runs in the comparison row (0: none)")
    ap.add_argument("--no-jit", action="store_true", help="numpy only (no compiled panel pixels)")
    args = ap.parse_args()
    use_bundled_ffmpeg()
    tmp = Path(tempfile.mkdtemp(prefix="animlib-bench-render-"))
    started = time.perf_counter()
    rows, results = [], {}
    try:
        print(f"bench_render: {C.machine()}", flush=True)
        if args.no_jit:
            os.environ[kernels.DISABLE_ENV] = "1"
        compiled = kernels.display_rgb(wait=True) is not None
        print(
            "  panel pixels: "
            + (
                "compiled (animlib.kernels, loaded before timing, as in a process that has "
                "rendered before)"
                if compiled
                else "numpy (Numba missing or --no-jit)"
            ),
            flush=True,
        )
        for steps in args.steps:
            for size in args.sizes:
                run = dataset(size, steps)
                baselines = args.full or steps <= args.baseline_max_steps
                rounds = args.repeat if steps <= 120 else args.repeat_long
                row, results[size, steps] = one_case(
                    f"{size}x{size}", steps, run, tmp, rounds, baselines
                )
                rows.append(row)
        if args.compare:
            runs = compare_dataset(args.compare)
            label = f"compare {args.compare} x {COMPARE_SIZE}x{COMPARE_SIZE}"
            row, results["compare"] = one_case(
                label, max(len(r) for r in runs), runs, tmp, args.repeat, False
            )
            rows.append(row)
        C.print_table(
            "Render an MP4 (1280x360 frames, a comparison 1280x1440; 10 fps, libx264 veryfast "
            "crf 20), median wall time",
            HEADERS,
            rows,
        )
        r224 = results.get((224, 120))
        if r224 and r224["seed"]:
            speedup = r224["seed"] / r224["cold"]
            over_cold, over_warm = r224["over_cold"], r224["over_warm"]
            print(
                f"Acceptance at 224x224, 120 steps: {speedup:.1f}x faster than the seed baseline "
                f"(>= 5x: {C.verdict(speedup >= 5)}); {over_cold:.2f}x the encode floor with cold "
                f"text caches, {over_warm:.2f}x warm (<= 2x: cold {C.verdict(over_cold <= 2)}, "
                f"warm {C.verdict(over_warm <= 2)})"
            )
        acceptance("Issue 10 acceptance at 224x224, 120 steps", r224, 1.3)
        acceptance("Issue 13 acceptance at 512x512, 120 steps", results.get((512, 120)), 1.5)
        acceptance(
            f"Issue 13 acceptance, a {args.compare}-run compare video",
            results.get("compare"),
            1.5,
        )
        print(f"({time.perf_counter() - started:.0f} s in all; {C.machine()})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
