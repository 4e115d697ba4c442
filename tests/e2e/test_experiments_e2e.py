"""End-to-end: the experiments page in Chromium: summary, grid cells, a cell opens its viewer."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import Server, wait_idle
from playwright.sync_api import expect

import animlib

pytestmark = pytest.mark.e2e
DEMO = Path(__file__).resolve().parents[2] / "runs"
EXPERIMENTS = ("sweep-fgsm-eps0.10", "sweep-pgd-linf-eps0.10")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard on a copy of two demo experiments (16 runs each)."""
    root = tmp_path_factory.mktemp("exp") / "runs"
    root.mkdir()
    for info in animlib.list_runs(DEMO):
        if info.ok and info.get("experiment") in EXPERIMENTS:
            shutil.copytree(DEMO / info.id, root / info.id)
    srv = Server(root, tmp_path_factory.mktemp("exp-cache"))
    yield srv, root
    srv.stop()


def test_grid_cells_and_a_cell_opens_its_viewer_at_the_grid_step(server, page):
    srv, _ = server
    hosts = set()
    page.on(
        "request",
        lambda r: (
            urlparse(r.url).scheme in ("http", "https", "ws", "wss")
            and hosts.add(urlparse(r.url).netloc)
        ),
    )
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}&step=1")
    wait_idle(page)
    # the first page of a fresh server is a deep link: it still runs through dashboard.py's
    # navigation (a pages/ folder would make Streamlit serve it as a bare script first)
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    assert page.get_by_role("link", name="Experiments").count() >= 1
    cells = page.locator("[data-testid='animlib-grid-cell']")
    cells.nth(31).wait_for(timeout=60_000)  # the grid is drawn after the table and the chart
    assert cells.count() == 32
    cell = cells.nth(3)
    run_id, step = cell.get_attribute("data-run"), cell.get_attribute("data-step")
    assert step == "1" and run_id.startswith(EXPERIMENTS)
    cell.click()
    page.wait_for_url("**/viewer?**", timeout=60_000)
    wait_idle(page)
    query = parse_qs(urlparse(page.url).query)
    assert query["run"] == [run_id] and query["step"] == ["1"]
    player = page.locator("[data-testid='animlib-player']")
    player.wait_for(timeout=60_000)
    assert player.get_attribute("data-step") == "1"
    assert run_id in page.content()
    assert hosts <= {urlparse(srv.url).netloc}, hosts


SCROLLS = """() => [document.querySelector("[data-testid='stMain']").scrollTop,
    document.querySelector(".animlib-grid-wrap").scrollTop]"""
CALM = """() => {  // no script run for 2 s (a fresh server's page runs again as its index fills)
  if (document.querySelector("[data-testid='stApp']").dataset.testScriptState !== "notRunning") {
    window.animlibTestCalm = performance.now();
  }
  return performance.now() - window.animlibTestCalm > 2000;
}"""


def settle(page) -> None:
    """Wait until the page has run no script for 2 s (a rerun replaces the grid's box)."""
    page.evaluate("window.animlibTestCalm = performance.now()")
    page.wait_for_function(CALM, polling=100, timeout=60_000)


def test_a_cell_opens_its_viewer_in_the_app_and_back_scrolls_the_grid_where_it_was(server, page):
    """A cell's link loaded the viewer anew (1-2 s, a new session), and Back loaded the
    experiments page anew at its top: a user working down a long grid scrolled back each time.
    A left click now opens the viewer in the running app; Back returns to the grid as scrolled.
    A click with Ctrl still opens the cell's address in a new tab."""
    srv, _ = server
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}&step=1")
    wait_idle(page)
    cells = page.locator("[data-testid='animlib-grid-cell']")
    cells.nth(31).wait_for(timeout=60_000)
    with page.context.expect_page() as opened:
        cells.nth(20).click(modifiers=["Control"])
    assert "/viewer?run=" in opened.value.url  # (its own tab: the href as before)
    opened.value.close()
    assert "/experiments" in page.url
    settle(page)
    page.evaluate("window.animlibTestMark = 1")  # gone if the browser loads a page
    cells.nth(21).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    before = page.evaluate(SCROLLS)
    assert before[0] > 100 and before[1] > 100, before  # (the page and the grid scrolled)
    run_id = cells.nth(21).get_attribute("data-run")
    cells.nth(21).evaluate("a => a.click()")  # (a left click that scrolls nothing first)
    page.wait_for_url("**/viewer?**", timeout=60_000)
    wait_idle(page)
    page.locator("[data-testid='animlib-player']").wait_for(timeout=60_000)
    assert parse_qs(urlparse(page.url).query)["run"] == [run_id]
    assert page.evaluate("window.animlibTestMark") == 1  # no page load
    for _ in range(2):  # (Back, Forward to the run, Back again: the grid as scrolled each time)
        page.go_back()
        page.wait_for_url("**/experiments?**", timeout=30_000)
        cells.nth(31).wait_for(timeout=60_000)
        restored = f"() => ({SCROLLS})().join() === {before!r}.join()"
        page.wait_for_function(restored, timeout=15_000)
        settle(page)
        page.go_forward()
        page.wait_for_url("**/viewer?**", timeout=30_000)
        page.locator("[data-testid='animlib-player']").wait_for(timeout=60_000)
    assert page.evaluate("window.animlibTestMark") == 1


def test_a_compared_runs_title_opens_its_viewer_in_the_app(server, page):
    srv, _ = server
    ids = [f"{e}-0003" for e in EXPERIMENTS]
    page.goto(f"{srv.url}/compare?runs={','.join(ids)}&step=1")
    wait_idle(page)
    title = page.locator(".animlib-col-title a").nth(1)
    title.wait_for(timeout=60_000)
    page.evaluate("window.animlibTestMark = 1")
    title.click()
    page.wait_for_url("**/viewer?**", timeout=60_000)
    wait_idle(page)
    page.locator("[data-testid='animlib-player']").wait_for(timeout=60_000)
    assert parse_qs(urlparse(page.url).query) == {"run": [ids[1]], "step": ["1"]}
    assert page.evaluate("window.animlibTestMark") == 1


def test_back_leaves_the_experiments_page_in_one_press(server, page):
    """The page wrote ids, step and order into its link one by one, each a history entry:
    Back needed four presses to leave it. A change of the grid is one entry."""
    srv, _ = server
    page.goto(f"{srv.url}/?q=fgsm")
    wait_idle(page)
    page.get_by_role("link", name="Experiments").first.click()
    page.wait_for_url("**/experiments**", timeout=60_000)
    wait_idle(page)
    page.locator("[data-testid='animlib-grid-cell']").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert "ids=" not in page.url and "step=" not in page.url  # a bare link's grid
    page.go_back()
    page.wait_for_url("**/?q=fgsm", timeout=30_000)
    wait_idle(page)
    assert urlparse(page.url).path == "/" and page.locator("[data-testid='stDataFrame']").count()


def test_an_images_compare_link_opens_its_runs_at_the_grid_step(server, page):
    srv, _ = server
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}&step=1")
    wait_idle(page)
    link = page.locator("[data-testid='animlib-grid-row']").nth(2)
    link.wait_for(timeout=60_000)
    link.click()
    page.wait_for_url("**/compare?**", timeout=60_000)
    wait_idle(page)
    query = parse_qs(urlparse(page.url).query)
    assert query["runs"] == [",".join(f"{e}-0002" for e in EXPERIMENTS)]
    player = page.locator("[data-testid='animlib-player']")
    player.wait_for(timeout=60_000)
    assert player.get_attribute("data-step") == "1"


def test_the_grid_outcomes_download_as_csv(server, page):
    import csv
    import io

    srv, root = server
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}&step=1")
    wait_idle(page)
    button = page.get_by_role("button", name="Outcomes of every image (CSV)")
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as download:
        button.click()
    more = f"-and-{len(EXPERIMENTS) - 1}-more" if len(EXPERIMENTS) > 1 else ""
    assert download.value.suggested_filename == f"outcomes-{EXPERIMENTS[0]}{more}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == 32 and {r["experiment"] for r in rows} == set(EXPERIMENTS)
    for r in rows[:4]:  # as each run's own summary says
        summary = animlib.open_run_in(root, r["run"]).meta["summary"]
        assert r["success"] == str(summary["success"])
        assert r["flip_step"] == ("" if summary["flip_step"] is None else str(summary["flip_step"]))


def test_clicking_a_series_in_the_chart_legend_fades_the_others(server, page):
    srv, _ = server
    page.set_viewport_size({"width": 1280, "height": 1600})  # the legend in view
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}")
    wait_idle(page)
    page.locator("[data-testid='animlib-grid-cell']").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)  # the page has run to its end (the chart is drawn for good)
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    entry = chart.locator("g.role-legend-label text", has_text="FGSM").first
    marks = "[data-testid=stVegaLiteChart] g.mark-symbol.role-mark path"  # the plot's points
    js = f"""() => [...document.querySelectorAll({marks!r})]
        .map(p => p.getAttribute('stroke-opacity') ?? p.getAttribute('opacity') ?? '1')"""
    assert set(page.evaluate(js)) == {"1"}
    entry.click()
    page.wait_for_function(f"() => ({js})().includes('0.12')", timeout=10_000)
    shown = page.evaluate(js)
    assert set(shown) == {"0.12", "1"} and shown.count("1") == shown.count("0.12")


def test_ticking_a_row_of_the_table_puts_that_experiment_in_the_grid(server, page):
    srv, _ = server
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}")
    wait_idle(page)
    cells = page.locator("[data-testid='animlib-grid-cell']")
    cells.nth(31).wait_for(timeout=60_000)  # both experiments, 16 images each
    page.wait_for_timeout(1000)
    box = page.locator("[data-testid='stDataFrame']").first.bounding_box()
    row_px = 35  # st.dataframe's header and row height
    page.mouse.click(box["x"] + 15, box["y"] + row_px + row_px // 2)  # the first row's tick box
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=animlib-grid-cell]').length === 16",
        timeout=30_000,
    )
    shown = {cells.nth(i).get_attribute("data-experiment") for i in range(cells.count())}
    assert len(shown) == 1 and shown <= set(EXPERIMENTS)


def test_back_from_another_page_the_ticks_and_the_grid_agree(server, page):
    """The grid's widget is dropped on another page (the grid starts again), but the ticks were
    kept: back through the menu, a row was ticked that was not in the grid."""
    srv, _ = server
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.goto(f"{srv.url}/experiments")
    wait_idle(page)
    grid = page.locator("[data-testid='stMultiSelect']").filter(has_text="Experiments in the grid")
    chips = grid.locator("[data-tag]")
    expect(chips).to_have_count(2, timeout=60_000)
    box = page.locator("[data-testid='stDataFrame']").first.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # the first row's tick box
    expect(chips).to_have_count(1, timeout=30_000)
    page.get_by_role("link", name="Runs").first.click()
    wait_idle(page)
    page.get_by_role("link", name="Experiments").first.click()
    wait_idle(page)
    expect(chips).not_to_have_count(0, timeout=30_000)
    page.wait_for_timeout(1000)
    ticked = page.locator("[data-testid='stDataFrame'] [role='row'][aria-selected='true']")
    assert ticked.count() in (0, chips.count()), (ticked.count(), chips.count())


def test_the_image_labels_stay_in_view_when_the_grid_scrolls_sideways(server, page):
    srv, _ = server
    page.set_viewport_size({"width": 320, "height": 900})  # too narrow for the grid
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}")
    wait_idle(page)
    page.locator("[data-testid='animlib-grid-cell']").nth(31).wait_for(timeout=60_000)
    wrap = page.locator(".animlib-grid-wrap")
    label = page.locator(".animlib-grid th.row").first
    label.scroll_into_view_if_needed()
    assert wrap.evaluate("(w) => w.scrollWidth > w.clientWidth + 40"), "the grid fits: no test"
    left = wrap.bounding_box()["x"]
    assert abs(label.bounding_box()["x"] - left) < 2
    wrap.evaluate("(w) => { w.scrollLeft = w.scrollWidth; }")
    page.wait_for_function(
        "() => document.querySelector('.animlib-grid-wrap').scrollLeft > 40", timeout=5_000
    )
    box = label.bounding_box()
    assert abs(box["x"] - left) < 2, "the row label scrolled away with the cells"
    # it is painted over the cells that pass under it: the label is what a click there hits
    on_top = page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y)?.closest('th.row')",
        [box["x"] + 5, box["y"] + box["height"] / 2],
    )
    assert on_top


def test_the_experiment_titles_stay_in_view_when_the_grid_scrolls_down(server, page):
    """32 images: the grid scrolls in a box where the titles stay at its top (they scrolled
    away, and the cells below stood under no experiment's name)."""
    srv, _ = server
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}")
    wait_idle(page)
    page.locator("[data-testid='animlib-grid-cell']").nth(31).wait_for(timeout=60_000)
    wrap = page.locator(".animlib-grid-wrap")
    title = page.locator(".animlib-grid thead th").nth(1)
    wrap.scroll_into_view_if_needed()
    assert wrap.evaluate("(w) => w.scrollHeight > w.clientHeight + 200"), "no box to scroll"
    assert wrap.bounding_box()["height"] <= 720 * 0.85 + 1
    top = wrap.bounding_box()["y"]
    wrap.evaluate("(w) => { w.scrollTop = w.scrollHeight; }")
    page.wait_for_function(
        "() => document.querySelector('.animlib-grid-wrap').scrollTop > 200", timeout=5_000
    )
    box = title.bounding_box()
    assert abs(box["y"] - top) < 2, "the titles scrolled away with the cells"
    on_top = page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y)?.closest('thead')",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top and title.inner_text().strip() in EXPERIMENTS


def test_next_sample_opens_the_experiments_next_run_in_the_viewer(server, page):
    srv, _ = server
    first = f"{EXPERIMENTS[0]}-0003"
    page.goto(f"{srv.url}/viewer?run={first}")
    wait_idle(page)
    page.locator("[data-testid='animlib-player']").wait_for(timeout=60_000)
    page.focus("[data-testid='animlib-player']")
    page.keyboard.press("ArrowRight")  # the player keeps its step in the address: step=1
    page.wait_for_function("() => new URL(location.href).searchParams.get('step') === '1'")
    page.get_by_role("link", name="Sample 4").click()  # (navigates inside the page)
    _wait_for_url_part(page, f"/viewer?run={EXPERIMENTS[0]}-0004")
    # the address is the new run's alone: no marker, no step of the run before
    assert page.evaluate("() => location.search") == f"?run={EXPERIMENTS[0]}-0004"
    wait_idle(page)
    page.get_by_role("heading", name=f"{EXPERIMENTS[0]}-0004").wait_for(timeout=30_000)
    page.locator("[data-testid='animlib-player']").wait_for(timeout=60_000)
    assert page.get_by_text("16 samples in this experiment").count() == 1
    page.get_by_role("link", name="Sample 3").click()
    _wait_for_url_part(page, f"/viewer?run={first}")
    page.get_by_role("heading", name=first).wait_for(timeout=30_000)


def _wait_for_url_part(page, part: str) -> None:
    page.wait_for_function("(part) => location.href.includes(part)", arg=part, timeout=30_000)


def test_an_experiments_runs_link_opens_the_runs_page_filtered_to_it(server, page):
    srv, _ = server
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.goto(f"{srv.url}/experiments")
    wait_idle(page)
    page.locator("[data-testid='animlib-grid-cell']").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    box = page.locator("[data-testid='stDataFrame']").first.bounding_box()
    row_px, tick_px = 35, 35  # st.dataframe's row height; the tick box column's width
    x, y = box["x"] + tick_px + 10, box["y"] + row_px + row_px // 2  # the first row's "runs"
    page.mouse.move(x, y)  # (the grid finds the link under the pointer when it moves there)
    page.wait_for_timeout(300)
    with page.context.expect_page(timeout=30_000) as opened:  # (a link cell opens a new tab)
        page.mouse.click(x, y)
    runs = opened.value
    experiment = parse_qs(urlparse(runs.url).query)["experiment"][0]
    assert experiment in EXPERIMENTS
    wait_idle(runs)
    runs.get_by_text("16 of 32 runs shown").wait_for(timeout=60_000)
    runs.close()


def test_links_to_the_runs_page_open_it_in_a_new_tab_too(server, page):
    """Streamlit wrote a link to the runs page (the default page) as a bare "?experiment=..."
    or "": a middle click, "open in new tab" or a copied link opened the page it was on."""
    srv, _ = server
    page.goto(f"{srv.url}/experiments")
    wait_idle(page)
    link = page.get_by_role("link", name="Their runs in the runs table")
    link.wait_for(timeout=60_000)
    run_id = f"{EXPERIMENTS[0]}-0000"
    page.goto(f"{srv.url}/viewer?run={run_id}")
    wait_idle(page)
    back = page.get_by_role("link", name="All runs")
    back.wait_for(timeout=60_000)
    hrefs = {"runs": back.evaluate("a => a.href")}
    page.goto(f"{srv.url}/experiments")
    wait_idle(page)
    link.wait_for(timeout=60_000)
    hrefs["experiment"] = link.evaluate("a => a.href")
    assert urlparse(hrefs["runs"]).path == "/", hrefs  # (was /viewer?run=...)
    assert urlparse(hrefs["experiment"]).path == "/", hrefs  # (was /experiments)
    with page.context.expect_page(timeout=30_000) as opened:
        link.click(button="middle")
    tab = opened.value
    wait_idle(tab)
    shown = parse_qs(urlparse(tab.url).query)["experiment"][0].split(",")
    assert set(shown) <= set(EXPERIMENTS) and shown
    tab.get_by_role("heading", name="Runs").wait_for(timeout=60_000)
    tab.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_pinned_image_labels_have_the_pages_background(server, page, scheme):
    srv, _ = server
    themed = page.context.browser.new_page(color_scheme=scheme)  # Streamlit follows the browser
    try:
        themed.goto(f"{srv.url}/experiments?ids={','.join(EXPERIMENTS)}")
        wait_idle(themed)
        themed.locator("[data-testid='animlib-grid-cell']").first.wait_for(timeout=60_000)
        colours = themed.evaluate(
            """() => [document.querySelector('[data-testid=stApp]'),
                      document.querySelector('.animlib-grid th.row')]
                     .map(e => getComputedStyle(e).backgroundColor)"""
        )
        assert colours[0] == colours[1], colours
        assert (colours[0] == "rgb(255, 255, 255)") == (scheme == "light")
    finally:
        themed.close()


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The dashboard on the demo's FGSM and PGD sweeps (ε 0.05, 0.1, 0.2; 16 runs each)."""
    root = tmp_path_factory.mktemp("sweeps") / "runs"
    root.mkdir()
    for info in animlib.list_runs(DEMO):
        if info.ok and str(info.get("experiment") or "").startswith(SWEEPS):
            shutil.copytree(DEMO / info.id, root / info.id)
    srv = Server(root, tmp_path_factory.mktemp("sweeps-cache"))
    yield srv
    srv.stop()


SWEEPS = ("sweep-fgsm-eps", "sweep-pgd-linf-eps")


def test_clicking_a_point_of_the_chart_shows_every_sweep_at_its_eps(sweeps, page):
    page.set_viewport_size({"width": 1280, "height": 1600})
    page.goto(f"{sweeps.url}/experiments")
    wait_idle(page)
    cells = page.locator("[data-testid='animlib-grid-cell']")
    cells.first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)  # the chart is drawn for good

    def experiments_shown() -> set[str]:
        return {cells.nth(i).get_attribute("data-experiment") for i in range(cells.count())}

    marks = page.locator("[data-testid=stVegaLiteChart] g.mark-symbol.role-mark path")
    centres = set()  # (each point is drawn twice: the theme's points over the lines, ours)
    for i in range(marks.count()):
        box = marks.nth(i).bounding_box()
        centres.add((round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)))
    assert len({x for x, _ in centres}) == 3  # 2 sweeps x 3 ε (at 0.2 both at 0 %: one point)
    # (a click in the plot selects the nearest point: just inside the plot, for the points on
    # its edges)
    for (x, y), eps in ((max(centres), "0.20"), (min(centres), "0.05")):  # right: ε 0.2
        page.mouse.click(x - 4 if eps == "0.20" else x + 4, y - 4)
        want = {f"{s}{eps}" for s in SWEEPS}
        page.wait_for_function(
            f"""() => {{
              const got = [...document.querySelectorAll('[data-testid=animlib-grid-cell]')]
                .map(c => c.getAttribute('data-experiment'));
              return got.length === 32 && new Set(got).size === 2
                && got.every(e => e.endsWith('eps{eps}'));
            }}""",
            timeout=30_000,
        )
        assert experiments_shown() == want
        assert sorted(parse_qs(urlparse(page.url).query)["ids"][0].split(",")) == sorted(want)


def test_long_image_labels_wrap_instead_of_being_cut(page):
    """A long class name and the notes under it wrap inside the pinned label column (with
    nowrap, the label overflowed its cell and the cells painted over its end)."""
    from animlib.experiment_grid import AT_START, GridRow, grid_html

    label = "sample 12 · true: airplane-with-a-long-name"
    row = GridRow("k", label, runs={"e": "r", "f": "s"}, fooled=1, judged=2, at_start=1)
    page.set_viewport_size({"width": 1280, "height": 600})
    page.set_content(f"<div style='width:704px'>{grid_html([row], ['e', 'f'], {})}</div>")
    th = page.locator(".animlib-grid th.row")
    assert th.evaluate("(t) => t.scrollWidth <= t.clientWidth"), "the label is cut"
    assert th.evaluate("(t) => t.clientWidth <= 200")  # the cells keep their room
    text = th.inner_text()
    assert "airplane-with-a-long-name" in text and AT_START in text


def test_grid_cells_have_one_size_whatever_the_image_shape_or_class_name(page):
    """Portrait, landscape and square images and a long predicted class name: every cell and
    every image box is the same size and the cut label fits its two lines (a 96x32 image was a
    96x288 cell, a 40+ character name stretched its whole column to ~320 px)."""
    import numpy as np

    from animlib.experiment_grid import Cell, GridRow, grid_html, thumbnail

    long = "American Staffordshire terrier, Staffordshire terrier, American pit bull terrier"
    shapes = {"p": (96, 32), "l": (32, 96), "s": (32, 32), "b": (300, 200)}
    cells = {
        e: Cell(e, 1, thumbnail(np.zeros((*hw, 3), np.uint8)), pred, True)
        for e, hw in shapes.items()
        for pred in [long if e in "pl" else "攻撃攻撃攻撃攻撃攻撃攻撃攻撃攻撃"]
    }
    row = GridRow("k", "sample 0 · true: cat", runs={e: e for e in shapes})
    page.set_viewport_size({"width": 1280, "height": 800})
    page.set_content(grid_html([row], list(shapes), cells))
    boxes = [c.bounding_box() for c in page.locator("[data-testid='animlib-grid-cell']").all()]
    assert {(round(b["width"]), round(b["height"])) for b in boxes} == {(106, 135)}, boxes
    images = [i.bounding_box() for i in page.locator(".animlib-cell img").all()]
    assert {(round(b["width"]), round(b["height"])) for b in images} == {(96, 96)}
    for span in page.locator(".animlib-cell span").all():
        assert span.evaluate("(s) => s.scrollHeight <= s.clientHeight + 1"), span.inner_text()
