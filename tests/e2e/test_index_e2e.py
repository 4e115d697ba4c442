"""End-to-end: the runs page in Chromium follows the results folder (a run written appears)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import Server, wait_idle
from helpers import CLASSES, probs_for, write_run
from playwright.sync_api import expect

import animlib

pytestmark = pytest.mark.e2e
APPEARS_WITHIN_S = 5.0  # issue 13: a run added while the page is open appears within 5 s
RELOAD_S = 2  # ANIMLIB_RELOAD_SECONDS of the servers of finished runs' pages (10 by default)


def log_steps(writer: animlib.RunWriter, steps) -> None:
    """Log ``steps`` of a small run (step ``i``: every pixel ``40 i``, ``probs_for(i)``)."""
    for step in steps:
        writer.log(image=np.full((8, 8, 3), 40 * step, "uint8"), confidences=probs_for(step))


def live_run(root) -> animlib.RunWriter:
    """The writer of run ``live`` with its step 0 logged, left open: the run is running."""
    writer = animlib.RunWriter(root, name="live", class_names=CLASSES, true_label=0)
    log_steps(writer, [0])
    return writer


@pytest.fixture
def live_folder(tmp_path):
    root = tmp_path / "runs"
    for i in range(3):
        write_run(root, f"early-{i}", steps=3)
    srv = Server(root, tmp_path)
    yield root, srv
    srv.stop()


def test_run_written_while_the_page_is_open_appears(page, live_folder):
    root, server = live_folder
    page.goto(server.url + "/")
    wait_idle(page)
    page.wait_for_selector("text=early-2", state="attached", timeout=30_000)
    assert page.get_by_text("3 of 3 runs shown").count() == 1
    page.wait_for_timeout(1500)  # the page is idle; nothing happens until the folder changes
    started = time.monotonic()
    write_run(root, "late-arrival", steps=3)
    written = time.monotonic()
    page.wait_for_selector("text=late-arrival", state="attached", timeout=15_000)
    appeared = time.monotonic() - written
    assert appeared < APPEARS_WITHIN_S, f"appeared {appeared:.1f} s after it was written"
    page.wait_for_selector("text=4 of 4 runs shown", state="attached", timeout=5_000)
    assert page.locator("[data-testid='stException']").count() == 0
    print(f"run written in {written - started:.2f} s, on the page {appeared:.2f} s later")


def test_paging_and_search_in_the_browser(page, tmp_path):
    root = tmp_path / "runs"
    for i in range(60):
        write_run(root, f"many-{i:02d}", steps=2, attack="FGSM" if i % 3 else "PGD")
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/")
        wait_idle(page)
        page.wait_for_selector("text=60 of 60 runs shown · rows 1–50", state="attached")
        page.wait_for_selector("text=page 1 of 2", state="attached")
        # 50 rows are taller than the window: the table is cut to fit, and the buttons below
        # it follow it (the boxes around it had kept the 50 rows' height: a ~1,400 px gap)
        table = page.locator(".st-key-runs_table [data-testid='stDataFrame']").bounding_box()
        csv = page.locator("button:visible", has_text="Download 60 runs (CSV)").first.bounding_box()
        assert table and csv and table["height"] < 900
        gap = csv["y"] - (table["y"] + table["height"])
        assert 0 < gap < 80, f"{gap:.0f} px between the table and its buttons"
        page.locator(".st-key-pg_next button").first.click()
        page.wait_for_selector("text=60 of 60 runs shown · rows 51–60", state="attached")
        page.wait_for_selector("text=page 2 of 2", state="attached")
        # the filters sit in a popover whose label counts them; the caption names them
        page.locator(".st-key-p_filters button").first.click()
        page.get_by_label("Attack").first.click()
        page.get_by_role("option", name="PGD").click()
        page.wait_for_selector("text=20 of 60 runs shown · attack PGD", state="attached")
        page.wait_for_selector("text=page 1 of 1", state="attached")  # back to page 1
        page.wait_for_selector(".st-key-p_filters button:has-text('Filters · 1')")
        page.get_by_role("button", name="Clear filters").click()
        page.wait_for_selector("text=60 of 60 runs shown · rows 1–50", state="attached")
        page.keyboard.press("Escape")
        search = page.get_by_test_id("stTextInputField")
        search.fill("many-07")
        search.press("Enter")
        page.wait_for_selector("text=1 of 60 runs shown", state="attached")
        page.wait_for_selector("text=many-07", state="attached")
        wait_idle(page)
    finally:
        server.stop()


def test_viewer_of_a_live_run_follows_its_steps(page, tmp_path):
    """Issue 14: the viewer of a running run picks up new steps by itself (no reload) and
    notices when the run finishes."""
    root = tmp_path / "runs"
    w = live_run(root)
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/viewer?run=live")
        wait_idle(page)
        page.wait_for_selector("text=still being written", state="attached", timeout=30_000)
        page.wait_for_selector(r"text=/\b1 step\b/", state="attached")
        log_steps(w, (1, 2))
        page.wait_for_selector("text=3 steps", state="attached", timeout=APPEARS_WITHIN_S * 1000)
        w.finish()
        page.wait_for_selector("text=finished", state="attached", timeout=APPEARS_WITHIN_S * 1000)
        # (the rerun that wrote "finished" may still be replacing the page's old elements)
        page.wait_for_selector("text=still being written", state="detached", timeout=5_000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        server.stop()


def test_a_slow_drag_of_a_live_runs_slider_is_not_cut_by_its_new_steps(page, tmp_path):
    """A rerun for the live run's new steps (every ~2 s) rebuilt the player under the pressed
    mouse: the drag died at the first one, and the mouse then moved nothing. The rebuild now
    waits for the release."""
    root = tmp_path / "runs"
    w = live_run(root)

    def more(steps) -> None:  # (pixels 7 i: log_steps's 40 i stops at step 6)
        for i in steps:
            w.log(image=np.full((8, 8, 3), 7 * i % 256, "uint8"), confidences=probs_for(i % 12))

    more(range(1, 41))
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/viewer?run=live")
        wait_idle(page)
        slider = page.locator("[data-testid='animlib-slider']")
        expect(slider).to_have_attribute("max", "40", timeout=30_000)
        box = slider.bounding_box()
        y, x0, x1 = box["y"] + box["height"] / 2, box["x"] + 8, box["x"] + box["width"] - 8
        page.mouse.move(x0, y)
        page.mouse.down()
        for i in range(1, 31):  # 6 s, a new step logged every 0.6 s: reruns meanwhile
            page.mouse.move(x0 + (x1 - x0) * 0.6 * i / 30, y)
            page.wait_for_timeout(200)
            if i % 3 == 0:
                more([40 + i // 3])
        held = int(page.locator("[data-testid='animlib-player']").get_attribute("data-step"))
        page.mouse.up()
        assert abs(held - 24) <= 2, f"the drag stopped at step {held}"
        expect(slider).not_to_have_attribute("max", "40", timeout=10_000)  # rebuilt after it
        step = int(page.locator("[data-testid='animlib-player']").get_attribute("data-step"))
        assert step == held, "the new player starts where the drag ended"
        # a right press whose release never comes (a context menu takes it) holds nothing
        steps = slider.get_attribute("max")
        page.mouse.move(x0 + 20, y)
        page.mouse.down(button="right")
        more([60, 61])
        expect(slider).not_to_have_attribute("max", steps, timeout=10_000)
    finally:
        w.finish()
        server.stop()


def test_viewer_of_a_finished_run_shows_it_overwritten(page, tmp_path):
    """A viewer left open on a run kept showing it after a rerun replaced it (if_exists=
    "overwrite"), or after a stale one was resumed: it looked only while a run was running."""
    root, server = viewer_of_a_finished_run(page, tmp_path)
    try:
        with animlib.RunWriter(root, name="again", class_names=CLASSES, if_exists="overwrite") as w:
            log_steps(w, range(5))
        after_a_poll(page, r"text=/finished · 5 steps/")
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        server.stop()


def test_viewer_error_page_follows_the_run_until_it_can_be_shown(page, tmp_path):
    """A viewer left open on a run that a rerun overwrote (its writer setting up, no step
    stored yet) turned into an error page and stayed on it for good: the error page stopped
    before the watcher, so the new run's steps never showed (only a reload brought them)."""
    root, server = viewer_of_a_finished_run(page, tmp_path)
    try:
        with animlib.RunWriter(root, name="again", class_names=CLASSES, if_exists="overwrite") as w:
            after_a_poll(page, "text=no step stored yet")
            log_steps(w, range(5))
        recovered(page, "no step stored yet", r"text=/finished · 5 steps/")
    finally:
        server.stop()


def viewer_of_a_finished_run(page, tmp_path):
    """A results folder with the finished 2-step run "again", its server, and ``page`` on
    its viewer."""
    return page_on(page, tmp_path, {"again": 2}, "/viewer?run=again", r"/finished · 2 steps/")


def page_on(page, tmp_path, runs: dict[str, int], path: str, shown: str):
    """A results folder with finished ``runs`` (name: steps), its server, and ``page`` at
    ``path`` once it shows the text matching ``shown``."""
    root = tmp_path / "runs"
    for name, steps in runs.items():
        write_run(root, name, steps=steps)
    server = Server(root, tmp_path, env={"ANIMLIB_RELOAD_SECONDS": str(RELOAD_S)})
    try:
        page.goto(server.url + path)
        wait_idle(page)
        page.wait_for_selector(f"text={shown}", state="attached", timeout=30_000)
    except BaseException:
        server.stop()
        raise
    return root, server


def recovered(page, error: str, shown: str) -> None:
    """After a poll, ``page`` shows ``shown`` (a selector) again: its error text ``error`` and
    any exception gone."""
    after_a_poll(page, shown)
    assert page.get_by_text(error).count() == 0
    assert page.locator("[data-testid='stException']").count() == 0


def after_a_poll(page, selector: str) -> None:
    """Wait for ``selector`` as long as a settled page's watcher takes to look again (its
    server's ``ANIMLIB_RELOAD_SECONDS``, well under the default 10 s) and the page to rerun."""
    page.wait_for_selector(selector, state="attached", timeout=(RELOAD_S + 5) * 1000)


def test_compare_error_page_shows_a_run_put_back(page, tmp_path):
    """A run removed while its compare page was open left "Need at least two readable runs"
    for good after it was put back (no watcher on the error page)."""
    runs = {"one": 2, "two": 3}
    root, server = page_on(page, tmp_path, runs, "/compare?runs=one,two", r"/3 steps\)/")
    try:
        (root / "two").rename(tmp_path / "two-away")
        after_a_poll(page, "text=Need at least two readable runs")
        (tmp_path / "two-away").rename(root / "two")
        recovered(page, "Need at least two readable runs", r"text=/3 steps\)/")
    finally:
        server.stop()


def test_compare_page_follows_a_running_run(page, tmp_path):
    """The compare page stayed at the step count it opened with (the viewer followed)."""
    root = tmp_path / "runs"
    write_run(root, "done", steps=3)
    w = live_run(root)
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/compare?runs=done,live")
        wait_idle(page)
        page.wait_for_selector("text=still being written", state="attached", timeout=30_000)
        page.wait_for_selector(r"text=/1 step, running/", state="attached")
        log_steps(w, (1, 2, 3))
        page.wait_for_selector(
            r"text=/4 steps, running/", state="attached", timeout=APPEARS_WITHIN_S * 1000
        )
        w.finish()
        page.wait_for_selector(
            "text=still being written", state="detached", timeout=APPEARS_WITHIN_S * 1000
        )
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        server.stop()


def test_experiments_page_follows_a_running_experiment(page, tmp_path):
    """The experiments page of a running BatchWriter experiment shows its new steps by itself
    (no reload): the grid, left at the last step, moves on with it."""

    root = tmp_path / "runs"
    x = np.zeros((2, 6, 6, 3), np.float32)
    w = animlib.BatchWriter(
        root, experiment="live-exp", class_names=["a", "b"], true_labels=[0, 1], originals=x
    )
    conf = np.array([[0.9, 0.1], [0.2, 0.8]])
    w.log(images=x, confidences=conf)
    w.log(images=x + 0.1, confidences=conf)
    w.flush()
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/experiments")
        wait_idle(page)
        cells = page.locator("[data-testid='animlib-grid-cell']")
        cells.nth(1).wait_for(timeout=60_000)
        assert {cells.nth(i).get_attribute("data-step") for i in range(2)} == {"1"}
        page.wait_for_timeout(1500)  # idle; nothing happens until the experiment moves on
        for step in (2, 3, 4):
            w.log(images=x + 0.1 * step, confidences=conf)
        w.flush()
        written = time.monotonic()
        page.wait_for_selector(
            "[data-testid='animlib-grid-cell'][data-step='4']",
            state="attached",
            timeout=APPEARS_WITHIN_S * 1000,
        )
        print(f"step 4 on the page {time.monotonic() - written:.2f} s after it was flushed")
        w.finish()
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        w.finish()
        server.stop()


def test_parameter_columns_and_the_csv_of_every_matching_run(page, tmp_path):
    """The runs page with a parameter column, sorted by it, searched by name=value; the CSV
    download holds every matching run (both pages), in the page's order, with its params."""
    import csv
    import io

    root = tmp_path / "runs"
    for i in range(60):
        params = {"eps": [0.2, 0.05, 0.1][i % 3], "norm": ["linf", "l2"][i % 2], "seed": i}
        write_run(root, f"sweep-{i:02d}", steps=2, params=params)
    write_run(root, "=HYPERLINK(1)", steps=2, params={"norm": "l2"})  # a formula-like name
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/?params=eps")
        wait_idle(page)
        header = page.locator("[data-testid='stDataFrame'] [role='columnheader']")
        page.wait_for_function(
            "() => [...document.querySelectorAll(\"[data-testid='stDataFrame'] "
            "[role='columnheader']\")].some(h => h.textContent.trim() === 'eps')"
        )
        assert header.count() > 0
        search = page.get_by_test_id("stTextInputField")
        search.fill("norm=l2")
        search.press("Enter")
        page.wait_for_selector("text=31 of 61 runs shown", state="attached")
        wait_idle(page)
        with page.expect_download() as info:
            page.get_by_role("button", name="Download 31 runs (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
        assert len(rows) == 31  # every match, not only the page's 50 rows... or its 31
        listed = [i for i in animlib.list_runs(root) if (i.get("params") or {}).get("norm") == "l2"]
        assert [r["id"] for r in rows] == [i.id for i in listed]  # in the page's order
        by_id = {r["id"]: r for r in rows}
        odd = {f"sweep-{i:02d}" for i in range(1, 60, 2)}
        (odd_one,) = set(by_id) - odd
        assert by_id[odd_one]["name"] == "'=HYPERLINK(1)"  # written as text, not as a formula
        assert by_id["sweep-07"]["params.eps"] == "0.05" and by_id["sweep-07"]["params.seed"] == "7"
        assert by_id["sweep-07"]["params.norm"] == "l2" and by_id[odd_one]["params.eps"] == ""
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        server.stop()


def test_the_view_survives_a_reload_and_a_visit_to_another_page(page, tmp_path):
    root = tmp_path / "runs"
    for i in range(6):
        write_run(root, f"r-{i}", steps=2, params={"eps": [0.1, 0.2][i % 2]})
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/")
        wait_idle(page)
        search = page.get_by_test_id("stTextInputField")
        search.fill("eps=0.2")
        search.press("Enter")
        page.wait_for_selector("text=3 of 6 runs shown", state="attached")
        wait_idle(page)
        page.wait_for_function("() => location.search.includes('q=eps%3D0.2')")
        page.reload()  # a reload (or the link sent to a colleague) shows the same runs
        page.wait_for_selector("text=3 of 6 runs shown", state="attached")
        expect(page.get_by_test_id("stTextInputField")).to_have_value("eps=0.2")  # (set late)
        wait_idle(page)
        page.get_by_role("link", name="Experiments").click()  # away through the menu, and back
        page.wait_for_url("**/experiments**")
        wait_idle(page)
        page.get_by_role("link", name="Runs").click()
        page.wait_for_selector("text=3 of 6 runs shown", state="attached")
        expect(page.get_by_test_id("stTextInputField")).to_have_value("eps=0.2")  # (set late)
        page.wait_for_function("() => location.search.includes('q=eps%3D0.2')")
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        server.stop()


def test_a_link_to_other_runs_on_the_compare_page_changes_the_address(page, tmp_path):
    """ "Compare 4 runs on <image>" showed the 4 runs with the 2 old ones in the address bar
    (a copied link shared the wrong comparison) and no history entry (Back left the page)."""
    root = tmp_path / "runs"
    ids = [write_run(root, f"same-{i}", steps=3) for i in range(4)]  # one source image
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + f"/compare?runs={ids[0]},{ids[1]}")
        wait_idle(page)
        link = page.get_by_role("link", name="Compare 4 runs on")
        link.wait_for(timeout=60_000)
        link.click()
        page.wait_for_function(
            "ids => ids.every(id => decodeURIComponent(location.search).includes(id))",
            arg=ids,
            timeout=30_000,
        )
        assert "from_link" not in page.url
        wait_idle(page)
        page.go_back()
        page.wait_for_function(
            f"() => !decodeURIComponent(location.search).includes('{ids[2]}')", timeout=30_000
        )
        assert "/compare" in page.url
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        server.stop()


def test_a_search_typed_while_runs_are_written_stays(page, tmp_path):
    """While runs were written the runs page reran in a loop (its poll looked at once too, at
    the end of each page run, and the folder had changed meanwhile: ~50 page runs a second),
    and a search typed then was wiped from the box."""
    import threading

    root = tmp_path / "runs"
    for i in range(3):
        write_run(root, f"done-{i}", steps=2)
    stop = threading.Event()

    def write() -> None:
        with animlib.BatchWriter(root, experiment="live", class_names=CLASSES,
                                 true_labels=[0] * 16) as w:  # fmt: skip
            while not stop.is_set():
                w.log(images=np.zeros((16, 8, 8, 3), np.uint8), confidences=[probs_for(0)] * 16)
                time.sleep(0.7)  # (flushed in the background, as an attack's steps are)

    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda _: frames.append(1)))
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    server = Server(root, tmp_path)
    try:
        page.goto(server.url + "/")
        wait_idle(page)
        page.wait_for_selector("text=running", state="attached", timeout=30_000)
        page.wait_for_timeout(1000)
        frames.clear()
        page.wait_for_timeout(4000)  # idle, with runs being written: a poll every 2 s
        received = len(frames)
        box = page.get_by_test_id("stTextInputField")
        box.click()
        box.press_sequentially("done-1", delay=120)
        box.press("Enter")
        page.wait_for_selector("text=1 of 19 runs shown", state="attached", timeout=15_000)
        page.wait_for_timeout(3000)  # a few polls later
        assert box.input_value() == "done-1"
        assert page.get_by_text("1 of 19 runs shown").count() == 1
        assert received < 400, f"{received} messages in 4 s: the page reran in a loop"
        print(f"{received} messages from the server in 4 s")
    finally:
        stop.set()
        writer.join()
        server.stop()


def test_long_attack_and_model_names_leave_the_outcome_columns_in_view_at_1280(page, tmp_path):
    """A 60-character attack and a 54-character model, each column sized to its text, left
    only "status" of the outcome columns on a 1280-px screen; now every column to "created"
    is drawn (the table draws the headers of the columns in view only)."""
    root = tmp_path / "runs"
    for i in range(2):
        write_run(root, f"apgd-dlr-targeted-cifar10-eps0.031-{i:04d}", steps=2,
                  attack="AutoProjectedGradientDescentWithDifferenceOfLogitsRatioLoss",
                  model="wide_resnet_28_10_trades_adversarially_trained_cifar10")  # fmt: skip
    server = Server(root, tmp_path)
    try:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(server.url + "/")
        wait_idle(page)
        headers = "[data-testid='stDataFrame'] [role='columnheader']"
        page.wait_for_selector(headers, state="attached")
        shown = [h.text_content().strip() for h in page.locator(headers).all()]
        for column in ("status", "steps", "success", "flip step", "final true conf", "L∞", "L2"):
            assert column in shown, shown
        assert "created (UTC)" in shown, shown
    finally:
        server.stop()
