"""Render speed: animlib.render vs the seed-style clear + imshow + Animation.save, same machine.

    python benchmarks/bench_render.py [--steps 120] [--size 224] [--repeat 3]

Prints the best and median wall time of: the seed baseline, ``animlib.render`` to MP4, drawing
the frames alone, and encoding pre-drawn frames alone (the ffmpeg floor), plus the speed-up.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402

import animlib  # noqa: E402
from animlib.animate import use_bundled_ffmpeg  # noqa: E402
from animlib.outputs import get_writer  # noqa: E402
from animlib.render import FrameRenderer, render  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_run(root: Path, steps: int, size: int) -> animlib.Run:
    """A PGD-like run: a smooth RGB image, a growing sign perturbation, cat -> dog."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    x0 = np.stack([(np.sin(6 * xx + c) + 1) / 2 * 0.8 + 0.1 * yy for c in range(3)], -1)
    x0 = x0.astype(np.float32)
    sign = np.sign(rng.standard_normal(x0.shape)).astype(np.float32)
    with animlib.RunWriter(
        root,
        name="bench-pgd",
        attack="PGD",
        model="bench",
        class_names=CLASSES,
        true_label=3,
        original=x0,
    ) as w:
        for i in range(steps):
            t = i / max(steps - 1, 1)
            x = np.clip(x0 + 8 / 255 * sign * rng.uniform(0.5, 1, x0.shape) * t, 0, 1)
            logits = rng.normal(0, 0.2, len(CLASSES))
            logits[3], logits[5] = 4 - 6 * t, 6 * t - 1
            p = np.exp(logits) / np.exp(logits).sum()
            w.log(image=x.astype(np.float32), confidences=p.astype(np.float32))
    return animlib.open_run(root / w.run_id)


def seed_baseline(run: animlib.Run, out: Path) -> None:
    """What a hand-written script does: clear and re-imshow 4 panels per frame, Animation.save."""
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

    anim = FuncAnimation(fig, update, frames=len(run), interval=100)
    anim.save(out, writer="ffmpeg", fps=10)
    plt.close(fig)


def encode_floor(run: animlib.Run, out: Path) -> float:
    frames = [f.copy() for f in FrameRenderer(run)]
    h, w = frames[0].shape[:2]
    writer = get_writer("mp4")
    t = time.perf_counter()
    with writer.saving(out, (w, h), 10):
        for f in frames:
            writer.grab_frame(f)
    return time.perf_counter() - t


def draw_only(run: animlib.Run) -> float:
    t = time.perf_counter()
    for _ in FrameRenderer(run):
        pass
    return time.perf_counter() - t


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    use_bundled_ffmpeg()
    tmp = Path(tempfile.mkdtemp(prefix="animlib-bench-"))
    try:
        run = make_run(tmp / "runs", args.steps, args.size)
        times: dict[str, list[float]] = {"seed": [], "animlib": [], "draw only": [], "encode": []}
        for _ in range(args.repeat):  # interleaved, so machine load hits all alike
            times["seed"].append(timed(seed_baseline, run, tmp / "seed.mp4"))
            times["animlib"].append(timed(render, run, tmp / "animlib.mp4"))
            times["draw only"].append(draw_only(run))
            times["encode"].append(encode_floor(run, tmp / "floor.mp4"))
        print(f"{args.steps} frames of {args.size}x{args.size}x3, {args.repeat} repeats")
        for name, ts in times.items():
            print(f"  {name:10s} best {min(ts):6.2f} s   median {statistics.median(ts):6.2f} s")
        ratio = min(times["seed"]) / min(times["animlib"])
        print(f"  animlib.render is {ratio:.1f}x faster than the seed baseline (best of each)")
        print(
            f"  animlib.render / encode floor: {min(times['animlib']) / min(times['encode']):.1f}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
