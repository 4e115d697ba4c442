"""Shared helpers for the benchmarks: run generators, a reusable data folder, timers, tables."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` from a checkout, not installed
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import animlib  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DATA_VERSION = "2"  # bump when the generated runs change (2: the animlib.steps format)


# ------------------------------------------------------------------------------------ data folder


def data_dir() -> Path:
    """Where generated runs are kept between benchmark runs (``$ANIMLIB_BENCH_DATA``)."""
    env = os.environ.get("ANIMLIB_BENCH_DATA")
    path = Path(env) if env else Path(tempfile.gettempdir()) / f"animlib-bench-data-v{DATA_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_dataset(name: str, build: Callable[[Path], Any]) -> tuple[Path, float | None]:
    """``data_dir()/name``, built by ``build(folder)`` unless an earlier run finished it.

    Returns the folder and the build time in seconds (None when it was reused).
    """
    folder = data_dir() / name
    done = data_dir() / f"{name}.complete"
    if done.exists() and folder.is_dir():
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t = time.perf_counter()
    build(folder)
    seconds = time.perf_counter() - t
    done.write_text(f"{seconds:.3f}\n")
    return folder, seconds


def build_time(folder: Path) -> float | None:
    """How long the dataset in ``folder`` took to build (recorded by :func:`cached_dataset`)."""
    try:
        return float((folder.parent / f"{folder.name}.complete").read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------- run generator


def pgd_like_run(
    root: Path,
    name: str,
    steps: int,
    size: int,
    *,
    dtype: str = "float32",
    block: int = 1,
    progress: bool = False,
) -> str:
    """Write a PGD-like run through the public RunWriter; return its id.

    A smooth RGB image, a sign perturbation growing to 8/255 (in ``block`` x ``block`` squares,
    as a Square attack makes them; 1 = per pixel), confidences moving from cat to dog.
    """
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    x0 = np.stack([(np.sin(6 * xx + c) + 1) / 2 * 0.8 + 0.1 * yy for c in range(3)], -1)
    x0 = x0.astype(np.float32)
    cells = -(-size // block)

    def blocks(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(a, block, 0), block, 1)[:size, :size].astype(np.float32)

    sign = blocks(np.sign(rng.standard_normal((cells, cells, 3))))
    scale = blocks(rng.uniform(0.5, 1, (cells, cells, 3)))
    base = x0 if dtype == "float32" else np.round(x0 * 255).astype(np.uint8)
    t0 = time.perf_counter()
    with animlib.RunWriter(
        root,
        name=name,
        attack="PGD",
        model="bench",
        class_names=CLASSES,
        true_label=3,
        params={"eps": 8 / 255, "steps": steps},
        original=base,
    ) as w:
        for i in range(steps):
            t = i / max(steps - 1, 1)
            x = np.clip(x0 + (8 / 255 * t) * sign * np.roll(scale, i * block, axis=1), 0, 1)
            image = x if dtype == "float32" else np.round(x * 255).astype(np.uint8)
            logits = rng.normal(0, 0.2, len(CLASSES))
            logits[3], logits[5] = 4 - 6 * t, 6 * t - 1
            p = np.exp(logits) / np.exp(logits).sum()
            w.log(image=image, confidences=p.astype(np.float32), loss=float(6 * t))
            if progress and (i + 1) % 1000 == 0:
                rate = (time.perf_counter() - t0) / (i + 1)
                print(
                    f"    ... {i + 1}/{steps} steps written ({rate * 1e3:.1f} ms/step)",
                    file=sys.stderr,
                    flush=True,
                )
    return w.run_id


LONG_STEPS, LONG_SIZE = 10_000, 512


def long_run() -> tuple[animlib.Run, float | None]:
    """The 10,000-step 512x512 uint8 run shared by the step-read and memory benchmarks.

    Written once through ``RunWriter`` (about 35 ms a step here, so several minutes) with an
    8x8-block perturbation, which keeps it near 0.4 GB on disk; returns the run and the time
    it took to write (None when it was reused).
    """
    name = f"long-{LONG_SIZE}px-{LONG_STEPS}steps-uint8"

    def build(folder: Path) -> None:
        print(f"  writing {name} through RunWriter (once; reused later) ...", flush=True)
        pgd_like_run(folder, "long", LONG_STEPS, LONG_SIZE, dtype="uint8", block=8, progress=True)

    folder, built = cached_dataset(name, build)
    return animlib.open_run(folder / "long"), built if built is not None else build_time(folder)


# ------------------------------------------------------------------------------------ measuring


def moto_s3(bucket: str) -> Any:
    """The tests' ``helpers.moto_s3``: moto's S3 server on loopback with ``bucket``, the AWS
    environment pointed at it inside the ``with`` block."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from helpers import moto_s3 as start

    return start(bucket)


def drop_from_page_cache(paths: Iterable[str | os.PathLike[str]]) -> int:
    """Ask the kernel to forget the cached pages of ``paths`` (written back first, so dirty pages
    go too; no root needed). Missing files are skipped.

    Returns:
        How many files were dropped.
    """
    count = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            count += 1
        finally:
            os.close(fd)
    return count


def run_json_files(folder: Path) -> list[str]:
    """The run.json path of every entry of the results folder ``folder``."""
    return [os.path.join(entry.path, "run.json") for entry in os.scandir(folder)]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg), user + system."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """Wall-clock seconds of one call."""
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


def child_json(cmd: Sequence[str], env: dict[str, str]) -> dict:
    """Run a benchmark's child process; the JSON object its last output line holds (its error
    output ends the benchmark when it fails)."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def served_chromium(
    folder: Path, cache: Path, script: Path | None = None
) -> Iterator[tuple[Any, Any]]:
    """The e2e tests' Streamlit server on ``folder`` (render cache and index in ``cache``;
    ``script`` instead of the dashboard) and a headless Chromium: ``(server, browser)``."""
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from conftest import CHROMIUM_ARGS, Server
    from playwright.sync_api import sync_playwright

    cache.mkdir(parents=True, exist_ok=True)
    server = Server(folder, cache, script=script)
    try:
        with sync_playwright() as p:
            exe = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            try:
                yield server, browser
            finally:
                browser.close()
    finally:
        server.stop()


def start_dashboard(
    runs: Path, cache: Path, port: int, checkout: Path = ROOT, wait_s: float = 60.0
) -> subprocess.Popen:
    """The dashboard of ``checkout`` (this one by default; an older checkout to compare with)
    on ``runs``, served on 127.0.0.1:``port`` with its render cache and index in ``cache``
    (its log there too), once its health check answers.

    Raises:
        SystemExit: it did not answer within ``wait_s`` seconds.
    """
    import urllib.request

    env = {**os.environ, "ANIMLIB_CACHE": str(cache), "PYTHONPATH": str(checkout)}
    cmd = [sys.executable, "-m", "streamlit", "run", str(checkout / "dashboard.py")]
    cmd += ["--server.headless", "true", "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    cmd += ["--server.fileWatcherType", "none", "--", "--runs", str(runs)]
    log = open(cache / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("streamlit did not start")


def ready_after(page: Any, url: str, ready_js: str, timeout_ms: int = 300_000) -> float:
    """Seconds from navigating ``page`` to ``url`` until ``ready_js`` is true, measured in the
    page (``ready_js`` sets ``window.__ready`` to ``performance.now()`` then)."""
    page.goto(url)
    page.wait_for_function(ready_js, polling="raf", timeout=timeout_ms)
    return page.evaluate("() => window.__ready") / 1e3


def clear_text_caches() -> None:
    """Forget laid-out text and glyphs (animlib's and matplotlib's), as in a fresh process."""
    import importlib

    importlib.import_module("animlib.glyphs").clear_caches()
    importlib.import_module("animlib.figure.textmetrics").clear_caches()
    impl = getattr(matplotlib.text, "_get_text_metrics_with_cache_impl", None)
    if hasattr(impl, "cache_clear"):
        impl.cache_clear()
    # the fonts too: which file a FontProperties picks (each miss scores every installed font)
    # and the FT2Font objects (a font file opened and parsed)
    from matplotlib import font_manager

    for cached in (font_manager.fontManager._findfont_cached, font_manager._get_font):
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


def machine() -> str:
    """One line about where the numbers come from."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs, load {load:.1f}, Python {sys.version.split()[0]}, "
        f"numpy {np.__version__}, matplotlib {matplotlib.__version__}"
    )


# --------------------------------------------------------------------------------------- output


def fmt_seconds(s: float | None) -> str:
    """``0.123 s`` / ``12.3 ms`` / ``—``."""
    if s is None:
        return "—"
    if s < 1:
        return f"{s * 1e3:.1f} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    return f"{s:.2f} s"


def fmt_ratio(x: float | None) -> str:
    """``12.3x`` or ``—``."""
    return "—" if x is None else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A GitHub Markdown table (ready to paste into the README), with a title line."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(f"\n{title}\n")
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    print(flush=True)


def verdict(ok: bool) -> str:
    """``met`` / ``NOT met``."""
    return "met" if ok else "NOT met"
