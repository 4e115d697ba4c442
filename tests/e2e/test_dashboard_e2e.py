"""End-to-end: the dashboard in real headless Chromium against a `streamlit run` server."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import Server, wait_idle
from helpers import CLASSES, image_for, probs_for
from playerpage import PLAYER, open_player, reruns_seen, status_probe, table

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


PAGER_BOXES = """() => ['pg_first', 'pg_prev', 'pg_next', 'pg_last'].map((k) => {
    const r = [...document.querySelectorAll('.st-key-' + k + ' button')]  // (+ a hidden one)
        .map((b) => b.getBoundingClientRect()).find((b) => b.width > 0);
    return [Math.round(r.left), Math.round(r.right), Math.round(r.top)]; })"""


@pytest.mark.parametrize("width", [390, 800, 1280])
def test_the_pager_stays_one_row_inside_the_window(page, server, width):
    """In a phone's window the last-page button fell under the others (the pager wrapped
    beside the View button), then ran off the window's edge."""
    page.set_viewport_size({"width": width, "height": 844})
    try:
        page.goto(server.url + "/")
        wait_idle(page)
        page.wait_for_selector(".st-key-pg_last button:visible", timeout=60_000)
        page.wait_for_timeout(500)
        boxes = page.evaluate(PAGER_BOXES)
        assert len({top for _, _, top in boxes}) == 1, boxes
        assert all(left >= 0 and right <= width for left, right, _ in boxes), boxes
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_back_shows_the_runs_page_as_it_was(page, server, e2e_runs):
    """Each search is a history entry, but Back to the earlier link was rewritten at once to
    the search box's view: Back changed nothing, then left the app."""
    total = len([i for i in animlib.list_runs(e2e_runs) if i.ok])
    page.goto(server.url + "/")
    wait_idle(page)
    page.get_by_text(f"{total} of {total} runs shown").wait_for(timeout=30_000)
    box = page.get_by_role("textbox", name="Search")
    box.fill("long")
    box.press("Enter")
    page.wait_for_url("**/?q=long", timeout=30_000)
    page.get_by_text(f"1 of {total} runs shown").wait_for(timeout=30_000)
    page.go_back()
    page.get_by_text(f"{total} of {total} runs shown").wait_for(timeout=30_000)
    wait_idle(page)
    assert "q=" not in page.url and box.input_value() == ""
    page.go_forward()
    page.get_by_text(f"1 of {total} runs shown").wait_for(timeout=30_000)
    assert box.input_value() == "long"


def test_a_filter_undone_by_back_stays_undone(page, server, e2e_runs):
    """After Back undid a filter chosen in the (closed) Filters popover, the browser still
    held the choice and sent it back at the next page run: typing a search (or a poll while
    runs were written) brought the filter back."""
    total = len([i for i in animlib.list_runs(e2e_runs) if i.ok])
    page.goto(server.url + "/")
    wait_idle(page)
    page.get_by_text(f"{total} of {total} runs shown").wait_for(timeout=30_000)
    page.locator(".st-key-p_filters button").first.click()
    page.get_by_label("Attack").first.click()
    page.get_by_role("option", name="PGD", exact=True).click()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_url("**/?attack=PGD", timeout=30_000)
    wait_idle(page)
    page.go_back()
    page.get_by_text(f"{total} of {total} runs shown").wait_for(timeout=30_000)
    wait_idle(page)
    box = page.get_by_role("textbox", name="Search")
    box.fill("o")  # any page run after the Back
    box.press("Enter")
    page.wait_for_url("**/?q=o", timeout=30_000)
    wait_idle(page)
    assert "attack" not in page.url
    assert page.locator(".st-key-p_filters button:has-text('Filters · 1')").count() == 0


def test_a_popover_opened_late_shows_the_view_in_force(page, server, e2e_runs):
    """Widgets in a popover never opened were drawn, at its first opening, from their
    defaults: Rows per page read 25 while the page showed 50 (and the next change applied
    25); a link's sort read "newest first"."""
    page.goto(server.url + "/?sort=name")
    wait_idle(page)
    box = page.get_by_role("textbox", name="Search")
    box.fill("o")
    box.press("Enter")
    page.wait_for_url("**q=o**", timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="View").click()
    rows = page.locator("[data-testid='stPopoverBody'] [data-testid='stSelectbox']").first
    rows.wait_for(timeout=30_000)
    assert rows.locator("input").input_value() == "50"
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Sort: name").click()
    sort = page.locator("[data-testid='stPopoverBody'] [data-testid='stSelectbox']").first
    sort.wait_for(timeout=30_000)
    assert sort.locator("input").input_value() == "name"


def test_viewer_has_one_player_that_plays(page, server):
    """One player replaces the video and the still below it; it plays in the browser."""
    open_player(page, server.url + "/viewer?run=long")
    assert page.locator("video").count() == 0
    assert page.locator(PLAYER).count() == 1
    status_probe(page)
    page.locator("[data-action='play']").click()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=animlib-player]').dataset.step) > 3",
        timeout=20_000,
    )
    assert reruns_seen(page) == 0


def test_each_tab_is_titled_by_what_it_shows(page, server):
    """Every tab and history entry read "animlib": with several open, none could be told apart."""
    for path, title in (
        ("/", "Runs · animlib"),
        ("/experiments", "Experiments · animlib"),
        ("/viewer?run=long", "long · animlib"),
        ("/compare?runs=long,short", "Compare long vs short · animlib"),
    ):
        page.goto(server.url + path)
        wait_idle(page)
        page.wait_for_function("t => document.title === t", arg=title, timeout=20_000)


def test_step_slider_shows_stored_confidences(page, server, e2e_runs):
    run = animlib.open_run(e2e_runs / "long")
    open_player(page, server.url + "/viewer?run=long")
    first = {row[0]: row[1] for row in table(page)[1]}
    assert first.get("cat") == f"{run.confidences[0][0]:.4f}", first
    thumb = page.locator("input[type='range'][aria-label='step']")
    thumb.focus()
    k = 6
    for _ in range(k):
        thumb.press("ArrowRight")
    step, rows = table(page)
    got = {row[0]: row[1] for row in rows}
    assert step == k
    for c, name in enumerate(CLASSES):
        assert got[name] == f"{run.confidences[k][c]:.4f}", (name, got)
    assert page.get_by_text(f"step {k} / 14").count() >= 1
    # the next button moves exactly one step
    page.locator("[data-action='next']").click()
    assert table(page)[1][0][1] == f"{run.confidences[k + 1].max():.4f}"
    assert {row[0]: row[1] for row in table(page)[1]}["cat"] == f"{run.confidences[k + 1][0]:.4f}"


def test_compare_page_moves_both_runs_and_downloads_one_video(page, server, tmp_path):
    open_player(page, server.url + "/compare?runs=short,long")
    assert page.locator(PLAYER).count() == 1
    page.focus(PLAYER)
    page.keyboard.press("End")
    assert table(page, "short")[0] == 6 and table(page, "long")[0] == 14
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="Download comparison MP4").click()
    target = tmp_path / "compare.mp4"
    info.value.save_as(target)
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(target))
    assert frames == 15  # the longest run sets the length
    reader = imageio_ffmpeg.read_frames(str(target))
    w, h = next(reader)["size"]
    reader.close()
    assert h > w * 0.4  # two rows stacked


def test_compare_picker_adds_a_run_and_back_takes_it_out(page, server):
    page.goto(server.url + "/compare?runs=short")
    wait_idle(page)
    page.get_by_text("The link names one run only").wait_for(timeout=30_000)
    box = page.get_by_role("combobox", name="Runs compared")
    box.click()
    offered = page.locator('[role="option"]')
    offered.first.wait_for(timeout=30_000)
    assert offered.all_inner_texts() == ["long"]  # the other run on its image, nothing else
    offered.first.click()
    page.wait_for_url("**/compare?runs=short%2Clong", timeout=30_000)
    page.keyboard.press("Escape")
    page.wait_for_selector(PLAYER, timeout=120_000)
    wait_idle(page)
    page.focus(PLAYER)
    page.keyboard.press("End")
    assert table(page, "short")[0] == 6 and table(page, "long")[0] == 14
    page.go_back()
    page.get_by_text("The link names one run only").wait_for(timeout=30_000)
    wait_idle(page)
    assert page.url.endswith("/compare?runs=short") and page.locator(PLAYER).count() == 0
    chosen = page.locator('[data-testid="stMultiSelect"] span[title]').all_inner_texts()
    assert chosen == ["short"]
    # the other way: a run taken out leaves one (the page stops early), and Back brings it
    # back (the picker's old choice was written into the address again: Back bounced)
    page.goto(server.url + "/compare?runs=short,long")
    page.wait_for_selector(PLAYER, timeout=120_000)
    wait_idle(page)
    page.get_by_role("button", name="Remove long").click()
    page.wait_for_url("**/compare?runs=short", timeout=30_000)
    page.get_by_text("The link names one run only").wait_for(timeout=30_000)
    wait_idle(page)
    page.go_back()
    page.wait_for_selector(PLAYER, timeout=120_000)
    wait_idle(page)
    assert page.url.endswith("/compare?runs=short,long"), page.url


def test_a_run_taken_out_of_a_comparison_keeps_the_step_looked_at(page, server, e2e_runs):
    """Adding or removing a run sent the shared player back to step 0 (the picker's link had
    no step, and the new player read none); Back still goes to the step its link names."""
    third = next(p.name for p in sorted(e2e_runs.iterdir()) if p.name not in ("short", "long"))
    page.goto(f"{server.url}/compare?runs=short,long,{third}")
    page.wait_for_selector(PLAYER, timeout=120_000)
    wait_idle(page)
    page.focus(PLAYER)
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert page.locator(PLAYER).get_attribute("data-step") == "5"
    page.get_by_role("button", name=f"Remove {third}").click()
    page.wait_for_url("**/compare?runs=short%2Clong*", timeout=30_000)
    wait_idle(page)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=animlib-player] canvas').length > 0"
    )
    assert page.locator(PLAYER).get_attribute("data-step") == "5"
    page.wait_for_url("**step=5*", timeout=10_000)  # (the link says so again)


def test_a_sample_link_is_one_history_entry_and_back_keeps_the_options(page, tmp_path):
    """Each "Sample N" link added two history entries (the link's marker taken out, then the
    options written back): the first Back stayed on the same sample with the render options
    reset to their defaults, every other Back did only that."""
    root = tmp_path / "runs"
    x = np.zeros((3, 6, 6, 3), np.float32)
    with animlib.BatchWriter(
        root, experiment="samples", class_names=CLASSES, true_labels=[0, 0, 0], originals=x
    ) as w:
        for step in range(3):
            w.log(images=x + 0.1 * step, confidences=[probs_for(step)] * 3)
    server = Server(root, tmp_path)
    top_k = page.get_by_label("top-k classes")

    def shows(n: int) -> None:
        page.wait_for_url(f"**/viewer?run=samples-000{n}*", timeout=30_000)
        wait_idle(page)
        query = parse_qs(urlparse(page.url).query)
        assert (query["run"], query.get("top_k")) == ([f"samples-000{n}"], ["3"]), page.url
        page.get_by_text(f"id samples-000{n}").wait_for(state="attached", timeout=30_000)
        assert top_k.input_value() == "3"

    try:
        page.goto(server.url + "/viewer?run=samples-0000&top_k=3")
        wait_idle(page)
        shows(0)
        before = page.evaluate("history.length")
        for n in (1, 2):
            page.get_by_role("link", name=f"Sample {n}").click()
            shows(n)
        assert page.evaluate("history.length") == before + 2
        for n in (1, 0):
            page.go_back()
            shows(n)
    finally:
        server.stop()


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

    open_player(page, server.url + "/viewer?run=short")
    page.focus(PLAYER)
    for key in ("ArrowRight", "End", "Home", "Space"):  # the player steps in the browser
        page.keyboard.press(key)
    wait_idle(page)
    for tab in ("Confidence table", "Parameters", "Scalars"):
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
