"""The viewer's first open of a long run: its frame strips, before and after, side by side.

    python benchmarks/bench_player_open.py [--run FOLDER] [--before CHECKOUT] [--port 8745]

(1) In this process: every strip of the run (``strip_files`` into a fresh folder), written with
Pillow's PNG encoder (the strips' encoder before 2026-12-06, kept here as the baseline) and with
``pixels.png``, each way serially (CPU time) and with the player's 2 workers; the decoded pixels
of every strip must be equal both ways. ``--profile`` adds a cProfile of one serial pass.
(2) In headless Chromium: a fresh ``streamlit run dashboard.py`` on the run's folder (an empty
cache), ``/`` then ``/viewer?run=...``: seconds until ``[data-testid="animlib-player"]`` is in
the page, then until Streamlit's status widget is gone (page idle); then the same in a second
page (strips cached). ``--before CHECKOUT`` serves another checkout too (e.g. ``git worktree
add /tmp/before <commit>``), so both columns come from one run.

``--run``: a run folder (default: the 10,000-step 512x512 run of ``bench_step_read.py``,
written once). Its folder is linked (hard links) into a temporary results folder of its own.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    ROOT,
    fmt_ratio,
    fmt_seconds,
    long_run,
    machine,
    print_table,
    start_dashboard,
)

import animlib
from animlib import kernels
from animlib.player import pixels, strips

PLAYER = '[data-testid="animlib-player"]'


def pillow_png(data: np.ndarray, *, indexed: bool = False) -> bytes:
    """The strips' PNG encoder before: Pillow, zlib level 1, the SHA-256 of the pixels."""
    import hashlib

    from PIL import Image, PngImagePlugin

    data = np.ascontiguousarray(data, dtype=np.uint8)
    img = Image.fromarray(data)
    if indexed:
        img.putpalette(pixels.palette())
    info = PngImagePlugin.PngInfo()
    digest = hashlib.sha256(data.tobytes())
    digest.update(repr((data.shape, indexed)).encode())
    info.add_text("animlib-sha256", digest.hexdigest())
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1, pnginfo=info)
    return out.getvalue()


def build(run: animlib.Run, encoder, workers: int, profile: bool = False) -> dict:
    """Every strip of ``run`` into a fresh folder with ``encoder``: times, bytes, the files."""
    folder = Path(tempfile.mkdtemp(prefix="animlib-bench-strips-"))
    saved = strips.png
    strips.png = encoder
    prof = cProfile.Profile() if profile else None
    try:
        cpu, t = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        files = strips.strip_files(run, folder, "bench", workers=workers)
        if prof:
            prof.disable()
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    finally:
        strips.png = saved
    size = sum(p.stat().st_size for p in folder.iterdir())
    if prof:
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(12)
        print(text.getvalue())
    return {"wall": wall, "cpu": cpu, "bytes": size, "folder": folder, "files": files}


def same_pixels(a: dict, b: dict) -> bool:
    from PIL import Image

    pairs = list(zip(a["files"].images, b["files"].images, strict=True))
    if a["files"].perturbations is not None:
        pairs += list(zip(a["files"].perturbations, b["files"].perturbations, strict=True))
    for x, y in pairs:
        ix, iy = Image.open(x), Image.open(y)
        if ix.mode != iy.mode or not np.array_equal(np.asarray(ix), np.asarray(iy)):
            return False
        if ix.mode == "P" and ix.getpalette() != iy.getpalette():
            return False
    return True


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_viewer(browser, url: str, run_id: str, pid: int) -> tuple[float, float, float]:
    """Seconds from navigating to the viewer until the player is in the page, until idle, and
    the server's CPU seconds meanwhile (the wall times follow the machine's other load)."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url + "/")  # (a fresh server serves deep links once "/" ran)
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
    t, cpu = time.perf_counter(), cpu_of(pid)
    page.goto(f"{url}/viewer?run={run_id}")
    player = None
    while player is None:
        if any(frame.query_selector(PLAYER) for frame in page.frames):
            player = time.perf_counter() - t
        elif time.perf_counter() - t > 600:
            raise SystemExit("no player after 600 s")
        else:
            page.wait_for_timeout(20)
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=600_000)
    idle, cpu = time.perf_counter() - t, cpu_of(pid) - cpu
    page.context.close()
    return player, idle, cpu


def page_times(checkout: Path, runs: Path, run_id: str, port: int) -> list[tuple[float, ...]]:
    from playwright.sync_api import sync_playwright

    cache = Path(tempfile.mkdtemp(prefix="animlib-bench-open-"))
    proc = start_dashboard(runs, cache, port, checkout)
    try:
        with sync_playwright() as p:
            exe = shutil.which("chromium") or "/usr/bin/chromium"
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            try:
                url = f"http://127.0.0.1:{port}"
                return [open_viewer(browser, url, run_id, proc.pid) for _ in "12"]
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(cache, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a run folder (default: the long benchmark run)")
    ap.add_argument("--before", type=Path, help="a checkout of the code before, also served")
    ap.add_argument("--port", type=int, default=8745)
    ap.add_argument("--profile", action="store_true", help="cProfile one serial pass")
    ap.add_argument("--no-page", action="store_true", help="only the strips, no browser")
    args = ap.parse_args()
    source = args.run.resolve() if args.run else Path(long_run()[0].url)
    results = Path(tempfile.mkdtemp(prefix="animlib-bench-open-runs-"))
    try:
        shutil.copytree(source, results / source.name, copy_function=os.link)
        run = animlib.open_run(results / source.name)
        t = time.time()
        while kernels.display_rgb(start=True) is None and time.time() - t < 120:
            time.sleep(0.1)  # (the page's process has them loaded, too, by the time it builds)
        plan = strips.plan_for(len(run), run.image_shape)
        kind = f"{run.image_shape} {run.meta.get('image_dtype')}"
        print(f"{machine()}\nrun {run.name}: {len(run)} steps {kind}")
        print(f"{plan.count} strips of {plan.per_strip} stored steps (stride {plan.stride})")
        ways = {}
        for name, encoder in (("Pillow (before)", pillow_png), ("pixels.png (now)", pixels.png)):
            serial = build(run, encoder, 1, profile=args.profile)
            pooled = build(run, encoder, 2)
            ways[name] = (serial, pooled)
        (bs, bp), (ns, np_) = ways.values()
        same = same_pixels(bs, ns) and same_pixels(bp, np_)
        rows = [
            [name, fmt_seconds(s["cpu"]), fmt_seconds(s["wall"]), fmt_seconds(p["wall"]),
             f"{s['bytes'] / 2**20:.1f} MiB"]
            for name, (s, p) in ways.items()
        ]  # fmt: skip
        rows.append(["before / now", fmt_ratio(bs["cpu"] / ns["cpu"]),
                     fmt_ratio(bs["wall"] / ns["wall"]), fmt_ratio(bp["wall"] / np_["wall"]),
                     fmt_ratio(bs["bytes"] / ns["bytes"])])  # fmt: skip
        headers = ["strips written with", "CPU, 1 worker", "wall, 1 worker", "wall, 2 workers"]
        print_table("All strips of the run (strip_files)", [*headers, "bytes"], rows)
        print(f"decoded pixels of every strip equal both ways: {same}")
        for serial, pooled in ways.values():
            shutil.rmtree(serial["folder"]), shutil.rmtree(pooled["folder"])
        if args.no_page:
            return 0 if same else 1
        served = {"now": ROOT}
        if args.before:
            served = {"before": args.before.resolve(), **served}
        times = {k: page_times(v, results, run.id, args.port) for k, v in served.items()}
        rows = []
        for i, what in enumerate(("first open (strips written)", "second open (cached)")):
            for j, label in enumerate(("player in the page", "page idle", "server CPU")):
                row = [f"{what}: {label}"] + [fmt_seconds(t[i][j]) for t in times.values()]
                if "before" in times:
                    row.append(fmt_ratio(times["before"][i][j] / times["now"][i][j]))
                rows.append(row)
        heads = ["viewer?run=...", *times] + (["before / now"] if "before" in times else [])
        print_table("The viewer in Chromium (fresh server, empty cache)", heads, rows)
        return 0 if same else 1
    finally:
        shutil.rmtree(results, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
