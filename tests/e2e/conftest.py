"""End-to-end fixtures: a `streamlit run` server on a free loopback port, Debian Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A streamlit server on a results folder; stopped when the test session ends."""

    def __init__(
        self,
        runs: Path | str,
        cache: Path,
        env: dict[str, str] | None = None,
        script: Path | None = None,
    ) -> None:
        """Serve ``runs`` (a folder or URL) with the render cache in ``cache`` (the server log
        goes there too); ``env`` adds or overrides environment variables (e.g. a shared cache);
        ``script``: another Streamlit script instead of the dashboard (it gets no arguments)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "ANIMLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT), **(env or {})}
        self.log = open(cache / "server.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(script or ROOT / "dashboard.py"),
                "--server.headless",
                "true",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
                *([] if script else ["--", "--runs", str(runs)]),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("streamlit did not become healthy in 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def chromium_browser():
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Debian chromium is not installed (scripts/test.sh installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(chromium_browser):
    context = chromium_browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    pg = context.new_page()
    yield pg
    context.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until streamlit has finished running the page script (and no exception shows).

    The status widget appears while a script runs; it must be absent twice in a row, some
    time apart, because a rerun can start just after the first check.
    """
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    for _ in range(2):
        page.wait_for_timeout(400)
        page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=timeout)
    page.wait_for_selector(
        "[data-testid='stMain'] [data-testid='stVerticalBlock']", timeout=timeout
    )
    assert page.locator("[data-testid='stException']").count() == 0, page.content()[:2000]
