"""Batch logging: BatchWriter vs raw np.save, logging overhead on a real PGD, bytes per image-step.

    python benchmarks/bench_batch.py [--steps 50] [--quick]

Prints one table measured side by side in one run, with the issue's targets (each ratio is the
median of several rounds timing both sides one after the other):
(a) B=16 float images of 224x224x3, 50 steps: BatchWriter total time vs ``np.save`` of the same
    arrays (one file per step) on the same disk (target <= 1.5x), for a sign-gradient PGD on 8-bit
    images (values on the 1/255 grid, the case the storage is tuned for) and, for honesty, for
    float steps off that grid (stored as raw float bits); each timed twice: into the OS page
    cache (as a script's writes return), and until the bytes are on the disk (each side
    followed by ``os.sync()``; np.save's 480 MB then cost what the disk takes to store them,
    where in the page cache they cost 0.15-1 s depending on the kernel's writeback);
(b) the 16-image, 20-step PGD on the small digits CNN (32x32): with BatchWriter logging vs
    without (target <= 2x), logging as animlib's adapters do (the attack's own logits) and, for
    comparison, with one more forward pass per step for the confidences;
(c) stored bytes per image-step of a sign-gradient PGD on 224x224 uint8-origin images vs the PNG
    of that uint8 image (target <= 1x), and that a step reads back exactly.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import data_dir, fmt_ratio, fmt_seconds, machine, print_table, verdict

import animlib  # after _common, which puts the checkout on sys.path

B, SIZE, K = 16, 224, 10
WRITE_ROUNDS = 15  # rounds of (a) counted, after one that is not (np.save alone varies 0.1-1 s)
DURABLE_ROUNDS = 7  # rounds of (a) until the bytes are on the disk


def natural_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 images with smooth shading, shapes and sensor-like noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        img = np.zeros((size, size, 3), np.float32)
        for c in range(3):
            for _ in range(3):
                fx, fy, ph = rng.uniform(0.5, 3, 2).tolist() + [rng.uniform(0, 6.3)]
                img[..., c] += 40 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
        for _ in range(6):
            cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            img[mask] += rng.uniform(-60, 60, 3)
        img += 128 + rng.normal(0, 4, img.shape)
        out[i] = img
    return np.clip(out, 0, 255).astype(np.uint8)


def folder_bytes(path: Path) -> int:
    """Apparent size of every file below ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def probs_for(step: int) -> np.ndarray:
    rng = np.random.default_rng(1000 + step)
    p = rng.random((B, K)) + 0.05
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


# ----------------------------------------------------------------------------------- (a)
def pgd_batches(steps: int, on_grid: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """The clean batch and ``steps`` float32 PGD-like batches (sign steps inside an eps ball).

    ``on_grid``: uint8-origin images, alpha 2/255, eps 8/255 in float32 arithmetic, as a
    sign-gradient PGD on 8-bit images makes them (most values are exactly on the k/255 grid;
    the float rounding puts a few percent just off it). Otherwise alpha 0.002 and eps 0.03, as
    after a float attack with an arbitrary step size (almost no value on the grid).
    """
    x0 = natural_images(B, SIZE).astype(np.float32) / np.float32(255)
    rng = np.random.default_rng(0)
    alpha, eps = (2 / 255, 8 / 255) if on_grid else (0.002, 0.03)
    alpha, eps = np.float32(alpha), np.float32(eps)
    batches, x = [], x0
    for _ in range(steps):  # prepared before timing
        sign = rng.choice(np.array([-1, 1], np.float32), x.shape)
        x = np.clip(np.clip(x + alpha * sign, x0 - eps, x0 + eps), 0, 1).astype(np.float32)
        batches.append(x)
    return x0, batches


def bench_write(
    tmp: Path, steps: int, on_grid: bool, rounds: int = WRITE_ROUNDS, durable: bool = False
) -> tuple[float, float, int, int, tuple[float, float]]:
    """BatchWriter vs np.save for B=16 float 224x224x3 images over ``steps`` steps: the median
    of ``rounds`` rounds, each timing both one after the other (the load of a shared machine
    changes from second to second), after one round not counted (first use in the process:
    page cache, imports, compiled code). The two go first in turn.

    ``durable``: each side's time runs until its bytes are on the disk (``os.sync()`` after
    it, and one before it, not timed, so that neither pays for the other's writes). Without
    it, both write into the OS page cache, and np.save's 480 MB take 0.15 s or 1 s depending
    on whether the kernel is writing dirty pages back at that moment.

    Returns:
        BatchWriter's and np.save's time (median ratio x median np.save, and the median), the
        bytes each stored, and the lowest and highest ratio of a round.
    """
    x0, batches = pgd_batches(steps, on_grid)
    probs = [probs_for(t) for t in range(steps)]
    tag = "grid" if on_grid else "off"
    t_raw, t_batch = [], []
    run_ids: list[str] = []  # the sample runs of the last BatchWriter

    def start() -> float:
        if durable:
            os.sync()
        return time.perf_counter()

    def stop(t: float) -> float:
        if durable:
            os.sync()
        return time.perf_counter() - t

    def raw_save(folder: Path) -> float:
        folder.mkdir()
        t = start()
        for step, (imgs, p) in enumerate(zip(batches, probs, strict=True)):
            np.save(folder / f"images-{step:04d}.npy", imgs)
            np.save(folder / f"confidences-{step:04d}.npy", p)
        return stop(t)

    def batch_writer(folder: Path) -> float:
        t = start()
        with animlib.BatchWriter(folder, experiment="bench", class_names=[str(k) for k in range(K)],
                                 true_labels=np.zeros(B, int), originals=x0) as w:  # fmt: skip
            for imgs, p in zip(batches, probs, strict=True):
                w.log(images=imgs, confidences=p)
        run_ids[:] = w.run_ids
        return stop(t)

    for r in range(rounds + 1):
        raw, runs = tmp / f"npsave-{tag}-{r}", tmp / f"runs-{tag}-{r}"
        if r % 2:
            a, b = batch_writer(runs), raw_save(raw)
        else:
            b, a = raw_save(raw), batch_writer(runs)
        if r:
            t_batch.append(a)
            t_raw.append(b)
        if r < rounds:  # keep the disk and its cache as they were for the next round
            shutil.rmtree(raw)
            shutil.rmtree(runs)
    run = animlib.open_run(runs / run_ids[3])
    assert np.array_equal(run.images[steps - 1], batches[-1][3]), "not read back exactly"
    ratios = np.array(t_batch) / np.array(t_raw)
    t_raw_med = float(np.median(t_raw))
    spread = (float(ratios.min()), float(ratios.max()))
    t_batch_med = float(np.median(ratios)) * t_raw_med
    return t_batch_med, t_raw_med, folder_bytes(runs), folder_bytes(raw), spread


# ----------------------------------------------------------------------------------- (b)
def bench_pgd(tmp: Path, steps: int = 20, repeats: int = 5) -> tuple[dict[str, float], float]:
    """A plain PyTorch PGD on the digits CNN, 16 images: without logging, and with BatchWriter
    logging in two styles. ``own``: as animlib's adapters log (the confidences are the logits
    the attack computes anyway, for the image they were computed on; one extra forward pass for
    the clean batch and one for the returned images). ``extra``: one more forward pass per step
    to get the confidences of each updated image.

    Returns:
        The median time of each logging style and of the plain attack.
    """
    import torch

    from animlib.demo import cnn

    model = cnn.load_or_train(str(data_dir() / "digits_cnn.npz"))
    x, y = cnn.attack_batch(B)
    eps, alpha = 0.1, 0.025

    def pgd(writer=None, style: str = "own") -> torch.Tensor:
        torch.manual_seed(0)
        if writer is not None:
            with torch.no_grad():
                writer.log(images=x, logits=model(x))
        x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            if writer is not None and style == "own":
                writer.log(images=x_adv.detach(), logits=logits.detach())
            loss = torch.nn.functional.cross_entropy(logits, y)
            grad = torch.autograd.grad(loss, x_adv)[0]
            x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
            if writer is not None and style == "extra":
                with torch.no_grad():
                    writer.log(images=x_adv, logits=model(x_adv))
        if writer is not None and style == "own":
            with torch.no_grad():
                writer.log(images=x_adv, logits=model(x_adv))  # exactly the returned images
        return x_adv

    styles = ("own", "extra")
    with cnn.one_thread():
        pgd()  # warm up
        plain, logged = [], {s: [] for s in styles}
        for r in range(repeats):  # interleaved: all see the same load
            t = time.perf_counter()
            pgd()
            plain.append(time.perf_counter() - t)
            for style in styles:
                t = time.perf_counter()
                names = cnn.CLASS_NAMES
                with animlib.BatchWriter(tmp / "pgd", experiment=f"pgd-{style}-{r}",
                                         class_names=names, true_labels=y,
                                         originals=x) as w:  # fmt: skip
                    pgd(w, style)
                logged[style].append(time.perf_counter() - t)
    med = float(np.median(plain))
    ratios = {s: float(np.median(np.array(v) / np.array(plain))) for s, v in logged.items()}
    return {s: r * med for s, r in ratios.items()}, med


# ----------------------------------------------------------------------------------- (c)
def bench_bytes(tmp: Path, n: int = 4, steps: int = 20) -> tuple[float, float, bool]:
    """Bytes per stored image-step of a sign-gradient PGD on uint8-origin 224x224 images."""
    from PIL import Image

    x8 = natural_images(n, SIZE, seed=1)
    x0 = x8.astype(np.float32) / 255
    rng = np.random.default_rng(2)
    w_lin = rng.normal(0, 1, (K, SIZE * SIZE * 3)).astype(np.float32) / 100
    labels = np.arange(n) % K
    eps, alpha = 8 / 255, 1 / 255
    logged = []
    names = [str(k) for k in range(K)]
    with animlib.BatchWriter(tmp / "bytes", experiment="sign-pgd", class_names=names,
                             true_labels=labels, originals=x0) as w:  # fmt: skip
        x = x0
        for _ in range(steps + 1):
            logits = x.reshape(n, -1) @ w_lin.T
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            w.log(images=x, confidences=p)
            logged.append(x)
            grad = ((p - np.eye(K)[labels]) @ w_lin).reshape(x.shape)  # d CE / d x
            x = np.clip(np.clip(x + alpha * np.sign(grad), x0 - eps, x0 + eps), 0, 1)
            x = x.astype(np.float32)
    stored = sum(folder_bytes(tmp / "bytes" / r / "images") for r in w.run_ids)
    per_step = stored / (n * (steps + 1))
    pngs = []
    for img in x8:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        pngs.append(len(buf.getvalue()))
    run = animlib.open_run(tmp / "bytes" / w.run_ids[1])
    exact = all(np.array_equal(run.images[s], logged[s][1]) for s in (0, steps // 2, steps))
    return per_step, float(np.mean(pngs)), exact


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="steps of the write benchmark (a)")
    ap.add_argument("--quick", action="store_true", help="10 steps in (a), for a smoke run")
    args = ap.parse_args()
    steps = 10 if args.quick else args.steps
    tmp = Path(tempfile.mkdtemp(prefix="animlib-bench-batch-", dir=data_dir()))
    cpu = time.process_time()
    try:
        grid = bench_write(tmp, steps, on_grid=True)
        off = bench_write(tmp, steps, on_grid=False)
        disk = bench_write(tmp, steps, on_grid=True, rounds=DURABLE_ROUNDS, durable=True)
        disk_off = bench_write(tmp, steps, on_grid=False, rounds=DURABLE_ROUNDS, durable=True)
        t_logged, t_plain = bench_pgd(tmp)
        per_step, png, exact = bench_bytes(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r_grid, r_off = grid[0] / grid[1], off[0] / off[1]
    r_disk, r_disk_off = disk[0] / disk[1], disk_off[0] / disk_off[1]
    r_pgd, r_extra = t_logged["own"] / t_plain, t_logged["extra"] / t_plain
    r_bytes = per_step / png
    what = f"(a) B={B} {SIZE}x{SIZE}x3 float32, {steps} steps"
    rows = [
        [f"{what}, sign PGD on 8-bit images (on the 1/255 grid): total time, into the page cache",
         fmt_seconds(grid[0]), f"np.save {fmt_seconds(grid[1])}", fmt_ratio(r_grid), "<= 1.5x",
         verdict(r_grid <= 1.5)],
        ["(a) ... the same, until the bytes are on the disk (+ os.sync)",
         fmt_seconds(disk[0]), f"np.save {fmt_seconds(disk[1])}", fmt_ratio(r_disk), "<= 1.5x",
         verdict(r_disk <= 1.5)],
        ["(a) ... bytes on disk", f"{grid[2] / 2**20:.1f} MiB",
         f"np.save {grid[3] / 2**20:.1f} MiB", fmt_ratio(grid[2] / grid[3]), "-", "-"],
        [f"{what}, off the grid (alpha 0.002): total time, into the page cache",
         fmt_seconds(off[0]), f"np.save {fmt_seconds(off[1])}", fmt_ratio(r_off), "(<= 1.5x)",
         verdict(r_off <= 1.5)],
        ["(a) ... the same, until the bytes are on the disk (+ os.sync)",
         fmt_seconds(disk_off[0]), f"np.save {fmt_seconds(disk_off[1])}", fmt_ratio(r_disk_off),
         "(<= 1.5x)", verdict(r_disk_off <= 1.5)],
        ["(a) ... bytes on disk", f"{off[2] / 2**20:.1f} MiB",
         f"np.save {off[3] / 2**20:.1f} MiB", fmt_ratio(off[2] / off[3]), "-", "-"],
        [f"(b) PGD, {B} digits 32x32, 20 steps, small CNN, logged as the adapters do",
         fmt_seconds(t_logged["own"]), f"no logging {fmt_seconds(t_plain)}", fmt_ratio(r_pgd),
         "<= 2x", verdict(r_pgd <= 2)],
        ["(b) ... with one more forward pass per step for the confidences",
         fmt_seconds(t_logged["extra"]), f"no logging {fmt_seconds(t_plain)}",
         fmt_ratio(r_extra), "-", "-"],
        [f"(c) bytes per image-step, sign PGD on {SIZE}x{SIZE} uint8-origin images",
         f"{per_step / 1024:.1f} KiB", f"PNG {png / 1024:.1f} KiB", fmt_ratio(r_bytes), "<= 1x",
         verdict(r_bytes <= 1 and exact)],
    ]  # fmt: skip
    print_table(
        f"Batch logging ({machine()})",
        ["measure", "animlib", "baseline", "ratio", "target", "verdict"],
        rows,
    )
    print(
        f"(a) the ratio in each of the {WRITE_ROUNDS} rounds, lowest-highest: on the grid "
        f"{grid[4][0]:.2f}-{grid[4][1]:.2f}x, off it {off[4][0]:.2f}-{off[4][1]:.2f}x; "
        f"until on the disk, in each of the {DURABLE_ROUNDS} rounds: "
        f"{disk[4][0]:.2f}-{disk[4][1]:.2f}x, "
        f"off the grid {disk_off[4][0]:.2f}-{disk_off[4][1]:.2f}x"
    )
    print(f"(c) a stored step reads back exactly as logged: {exact}")
    print(f"(CPU time of this process: {time.process_time() - cpu:.1f} s; {machine()})")


if __name__ == "__main__":
    main()
