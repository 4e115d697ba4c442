"""Stepping latency of the browser player in headless Chromium (issue 12's acceptance).

    python benchmarks/bench_player.py [--presses 20] [--sessions 1]

Writes (once, into ``$ANIMLIB_BENCH_DATA``) a 1,000-step, 1,000-class 224x224 run through
``RunWriter``, starts ``streamlit run dashboard.py`` on a free loopback port, opens the run's
viewer in Debian's Chromium and presses ArrowRight ``--presses`` times, 150 ms apart. The
latency is measured inside the page: ``performance.now()`` in a capturing keydown listener,
and a MutationObserver on ``[data-testid="animlib-step-table"]`` noting when the table shows
the new step (also: the next animation frame after that, i.e. when it can be painted). A
second observer records whether Streamlit's status widget (a script rerun) ever appears.
Acceptance: p95 < 50 ms and no rerun. ``--sessions 6`` steps six pages at once.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cached_dataset, machine, start_dashboard

import animlib

STEPS, CLASSES, SIZE = 1000, 1000, 224
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CHROMIUM_ARGS += ["--disable-component-update", "--disable-sync", "--no-first-run"]

PROBE = """
() => {
  const out = window.__bench = {lat: [], paint: [], frame: [], status: false, expect: null,
                                frameExpect: null, t0: 0};
  const root = document.querySelector('[data-testid="animlib-player"]');
  const table = document.querySelector('[data-testid="animlib-step-table"]');
  const canvas = document.querySelector('canvas[data-testid="animlib-image"]');
  document.addEventListener('keydown', () => {
    out.t0 = performance.now();
    out.expect = out.frameExpect = String(Number(root.dataset.step) + 1);
  }, true);
  new MutationObserver(() => {
    if (out.frameExpect !== null && canvas.dataset.step === out.frameExpect) {
      out.frameExpect = null;
      out.frame.push(performance.now() - out.t0);
    }
  }).observe(canvas, {attributes: true});
  new MutationObserver(() => {
    if (out.expect !== null && table.dataset.step === out.expect) {
      const t = performance.now() - out.t0;
      out.expect = null;
      out.lat.push(t);
      requestAnimationFrame(() => out.paint.push(performance.now() - out.t0 ));
    }
  }).observe(table, {subtree: true, childList: true, characterData: true, attributes: true});
  const seen = () => {
    if (document.querySelector('[data-testid="stStatusWidget"]')) out.status = true;
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true});
  return true;
}
"""


def write_run(folder: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    x0 = np.stack([(np.sin(6 * xx + c) + 1) / 2 * 0.8 + 0.1 * yy for c in range(3)], -1)
    x0 = np.round(x0 * 255).astype(np.uint8)
    delta = np.zeros(x0.shape, np.int16)
    names = [f"class {k:03d}" for k in range(CLASSES)]
    with animlib.RunWriter(
        folder,
        name="player-bench",
        attack="PGD",
        model="bench",
        class_names=names,
        true_label=3,
        original=x0,
    ) as w:
        for i in range(STEPS):
            delta = np.clip(delta + rng.choice([-1, 1], x0.shape), -8, 8)  # +-1/255 per step
            image = np.clip(x0 + delta, 0, 255).astype(np.uint8)
            logits = rng.normal(0, 1, CLASSES).astype(np.float32)
            t = i / (STEPS - 1)
            logits[3], logits[5] = 9 - 12 * t, 12 * t
            p = np.exp(logits - logits.max())
            w.log(image=image, confidences=(p / p.sum()).astype(np.float32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path, cache: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    return start_dashboard(runs, cache, port), f"http://127.0.0.1:{port}"


def open_player(page, url: str, run_id: str) -> float:
    page.goto(url + "/")  # a fresh server serves deep links in pages-folder mode until "/" ran
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
    t = time.perf_counter()
    page.goto(f"{url}/viewer?run={run_id}")
    page.wait_for_selector("[data-testid='animlib-step-table']", timeout=600_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=animlib-image]')?.dataset.step === '0'",
        timeout=120_000,
    )
    seconds = time.perf_counter() - t
    page.wait_for_timeout(1500)
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=120_000)
    page.evaluate(PROBE)
    page.focus("[data-testid='animlib-player']")
    return seconds


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--sessions", type=int, default=1)
    args = ap.parse_args()
    folder, built = cached_dataset(f"player-{STEPS}x{CLASSES}-{SIZE}px", write_run)
    run_id = animlib.list_runs(folder)[0].id
    print(f"run: {STEPS} steps, {CLASSES} classes, {SIZE}x{SIZE} RGB uint8", end="")
    print(f" (written in {built:.0f} s)" if built else " (reused)")
    from playwright.sync_api import sync_playwright

    cache = Path(tempfile.mkdtemp(prefix="animlib-bench-player-"))
    proc, url = start_server(folder, cache)
    try:
        with sync_playwright() as p:
            exe = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            pages = []
            for i in range(args.sessions):
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                seconds = open_player(page, url, run_id)
                word = "first view (frames written)" if i == 0 else "view"
                print(f"session {i + 1}: {word} in {seconds:.1f} s")
                pages.append(page)
            for _ in range(args.presses):
                for page in pages:
                    page.keyboard.press("ArrowRight")
                pages[-1].wait_for_timeout(150)
            pages[-1].wait_for_timeout(600)
            results = [page.evaluate("() => window.__bench") for page in pages]
            player = "[data-testid='animlib-player']"
            steps = [page.get_attribute(player, "data-step") for page in pages]
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(cache, ignore_errors=True)
    lat = [x for r in results for x in r["lat"]]
    paint = [x for r in results for x in r["paint"]]
    status = any(r["status"] for r in results)
    print(f"\n{machine()}; {args.sessions} session(s) x {args.presses} ArrowRight presses")
    print("| measure | n | p50 | p95 | max |\n|---|---|---|---|---|")
    frame = [x for r in results for x in r["frame"]]
    rows = [("key -> table shows the step", lat), ("key -> image canvas drew the step", frame)]
    rows.append(("key -> next animation frame", paint))
    for name, v in rows:
        print(
            f"| {name} | {len(v)} | {percentile(v, 50):.1f} ms | {percentile(v, 95):.1f} ms "
            f"| {max(v):.1f} ms |"
        )
    print(f"final data-step: {', '.join(steps)}; status widget (rerun) seen: {status}")
    ok = len(lat) == args.presses * args.sessions and percentile(lat, 95) < 50 and not status
    print(f"acceptance (p95 < 50 ms, every press seen, no rerun): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
