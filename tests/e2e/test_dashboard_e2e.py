"""End-to-end: the dashboard in real headless Chromium against a `streamlit run` server."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import Server, wait_idle
from helpers import CLASSES, image_for, probs_for

import animlib

pytestmark = pytest.mark.e2e
FPS = 10


def folder_digest(root: Path) -> dict[str, str]:
    """Every file (by content), folder and symlink under ``root``, hidden ones included."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + str(p.readlink())
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@pytest.fixture(scope="module")
def e2e_runs(tmp_path_factory):
    """A results folder: a few runs of the shipped demo, plus two small synthetic runs."""
    root = tmp_path_factory.mktemp("e2e") / "runs"
    shipped = Path(__file__).resolve().parents[2] / "runs"
    root.mkdir()
    for info in animlib.list_runs(shipped)[:4] if shipped.is_dir() else []:
        if info.ok:
            shutil.copytree(shipped / info.id, root / info.id)
    for name, steps in (("short", 7), ("long", 15)):
        with animlib.RunWriter(
            root,
            name=name,
            attack="PGD",
            model="tiny",
            class_names=CLASSES,
            true_label=0,
            original=image_for(0),
        ) as w:
            for i in range(steps):
                w.log(image=image_for(i), confidences=probs_for(i))
    return root


@pytest.fixture(scope="module")
def server(e2e_runs, tmp_path_factory):
    srv = Server(e2e_runs, tmp_path_factory.mktemp("cache"))
    yield srv
    srv.stop()


def test_runs_page_lists_runs(page, server, e2e_runs):
    page.goto(server.url + "/")
    wait_idle(page)
    expected = [i for i in animlib.list_runs(e2e_runs) if i.ok]
    for info in expected:
        page.wait_for_selector(f"text={info.name}", state="attached", timeout=30_000)
    assert page.get_by_text(f"{len(expected)} of {len(expected)} runs shown").count() == 1


def video_state(page, frame_selector: str = "video") -> dict:
    page.wait_for_selector(frame_selector, timeout=120_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.readyState >= 1 }",
        timeout=60_000,
    )
    return page.evaluate(
        "() => { const v = document.querySelector('video');"
        " return {duration: v.duration, w: v.videoWidth, h: v.videoHeight,"
        " count: document.querySelectorAll('video').length} }"
    )


def test_viewer_video_plays_with_right_duration(page, server):
    page.goto(server.url + "/viewer?run=long")
    wait_idle(page, timeout=120_000)
    state = video_state(page)
    assert state["count"] == 1
    assert state["duration"] == pytest.approx(15 / FPS, abs=1.0 / FPS)
    assert state["w"] >= 640 and state["h"] >= 200
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play() }")
    page.wait_for_function(
        "() => document.querySelector('video').currentTime > 0.3", timeout=20_000
    )
    # seekable: jump near the end
    page.evaluate(
        "() => { const v = document.querySelector('video'); v.pause(); v.currentTime = 1.2 }"
    )
    page.wait_for_function(
        "() => Math.abs(document.querySelector('video').currentTime - 1.2) < 0.05",
        timeout=20_000,
    )


def step_confidences(page) -> dict[str, str]:
    page.wait_for_selector("[data-testid='stTable'] tbody tr", timeout=60_000)
    rows = page.locator("[data-testid='stTable'] tbody tr")
    out = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("th, td")
        out[cells.nth(0).inner_text().strip()] = cells.nth(1).inner_text().strip()
    return out


def test_step_slider_shows_stored_confidences(page, server, e2e_runs):
    run = animlib.open_run(e2e_runs / "long")
    page.goto(server.url + "/viewer?run=long")
    wait_idle(page, timeout=120_000)
    first = step_confidences(page)
    assert first.get("cat") == f"{run.confidences[0][0]:.4f}", first
    thumb = page.locator("input[type='range'][aria-label='step']")
    thumb.focus()
    k = 6
    for _ in range(k):
        thumb.press("ArrowRight")
    page.wait_for_timeout(500)
    wait_idle(page)
    got = step_confidences(page)
    for c, name in enumerate(CLASSES):
        assert got[name] == f"{run.confidences[k][c]:.4f}", (name, got)
    assert page.get_by_text(f"step {k} of 14").count() >= 1
    # the next button moves exactly one step
    page.locator(".st-key-next button").first.click()
    page.wait_for_timeout(500)
    wait_idle(page)
    got = step_confidences(page)
    assert got["cat"] == f"{run.confidences[k + 1][0]:.4f}"


def test_compare_page_shows_one_synchronized_video(page, server):
    page.goto(server.url + "/compare?runs=short,long")
    wait_idle(page, timeout=120_000)
    state = video_state(page)
    assert state["count"] == 1
    assert state["duration"] == pytest.approx(15 / FPS, abs=1.0 / FPS)  # longest run sets length
    assert state["h"] > state["w"] * 0.4  # two rows stacked


def test_mp4_download_is_valid(page, server, tmp_path):
    page.goto(server.url + "/viewer?run=long")
    wait_idle(page, timeout=120_000)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="MP4 video").click()
    download = info.value
    assert download.suggested_filename == "long.mp4"
    target = tmp_path / "long.mp4"
    download.save_as(target)
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(target))
    assert frames == 15
    reader = imageio_ffmpeg.read_frames(str(target))
    meta = next(reader)
    assert meta["fps"] == pytest.approx(FPS)
    first = np.frombuffer(next(reader), np.uint8)
    assert first.size == meta["size"][0] * meta["size"][1] * 3 and first.std() > 5
    reader.close()


DOWNLOADS = [  # (button, file name, what the file starts with or must contain)
    ("MP4 video", "short.mp4", b"ftyp"),
    ("GIF", "short.gif", b"GIF8"),
    ("Standalone HTML", "short.html", b"<html"),
    ("Confidences CSV", "short-confidences.csv", b"step,"),
]


def download(page, button: str, target: Path) -> bytes:
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=button).click()
    assert info.value.failure() is None, info.value.failure()
    info.value.save_as(target)
    return target.read_bytes()


def test_dashboard_is_read_only(page, server, e2e_runs, tmp_path):
    """Browse every page and every run, run every check, download every file: the results
    folder stays byte-for-byte the same (no new, changed or removed file or folder)."""
    before = folder_digest(e2e_runs)
    log = Path(server.log.name)
    log_start = log.stat().st_size
    page.goto(server.url + "/")
    wait_idle(page, timeout=120_000)
    page.get_by_role("button", name="Check every chunk").click()
    wait_idle(page, timeout=120_000)
    shipped = [i.id for i in animlib.list_runs(e2e_runs) if i.id not in ("short", "long")]
    for run_id in ["short", "long", *shipped[:1]]:
        page.goto(server.url + f"/viewer?run={run_id}")
        wait_idle(page, timeout=120_000)
    for url in ("/compare?runs=short,long", "/viewer?run=../etc", "/compare?runs=short,%2e%2e"):
        page.goto(server.url + url)
        wait_idle(page, timeout=120_000)

    page.goto(server.url + "/viewer?run=short")
    wait_idle(page, timeout=120_000)
    page.locator(".st-key-next button").first.click()  # the step inspector reruns the page
    wait_idle(page)
    for tab in ("Confidence table", "Parameters", "Confidence curves"):
        page.get_by_role("tab", name=tab).click()
    for button, name, magic in DOWNLOADS:
        data = download(page, button, tmp_path / name)
        assert magic.lower() in data[:4096].lower(), name
    page.goto(server.url + "/compare?runs=short,long")
    wait_idle(page, timeout=120_000)
    data = download(page, "Download comparison MP4", tmp_path / "compare.mp4")
    assert b"ftyp" in data[:16]
    assert folder_digest(e2e_runs) == before
    server.log.flush()
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(log_start)
        assert "Traceback" not in fh.read()  # e.g. a download whose deferred render failed
