"""End-to-end: the browser player in Chromium. Stepping, playing and the before/after divider
work in the page with no Streamlit rerun; the table and the frames are exactly the stored ones."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import numpy as np
import pytest
from conftest import Server
from helpers import CLASSES, image_for, probs_for
from PIL import Image
from playerpage import (
    PLAYER,
    expected_pixels,
    expected_rows,
    open_player,
    pixels,
    reruns_seen,
    shown_step,
    status_probe,
    table,
    wait_frame,
)

import animlib

pytestmark = pytest.mark.e2e
BIG_STEPS, BIG_CLASSES = 150, 50


def write_big(root) -> None:
    """150 steps of 48x40 uint8 (three frame strips), 50 classes, true 3 and target 7."""
    rng = np.random.default_rng(7)
    x0 = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    names = [f"class-{k:02d}" for k in range(BIG_CLASSES)]
    with animlib.RunWriter(
        root, name="big", class_names=names, true_label=3, target_label=7, original=x0
    ) as w:
        for i in range(BIG_STEPS):
            p = rng.random(BIG_CLASSES).astype(np.float32) ** 4
            p[3] += max(0.0, 1 - i / 60)
            p[7] += i / 100
            noise = rng.integers(-4, 5, x0.shape)
            w.log(image=np.clip(x0 + noise, 0, 255).astype(np.uint8), confidences=p / p.sum())


@pytest.fixture(scope="module")
def player_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("player") / "runs"
    for name, steps in (("short", 7), ("long", 15)):
        with animlib.RunWriter(
            root, name=name, class_names=CLASSES, true_label=0, original=image_for(0)
        ) as w:
            for i in range(steps):
                w.log(image=image_for(i), confidences=probs_for(i))
    with animlib.RunWriter(root, name="edit", attack="blur") as w:  # no confidences, no original
        for i in range(6):
            w.log(image=image_for(i))
    write_big(root)
    return root


@pytest.fixture(scope="module")
def server(player_runs, tmp_path_factory, chromium_browser):
    srv = Server(player_runs, tmp_path_factory.mktemp("cache"))
    # a fresh server serves a deep link in pages-folder mode until "/" ran once
    context = chromium_browser.new_context()
    warm = context.new_page()
    warm.goto(srv.url + "/")
    warm.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
    context.close()
    yield srv
    srv.stop()


def run(root, run_id: str):
    return animlib.open_run(root / run_id)


def test_random_steps_show_stored_confidences_and_frames(page, server, player_runs):
    big = run(player_runs, "big")
    open_player(page, server.url + "/viewer?run=big&step=77")  # a deep link opens at its step
    assert shown_step(page) == 77
    status_probe(page)
    rng = np.random.default_rng(0)
    slider = page.locator("[data-testid='animlib-slider']")
    for k in [77, *rng.integers(0, BIG_STEPS, 6).tolist(), 0, BIG_STEPS - 1]:
        if shown_step(page) != k:
            slider.fill(str(k))
        assert shown_step(page) == k
        step, rows = table(page)
        assert step == k
        assert rows == expected_rows(big, k), k  # top-10, then true/target; roles marked
        wait_frame(page, k)
        drawn, rgba = pixels(page)
        assert drawn == k and np.array_equal(rgba, expected_pixels(big.images[k])), k
        wait_frame(page, k, "canvas[data-testid='animlib-perturbation']")
    assert reruns_seen(page) == 0


def test_keys_step_jump_and_keep_the_step_in_the_url(page, server, player_runs):
    long = run(player_runs, "long")
    open_player(page, server.url + "/viewer?run=long")
    status_probe(page)
    page.focus(PLAYER)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert shown_step(page) == 3
    page.keyboard.press("ArrowLeft")
    assert shown_step(page) == 2 and table(page) == (2, expected_rows(long, 2))
    page.keyboard.press("End")
    assert shown_step(page) == 14 and table(page)[0] == 14
    page.keyboard.press("ArrowRight")  # stays at the last step
    assert shown_step(page) == 14
    page.keyboard.press("Home")
    assert shown_step(page) == 0
    page.keyboard.press("Shift+ArrowRight")
    assert shown_step(page) == 10
    page.locator("[data-action='prev']").click()  # buttons step by one too
    assert shown_step(page) == 9
    page.wait_for_function("() => new URL(location.href).searchParams.get('step') === '9'")
    assert reruns_seen(page) == 0  # stepping never reran the script
    page.reload()
    open_player(page, page.url)
    assert shown_step(page) == 9 and table(page) == (9, expected_rows(long, 9))


def test_play_advances_and_pause_stops(page, server):
    open_player(page, server.url + "/viewer?run=long")
    status_probe(page)
    page.locator("[data-action='play']").click()
    page.wait_for_function(f'() => Number(document.querySelector("{PLAYER}").dataset.step) >= 4')
    page.locator("[data-action='play']").click()  # now the pause button
    stopped = shown_step(page)
    page.wait_for_timeout(500)
    assert shown_step(page) == stopped and page.get_attribute(PLAYER, "data-playing") is None
    page.focus(PLAYER)
    page.keyboard.press("End")
    page.keyboard.press("Space")  # play at the end starts over, then stops at the end
    page.wait_for_function(f"() => document.querySelector(\"{PLAYER}\").dataset.step === '14'")
    page.wait_for_function(
        f"() => !document.querySelector(\"{PLAYER}\").hasAttribute('data-playing')"
    )
    assert reruns_seen(page) == 0


def test_space_plays_after_a_toolbar_button_was_clicked(page, server):
    """Space handed to a focused button clicked it again: after "next step", Space stepped
    once more instead of playing (the player's help says "space plays")."""
    open_player(page, server.url + "/viewer?run=long")
    page.locator("[data-action='next']").click()
    assert shown_step(page) == 1
    page.keyboard.press("Space")
    page.wait_for_function(f'() => Number(document.querySelector("{PLAYER}").dataset.step) >= 3')
    page.keyboard.press("Space")  # and pauses again
    page.wait_for_function(
        f"() => !document.querySelector(\"{PLAYER}\").hasAttribute('data-playing')"
    )
    stopped = shown_step(page)
    page.wait_for_timeout(400)
    assert shown_step(page) == stopped
    page.locator("[data-action='next']").press("Enter")  # Enter keeps the button's own action
    assert shown_step(page) == min(stopped + 1, 14)


def screenshot_rgb(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(int)


def test_before_after_divider_changes_what_is_visible(page, server, player_runs):
    long = run(player_runs, "long")
    open_player(page, server.url + "/viewer?run=long&step=9")
    wait_frame(page, 9)
    box = page.locator("[data-testid='animlib-before-after']")
    bb = box.bounding_box()
    scale = bb["width"] / 12  # 16x12 image, shown with square pixels
    after = expected_pixels(long.images[9])[:, :, :3].astype(int)
    before = expected_pixels(long.original)[:, :, :3].astype(int)
    diff = np.abs(after - before).max(axis=2)
    diff[:, :3] = diff[:, -3:] = 0  # a point well inside 10%..90% of the width
    row, col = np.unravel_index(diff.argmax(), diff.shape)
    x, y = (col + 0.5) * scale, (row + 0.5) * scale
    adversarial, original = after[row, col], before[row, col]
    assert np.abs(adversarial - original).max() > 30  # the point tells them apart

    def drag_to(fraction: float) -> np.ndarray:
        page.mouse.move(bb["x"] + bb["width"] * 0.5, bb["y"] + 5)
        page.mouse.down()
        page.mouse.move(bb["x"] + bb["width"] * fraction, bb["y"] + 5, steps=4)
        page.mouse.up()
        return screenshot_rgb(box)[int(y), int(x)]

    assert np.abs(drag_to(0.1) - adversarial).max() <= 2  # divider left of the point
    assert float(box.get_attribute("data-split")) < 15
    assert np.abs(drag_to(0.9) - original).max() <= 2  # divider right of the point
    assert float(box.get_attribute("data-split")) > 85
    divider = page.locator("[data-testid='animlib-divider']")
    divider.focus()
    page.keyboard.press("ArrowLeft")  # the divider takes the arrow keys while focused
    assert shown_step(page) == 9 and float(box.get_attribute("data-split")) < 90


def test_full_size_view_is_pixelated_and_steps(page, server):
    open_player(page, server.url + "/viewer?run=long&step=3")
    page.locator("[data-testid='animlib-perturbation']").hover()
    page.locator(".animlib-figure:has([data-testid='animlib-perturbation']) .animlib-zoom").click()
    zoom = page.locator("[data-testid='animlib-zoom'] canvas")
    zoom.wait_for()
    width = zoom.bounding_box()["width"]
    assert width >= 12 * 20 and width % 12 == 0  # a whole number of screen pixels per pixel
    assert zoom.evaluate("(c) => getComputedStyle(c).imageRendering") in (
        "pixelated",
        "crisp-edges",
    )
    # the overlay hides the page's step counter: its note names the panel and the step
    note = page.locator("[data-testid='animlib-zoom-note']")
    text = note.inner_text()
    assert text.startswith("perturbation ×") and " · step 3 of 14 · " in text, text
    page.keyboard.press("ArrowRight")
    wait_frame(page, 4, "[data-testid='animlib-zoom'] canvas")
    assert " · step 4 of " in note.inner_text()
    page.keyboard.press("Escape")
    assert page.locator("[data-testid='animlib-zoom']").count() == 0
    assert shown_step(page) == 4


def test_full_size_opens_for_a_run_without_original_and_fits_a_small_window(page, server):
    """Without an original the zoom button threw ("Cannot read properties of null (reading
    'toPrecision')": the perturbation's gain, formatted for every panel) and nothing opened;
    an image larger than the window was cut off, its note out of reach."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_player(page, server.url + "/viewer?run=edit&step=2")
    opener = ".animlib-figure:has([data-testid='animlib-image']) .animlib-zoom"
    page.locator(opener).first.evaluate("(b) => b.click()")
    note = page.locator("[data-testid='animlib-zoom-note']")
    note.wait_for()
    assert " · step 2 of 5 · each pixel " in note.inner_text() and errors == []
    page.keyboard.press("Escape")
    open_player(page, server.url + "/viewer?run=big&step=1")
    page.set_viewport_size({"width": 1280, "height": 50})  # 41 px of room for 48 rows
    page.locator(opener).first.evaluate("(b) => b.click()")
    zoom = page.locator("[data-testid='animlib-zoom'] canvas[data-testid='animlib-image']")
    zoom.wait_for()
    box = zoom.bounding_box()
    assert box["height"] <= 41 and box["height"] / box["width"] == pytest.approx(48 / 40, 0.05)
    assert " · shown at 85 % · " in note.inner_text() and errors == [], note.inner_text()


def test_a_strip_missing_for_a_moment_is_asked_for_again_at_once(page, server):
    """With several sessions, the server's media store dropped a live viewer's strips while its
    page reran (another session's run ending in that gap): the fetch got 404 and the panels
    stayed blank until the user moved (or for seconds). A 404 is now asked for again."""
    import re
    import time

    asked: dict[str, list[float]] = {}

    def flaky(route):
        times = asked.setdefault(route.request.url, [])
        times.append(time.monotonic())
        if len(times) <= 2:
            route.fulfill(status=404, body="gone for a moment")
        else:
            route.continue_()

    page.route(re.compile(r"/media/[0-9a-f]+\.png$"), flaky)  # (strips, the original)
    open_player(page, server.url + "/viewer?run=short&step=2", timeout=30_000)
    assert shown_step(page) == 2
    # each file asked for three times in a row (it was asked again only 2 s after a 404)
    spans = [t[2] - t[0] for t in asked.values() if len(t) >= 3]
    assert spans and len(spans) == len(asked) and max(spans) < 1.8, asked


READ_FOCUS_RING = """
(node) => {
  const s = getComputedStyle(node);
  let bg = null;  // the first ancestor's opaque background: what the ring is seen against
  for (let n = node; n && !bg; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (c && c !== 'transparent' && !/,\\s*0\\)$/.test(c)) bg = c;
  }
  return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor,
          shadow: s.boxShadow, background: bg || 'rgb(255, 255, 255)',
          focusVisible: node.matches(':focus-visible'),
          focused: document.activeElement === node};
}
"""


def luminance(css: str) -> float:
    r, g, b = (float(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_player_shows_where_the_keys_go(chromium_browser, server, scheme):
    """The root takes the arrow keys and is focused on load, but its focus ring was a 1-px
    shadow in the border colour (~1.4:1 on white): keyboard users could not see it."""
    context = chromium_browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme=scheme
    )
    page = context.new_page()
    try:
        open_player(page, server.url + "/viewer?run=long&step=5")
        root = page.locator(PLAYER)
        page.locator("[data-action='first']").focus()
        page.keyboard.press("Shift+Tab")  # from the toolbar back to the root, by keyboard
        ring = root.evaluate(READ_FOCUS_RING)
        assert ring["focused"] and ring["focusVisible"], ring
        if scheme == "dark":
            assert luminance(ring["background"]) < 0.2, ring  # the dark theme is on
        assert ring["style"] == "solid" and ring["width"] >= 2, ring
        assert contrast(ring["color"], ring["background"]) >= 3, ring
        # a mouse click into the player focuses it too, but draws no ring
        page.mouse.click(2, 450)  # (out of it first)
        assert not root.evaluate(READ_FOCUS_RING)["focused"]
        page.locator("[data-testid='animlib-step-table']").click()
        ring = root.evaluate(READ_FOCUS_RING)
        assert ring["focused"] and not ring["focusVisible"] and ring["style"] == "none", ring
    finally:
        context.close()


def focused(page) -> str:
    """What has the focus: its test id, action or label."""
    return page.evaluate(
        """() => { const a = document.activeElement;
                   return a.dataset.testid || a.dataset.action || a.getAttribute('aria-label')
                          || a.tagName; }"""
    )


def in_zoom(page) -> bool:
    return page.evaluate("() => !!document.activeElement.closest('[data-testid=\"animlib-zoom\"]')")


def test_the_full_size_view_keeps_the_focus_and_gives_it_back(page, server):
    """Tab left the full-size view for controls hidden under it, Escape did nothing once the
    focus was out of the player, and closing focused the player, not the button that opened it."""
    open_player(page, server.url + "/viewer?run=long&step=5")
    opener = page.locator(".animlib-figure:has([data-testid='animlib-before-after']) .animlib-zoom")
    opener.focus()
    page.keyboard.press("Enter")
    zoom = page.locator("[data-testid='animlib-zoom']")
    zoom.wait_for()
    assert zoom.get_attribute("role") == "dialog" and zoom.get_attribute("aria-modal") == "true"
    assert in_zoom(page)
    for key in ["Tab"] * 5 + ["Shift+Tab"] * 5:
        page.keyboard.press(key)
        assert in_zoom(page), (key, focused(page))
    page.keyboard.press("ArrowRight")  # keys still step from inside the view
    assert shown_step(page) == 6
    page.keyboard.press("Escape")
    assert zoom.count() == 0
    assert page.evaluate("(b) => document.activeElement === b", opener.element_handle())
    # focus put outside the view by a script still comes back, and Escape closes from anywhere
    page.locator(".animlib-figure:has([data-testid='animlib-perturbation']) .animlib-zoom").click()
    zoom.wait_for()
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("Escape")
    assert zoom.count() == 0
    assert focused(page) == "zoom"
    page.locator(".animlib-figure:has([data-testid='animlib-perturbation']) .animlib-zoom").click()
    zoom.wait_for()
    page.locator("[data-testid='animlib-slider']").evaluate("(n) => n.focus()")  # under it
    assert in_zoom(page), focused(page)
    page.keyboard.press("Escape")
    assert zoom.count() == 0
    opener.click()  # and its own close button closes it
    page.locator("[data-testid='animlib-zoom'] [data-action='close']").click()
    assert zoom.count() == 0 and focused(page) == "zoom"


def test_screen_readers_get_the_players_names_and_its_step(page, server):
    """The key-taking root was an unnamed-by-role div, no step was announced, both full-size
    buttons were "full size", the step table had no name and the legend swatches were unnamed
    images."""
    open_player(page, server.url + "/viewer?run=long&step=5")
    root = page.locator(PLAYER)
    assert root.get_attribute("role") in ("group", "application")
    assert root.get_attribute("aria-label") and root.get_attribute("tabindex") == "0"
    names = page.locator(".animlib-zoom").evaluate_all(
        "(bs) => bs.map((b) => b.getAttribute('aria-label'))"
    )
    assert names == [
        "Show original and adversarial image at full size",
        "Show perturbation at full size",
    ], names
    assert page.locator("[data-testid='animlib-step-table']").get_attribute("aria-label")
    swatches = page.locator(".animlib-swatch")
    assert swatches.count() >= 1
    assert all(s.get_attribute("aria-hidden") == "true" for s in swatches.all())
    live = page.locator(f"{PLAYER} [role='status'][aria-live='polite']")
    assert live.count() == 1
    assert live.text_content() == ""  # nothing said on load
    page.focus(PLAYER)
    page.keyboard.down("ArrowRight")  # held: every repeat steps, nothing said meanwhile
    for _ in range(3):
        page.keyboard.down("ArrowRight")
        page.wait_for_timeout(80)
        assert live.text_content() == ""
    page.keyboard.up("ArrowRight")
    assert shown_step(page) == 9
    page.wait_for_function("(n) => n.textContent !== ''", arg=live.element_handle(), timeout=5_000)
    said = live.text_content()
    assert said.startswith("step 9 of 14, top class ") and said[-6:-4] == "0.", said
    snapshot = root.aria_snapshot()
    assert "Show perturbation at full size" in snapshot, snapshot


def test_compare_slider_moves_every_run(page, server, player_runs):
    runs = {name: run(player_runs, name) for name in ("short", "long", "big")}
    open_player(page, server.url + "/compare?runs=short,long,big")
    status_probe(page)
    assert page.locator(PLAYER).count() == 1  # one player, one slider for all runs
    page.locator("[data-testid='animlib-slider']").fill("5")
    for name, r in runs.items():
        assert table(page, name) == (5, expected_rows(r, 5, top_k=5)), name
    page.focus(PLAYER)
    page.keyboard.press("ArrowRight")
    for name, r in runs.items():
        assert table(page, name) == (6, expected_rows(r, 6, top_k=5)), name
    page.keyboard.press("End")
    assert shown_step(page) == BIG_STEPS - 1
    held = {name: table(page, name)[0] for name in runs}
    assert held == {"short": 6, "long": 14, "big": BIG_STEPS - 1}  # shorter runs hold their last
    for name, r in runs.items():
        sel = f"canvas[data-testid='animlib-image'][data-run='{name}']"
        wait_frame(page, len(r) - 1, sel)
        assert np.array_equal(pixels(page, sel)[1], expected_pixels(r.images[len(r) - 1]))
    assert reruns_seen(page) == 0


def test_compared_curves_that_coincide_stay_apart(page, server):
    """short and long log the same confidences for 7 steps: their true-class lines differ in
    dash (the one drawn over leaves gaps), their legend swatches too, and their dots in size."""
    open_player(page, server.url + "/compare?runs=short,long")
    curves = page.locator("[data-testid='animlib-curves']")
    dashes = curves.locator("polyline").evaluate_all(
        "(ls) => ls.map((l) => l.getAttribute('stroke-dasharray') || '')"
    )
    assert len(dashes) == 2 and dashes[0] == "" and dashes[1] != ""
    swatches = curves.locator(".animlib-swatch line").evaluate_all(
        "(ls) => ls.map((l) => l.getAttribute('stroke-dasharray') || '')"
    )
    assert swatches[0] == "" and swatches[1] != ""
    radii = curves.locator("circle.animlib-dot").evaluate_all(
        "(cs) => cs.map((c) => Number(c.getAttribute('r')))"
    )
    assert radii[0] > radii[1]  # the later dot sits inside the earlier one


def test_compare_of_four_runs_lays_them_out_two_by_two(page, server):
    """More than 3 runs wrap into rows (4: 2 x 2; 5-6: rows of 3), so each keeps room for its
    images and an uncut table header."""
    names = ["short", "long", "edit", "big"]
    open_player(page, server.url + "/compare?runs=" + ",".join(names))
    boxes = {n: page.locator(f".animlib-col[data-run='{n}']").bounding_box() for n in names}
    assert boxes["short"]["y"] == boxes["long"]["y"] < boxes["edit"]["y"] == boxes["big"]["y"]
    assert boxes["short"]["x"] == boxes["edit"]["x"] < boxes["long"]["x"] == boxes["big"]["x"]
    header = page.locator(".animlib-col[data-run='big'] thead th").nth(1)
    assert header.evaluate("(th) => th.scrollWidth <= th.clientWidth"), "header cut"


def test_compare_images_grow_to_the_room_of_their_column(page, server):
    """Two runs side by side have about 550 px each: their images use it (they were 150 px,
    whatever the room), side by side and inside the column."""
    open_player(page, server.url + "/compare?runs=short,long")
    col = page.locator(".animlib-col[data-run='short']").bounding_box()
    image = page.locator(".animlib-col[data-run='short'] canvas[data-testid='animlib-image']")
    delta = page.locator(".animlib-col[data-run='short'] [data-testid='animlib-perturbation']")
    a, b = image.bounding_box(), delta.bounding_box()
    assert max(a["width"], a["height"]) > 200  # 16x12 pixels: 240 px high (it was 144)
    assert a["y"] == b["y"] and a["x"] < b["x"]
    assert b["x"] + b["width"] <= col["x"] + col["width"] + 1
    # a narrower window (still two runs a row: 280 px each): they follow
    page.set_viewport_size({"width": 680, "height": 900})
    first = "document.querySelector(\".animlib-col[data-run='short'] canvas\")"
    page.wait_for_function(f"() => {first}.clientHeight < 200")
    col = page.locator(".animlib-col[data-run='short']").bounding_box()
    a, b = image.bounding_box(), delta.bounding_box()
    assert a["y"] == b["y"] and b["x"] + b["width"] <= col["x"] + col["width"] + 1
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_narrow_page_shows_fewer_compared_runs_a_row(page, server):
    """At 420 px three runs a row left ~120 px each: every table cell was cut ("0.…")."""
    names = ["short", "long", "big"]
    page.set_viewport_size({"width": 420, "height": 900})
    try:
        open_player(page, server.url + "/compare?runs=" + ",".join(names))
        xs = {page.locator(f".animlib-col[data-run='{n}']").bounding_box()["x"] for n in names}
        assert len(xs) == 1  # one run a row
        cell = page.locator(".animlib-col[data-run='short'] tbody td").nth(1)
        assert cell.evaluate("(td) => td.scrollWidth <= td.clientWidth"), "confidence cut"
        page.set_viewport_size({"width": 1280, "height": 900})  # wider again: side by side
        page.wait_for_function(
            """() => new Set([...document.querySelectorAll('.animlib-col')]
                         .map((c) => c.getBoundingClientRect().left)).size === 3"""
        )
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


CHART = "document.querySelector(\"[data-testid='animlib-curves'] svg\")"
# the chart as drawn: its units per CSS pixel, its size, and its tick labels' font size and
# height on screen (the y title, rotated, left out)
CHART_TEXT = f"""() => {{
  const svg = {CHART};
  const box = svg.getBoundingClientRect();
  const scale = box.width / svg.viewBox.baseVal.width;
  const ticks = [...svg.querySelectorAll('.animlib-axes text')]
    .filter((t) => !t.getAttribute('transform'));
  return {{
    units: svg.viewBox.baseVal.width, width: box.width, height: box.height,
    fonts: ticks.map((t) => parseFloat(getComputedStyle(t).fontSize) * scale),
    heights: ticks.map((t) => t.getBoundingClientRect().height),
  }};
}}"""


@pytest.mark.parametrize("where", ["/viewer?run=long", "/compare?runs=short,long"])
@pytest.mark.parametrize("width", [390, 2560])
def test_the_curves_text_keeps_the_pages_size_at_any_width(page, server, width, where):
    """A 1000-unit chart drawn at width:100% had 9-px labels on a 390-px phone and 31-px ones
    at 2560 px (550 px tall there), beside a 13-px legend: one chart unit is now one pixel."""
    page.set_viewport_size({"width": width, "height": 900})
    try:
        open_player(page, server.url + where)
        got = page.evaluate(CHART_TEXT)
        assert abs(got["units"] - got["width"]) <= 1, got
        assert len(got["fonts"]) >= 7 and all(12 <= f <= 14 for f in got["fonts"]), got
        assert all(14 <= h <= 20 for h in got["heights"]), got
        assert 180 <= got["height"] <= 260, got
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_the_curves_are_drawn_again_for_a_resized_window(page, server):
    """Narrowing the window scaled the chart drawn for the wide one (its labels shrank): it is
    drawn again for its new width, and follows the step."""
    try:
        open_player(page, server.url + "/viewer?run=long")
        wide = page.evaluate(CHART_TEXT)
        assert abs(wide["units"] - wide["width"]) <= 1, wide
        page.set_viewport_size({"width": 600, "height": 900})
        page.wait_for_function(
            f"() => Math.abs({CHART}.viewBox.baseVal.width"
            f" - {CHART}.getBoundingClientRect().width) <= 1"
            f" && {CHART}.viewBox.baseVal.width < {wide['units'] - 100}"
        )
        narrow = page.evaluate(CHART_TEXT)
        assert all(12 <= f <= 14 for f in narrow["fonts"]), narrow
        page.focus(PLAYER)
        page.keyboard.press("End")  # the new chart follows the step
        marker = page.evaluate(f"() => {CHART}.querySelector('.animlib-marker').getAttribute('x1')")
        assert float(marker) > 400
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_a_narrow_viewer_shows_the_table_right_after_the_image(page, server):
    """On a 390-px phone the perturbation sat between the before/after image and the step's
    table (~700 px below the image): image, step and confidences were never on screen
    together. Narrow, the table comes right after the image; wide, the layout is as it was."""

    def boxes():
        return {
            name: page.locator(sel).bounding_box()
            for name, sel in (
                ("image", "[data-testid='animlib-before-after']"),
                ("pert", "canvas[data-testid='animlib-perturbation']"),
                ("table", "[data-testid='animlib-step-table']"),
            )
        }

    page.set_viewport_size({"width": 390, "height": 844})
    try:
        open_player(page, server.url + "/viewer?run=long")
        got = boxes()
        below = got["table"]["y"] - (got["image"]["y"] + got["image"]["height"])
        assert 0 < below < 100, got  # (the image's caption and the table's title between)
        assert got["pert"]["y"] > got["table"]["y"] + got["table"]["height"], got
        assert got["image"]["height"] + below + got["table"]["height"] < 844 - 100
        page.set_viewport_size({"width": 1280, "height": 900})  # wide: one row, as before
        page.wait_for_function(
            """() => document.querySelector("canvas[data-testid='animlib-perturbation']")
                     .getBoundingClientRect().left > 300"""
        )
        got = boxes()
        assert got["pert"]["y"] == got["image"]["y"], got
        assert got["image"]["x"] < got["pert"]["x"] < got["table"]["x"], got
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def test_a_compared_runs_title_opens_it_in_the_viewer_at_the_step_shown(page, server):
    """Compare had no way to one run's viewer but the runs table."""
    open_player(page, server.url + "/compare?runs=short,long")
    page.focus(PLAYER)
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    page.locator(".animlib-col[data-run='long'] .animlib-col-title a").click()
    page.wait_for_url("**/viewer?run=long&step=9", timeout=60_000)
    open_player(page, page.url)
    assert shown_step(page) == 9
    page.go_back()
    page.wait_for_url("**/compare?runs=short*", timeout=60_000)


def test_a_compared_runs_title_link_holds_the_step_for_a_middle_click(page, server):
    """Only a left click put the step into the title's link: a middle click (a new tab) or
    "copy link address" opened the run at step 0."""
    open_player(page, server.url + "/compare?runs=short,long&step=3")
    links = page.locator(".animlib-col-title a")
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [
        "viewer?run=short&step=3",
        "viewer?run=long&step=3",
    ]
    page.focus(PLAYER)
    page.keyboard.press("End")  # short has 7 steps: it holds its last
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [
        "viewer?run=short&step=6",
        "viewer?run=long&step=14",
    ]


def test_runs_without_confidences_or_original_still_play(page, server):
    open_player(page, server.url + "/viewer?run=edit")
    assert page.locator("[data-testid='animlib-step-table']").count() == 0
    assert page.locator("[data-testid='animlib-before-after']").count() == 0
    assert page.locator("canvas[data-testid='animlib-image']").count() == 1
    page.focus(PLAYER)
    page.keyboard.press("End")
    wait_frame(page, 5)
    drawn, rgba = pixels(page)
    assert np.array_equal(rgba, expected_pixels(image_for(5)))


def test_no_request_leaves_the_machine(page, server):
    own = urlparse(server.url).netloc
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    page.goto(server.url + "/")
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
    open_player(page, server.url + "/viewer?run=big&step=60")
    page.focus(PLAYER)
    for key in ("ArrowRight", "End", "Home", "Space"):
        page.keyboard.press(key)
    page.wait_for_timeout(600)
    open_player(page, server.url + "/compare?runs=short,big")
    page.wait_for_timeout(500)
    hosts = {urlparse(u).netloc for u in seen if urlparse(u).scheme not in ("data", "blob")}
    assert hosts == {own}, sorted(u for u in seen if urlparse(u).netloc != own)
    assert any("/media/" in u for u in seen)  # frames come from the dashboard's own route


def bad_response(errors: list[str], i: int, response) -> None:
    # Streamlit probes "<page>/_stcore/health" before "/_stcore/health" on a deep link: not ours
    if response.status >= 400 and "/_stcore/" not in response.url:
        errors.append(f"{i}: {response.status} {response.url}")


def test_six_sessions_step_at_once_without_reruns(chromium_browser, server, player_runs):
    runs = ["big", "long", "short", "big", "long", "big"]
    pages, errors = [], []
    for i, run_id in enumerate(runs):
        context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.on("pageerror", lambda e, i=i: errors.append(f"{i}: {e}"))
        pg.on("response", lambda r, i=i: bad_response(errors, i, r))
        open_player(pg, server.url + f"/viewer?run={run_id}")
        status_probe(pg)
        pg.focus(PLAYER)
        pages.append(pg)
    try:
        for _ in range(12):
            for pg in pages:
                pg.keyboard.press("ArrowRight")
        for pg, run_id in zip(pages, runs, strict=True):
            last = len(run(player_runs, run_id)) - 1
            want = min(12, last)
            assert shown_step(pg) == want and table(pg)[0] == want
            assert table(pg)[1] == expected_rows(run(player_runs, run_id), want)
            wait_frame(pg, want)
            assert reruns_seen(pg) == 0
        assert errors == []
    finally:
        for pg in pages:
            pg.context.close()


def set_top_k(page, k: int) -> None:
    """Set the viewer's top-k render option (a rerun that sends the player new data) and wait
    for the player's table to show it (k rows, plus the true and target classes)."""
    page.get_by_text("Render options", exact=True).click()
    top_k = page.locator("input[aria-label='top-k classes']")
    top_k.fill(str(k))
    top_k.press("Enter")
    rows = """document.querySelectorAll(
                '[data-testid="animlib-step-table"] tbody tr:not([hidden])').length"""
    page.wait_for_function(f"() => {rows} <= {k + 2}", timeout=60_000)


def test_a_rerun_keeps_one_player_at_the_same_step(page, server, player_runs):
    """Changing a render option reruns the page with new data: the player is replaced (not
    doubled) and stays at the step the user was on; a reload of the link shows both."""
    big = run(player_runs, "big")
    open_player(page, server.url + "/viewer?run=big")
    page.focus(PLAYER)
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => new URL(location.href).searchParams.get('step') === '7'")
    set_top_k(page, 3)  # a rerun with new data
    assert page.locator(PLAYER).count() == 1
    assert shown_step(page) == 7 and table(page) == (7, expected_rows(big, 7, top_k=3))
    # the player writes the step into the link, the page the render options: one does not
    # drop the other, and a reload shows both
    both = "(p) => p.get('top_k') === '3' && p.get('step') === '7'"
    page.wait_for_function(f"() => ({both})(new URL(location.href).searchParams)")
    open_player(page, page.url)  # reloaded
    assert shown_step(page) == 7 and table(page) == (7, expected_rows(big, 7, top_k=3))


def test_a_player_writes_its_step_only_into_its_own_pages_address(page, server):
    """The player puts its step back into the address when the page's own write dropped it;
    while a navigation to another run or page was under way it wrote its step there."""
    open_player(page, server.url + "/viewer?run=long")
    page.focus(PLAYER)
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => new URL(location.href).searchParams.get('step') === '9'")
    page.evaluate("() => history.pushState(null, '', 'viewer?run=short')")  # (as a link does)
    page.wait_for_timeout(2500)
    assert page.url.endswith("/viewer?run=short")
    page.evaluate("() => history.pushState(null, '', 'viewer?run=long')")  # its own again
    page.wait_for_function("() => new URL(location.href).searchParams.get('step') === '9'")


def test_a_rerun_keeps_the_before_after_divider_where_it_was(page, server):
    """A rerun (a changed option, a live run's new step) put the divider back at 50 %."""
    open_player(page, server.url + "/viewer?run=big&step=5")
    box = page.locator("[data-testid='animlib-before-after']")
    page.locator("[data-testid='animlib-divider']").focus()
    for _ in range(7):
        page.keyboard.press("ArrowLeft")
    assert float(box.get_attribute("data-split")) == 15
    set_top_k(page, 4)  # a rerun with new data: a new player
    assert page.locator(PLAYER).count() == 1
    assert (
        float(page.locator("[data-testid='animlib-before-after']").get_attribute("data-split"))
        == 15
    )
    # the full-size view opens at the same split, and moving it there moves the page's too
    box.hover()
    page.locator(".animlib-figure:has([data-testid='animlib-before-after']) .animlib-zoom").click()
    zoomed = page.locator("[data-testid='animlib-zoom'] [data-testid='animlib-before-after']")
    assert float(zoomed.get_attribute("data-split")) == 15
    page.locator("[data-testid='animlib-zoom'] [data-testid='animlib-divider']").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Escape")
    page_box = page.locator("[data-testid='animlib-before-after']")
    assert float(page_box.get_attribute("data-split")) == 20


PLAY_RATE = """() => new Promise((resolve) => {
  const player = document.querySelector("[data-testid='animlib-player']");
  let t0 = null, s0 = 0;
  const observer = new MutationObserver(() => {
    const step = Number(player.dataset.step), now = performance.now();
    if (t0 === null) { t0 = now; s0 = step; return; }
    if (step >= 140 || now - t0 > 4000) {
      observer.disconnect();
      resolve((step - s0) / ((now - t0) / 1000));
    }
  });
  observer.observe(player, { attributes: true, attributeFilter: ["data-step"] });
  player.querySelector("[data-action='play']").click();
})"""


def test_a_speed_above_the_screens_rate_plays_at_that_speed(page, server):
    """8x of 10 fps (80 steps a second) played at the screen's 60 frames a second, one step a
    frame: steps are skipped now to keep the speed shown (measured in the page)."""
    open_player(page, server.url + "/viewer?run=big")
    page.focus(PLAYER)
    page.keyboard.press("End")  # every frame strip loaded before timing
    wait_frame(page, BIG_STEPS - 1)
    page.keyboard.press("Home")
    wait_frame(page, 0)
    page.select_option("[data-testid='animlib-speed']", "8")
    rate = page.evaluate(PLAY_RATE)
    assert 68 <= rate <= 92, rate


def test_a_rerun_while_playing_carries_on_playing_at_the_chosen_speed(page, server):
    """New data from the server (here: another top-k; a live run's new steps alike) must not
    stop playback, reset the speed or send the player back to the step in the URL."""
    open_player(page, server.url + "/viewer?run=big")
    page.select_option("[data-testid='animlib-speed']", "0.25")  # 2.5 steps a second
    page.locator("[data-action='play']").click()
    page.wait_for_function(f'() => Number(document.querySelector("{PLAYER}").dataset.step) >= 2')
    # the address follows while playing (it is written at most every 0.5 s)
    page.wait_for_function("() => Number(new URL(location.href).searchParams.get('step')) >= 2")
    before = shown_step(page)
    set_top_k(page, 4)
    assert page.locator(PLAYER).count() == 1
    assert page.get_attribute(PLAYER, "data-playing") is not None
    assert page.locator("[data-testid='animlib-speed']").input_value() == "0.25"
    later = shown_step(page)
    assert later >= before, (before, later)
    page.wait_for_function(
        f'() => Number(document.querySelector("{PLAYER}").dataset.step) > {later}'
    )  # still advancing
    page.locator("[data-action='play']").click()  # pause


def test_a_live_run_watched_at_its_last_step_follows_new_steps_and_keeps_the_zoom(
    page, server, player_runs
):
    """A live run opens at its newest step; its new steps reach the page as new data: a player
    left at the last step moves to the new last one (as a log's tail), a panel shown at full
    size stays so, and a player left elsewhere stays where it is."""
    w = animlib.RunWriter(
        player_runs, name="tail", class_names=CLASSES, true_label=0, original=image_for(0)
    )
    try:
        for i in range(3):
            w.log(image=image_for(i), confidences=probs_for(i))
        open_player(page, server.url + f"/viewer?run={w.run_id}")
        wait_frame(page, 2)  # a run being written opens at its newest step (no ?step= asked)
        assert shown_step(page) == 2
        page.focus(PLAYER)
        page.locator("[data-testid='animlib-perturbation']").hover()
        page.locator(
            ".animlib-figure:has([data-testid='animlib-perturbation']) .animlib-zoom"
        ).click()
        page.locator("[data-testid='animlib-zoom'] canvas").wait_for()
        for i in range(3, 6):
            w.log(image=image_for(i), confidences=probs_for(i))
        page.wait_for_function(
            f'() => document.querySelector("{PLAYER}").dataset.step === "5"', timeout=30_000
        )
        wait_frame(page, 5, "[data-testid='animlib-zoom'] canvas")  # still shown at full size
        page.keyboard.press("Escape")
        page.keyboard.press("Home")
        wait_frame(page, 0)
        w.log(image=image_for(6), confidences=probs_for(6))
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"animlib-step-label\"]')"
            ".textContent.includes('/ 6')",
            timeout=30_000,
        )  # the new data arrived (7 steps) ...
        assert shown_step(page) == 0  # ... and the player stayed where it was
    finally:
        w.finish()


@pytest.mark.parametrize(("asked", "shown"), [("abc", 0), ("-3", 0), ("99999", 14), ("1e1", 10)])
def test_a_bad_step_in_the_url_is_replaced_by_the_step_shown(page, server, asked, shown):
    open_player(page, server.url + f"/viewer?run=long&step={asked}")
    assert shown_step(page) == shown
    page.wait_for_function(
        f"() => new URL(location.href).searchParams.get('step') === '{shown}'", timeout=10_000
    )


@pytest.mark.parametrize(("steps", "stride"), [(10_000, 8), (9_993, 8), (50, 3), (7, 1)])
def test_the_browser_finds_each_steps_image_where_the_strips_hold_it(page, steps, stride):
    """frames.js's locate (what the player draws at a step) agrees with the strips written:
    the stored step at or before each step, and the last step's own image."""
    from animlib.player.component import ASSETS
    from animlib.player.strips import StripPlan

    plan = StripPlan(steps=steps, height=4, width=4, stride=stride, per_strip=16)
    page.set_content("<html><body></body></html>")
    for name in ("format.js", "frames.js"):
        page.add_script_tag(content=(ASSETS / name).read_text())
    wanted = sorted({0, 1, stride - 1, stride, steps // 2, steps - 2, steps - 1, steps + 5})
    got = page.evaluate(
        """([steps, stride, wanted]) => {
            const f = Object.create(Frames.prototype);
            f.steps = steps;
            f.image = { stride: stride, per_strip: 16 };
            return wanted.map((s) => { const l = f.locate(s); return [l.shown, l.strip, l.row]; });
        }""",
        [steps, stride, wanted],
    )
    for step, (shown, strip, row) in zip(wanted, got, strict=True):
        assert (strip, row) == plan.locate(step), step
        assert plan.steps_of(strip)[row] == shown, step
    assert got[-1][0] == steps - 1  # the last step shows its own image


def player_scripts(page) -> None:
    """An empty page with the player's CSS and its scripts as one classic script (its classes
    and functions global; the module's export renamed)."""
    from animlib.player.component import ASSETS, JS_FILES

    source = "\n".join((ASSETS / name).read_text() for name in JS_FILES)
    css = (ASSETS / "player.css").read_text()
    page.set_content(f"<html><head><style>{css}</style></head><body></body></html>")
    page.add_script_tag(content=source.replace("export default function", "function mount"))


def test_an_images_caption_names_the_step_whose_image_is_drawn(page):
    """A long run keeps every n-th step's image: at step 5001 the caption said "step 5001"
    under step 5000's image; and the note said "every 2th step"."""
    player_scripts(page)
    got = page.evaluate(
        """() => {
            const p = Object.create(Player.prototype);
            p.step = 5001;
            p.runs = [{ steps: 10000 }];
            const f = Object.create(Frames.prototype);
            Object.assign(f, { steps: 10000, image: { stride: 2, per_strip: 16 } });
            p.frames = [f];
            const caption = document.createElement("span");
            const table = document.createElement("span");
            p.labels = [
                { r: 0, node: caption, text: (s, shown) => imageStep(s, shown) },
                { r: 0, node: table, text: (s) => `step ${s}` },
            ];
            p.showLabels();
            const at = [caption.textContent, table.textContent];
            p.step = 5000;
            p.showLabels();
            return [...at, caption.textContent, [1, 2, 3, 4, 11, 12, 13, 21, 22, 102].map(ordinal)];
        }"""
    )
    assert got[:3] == ["step 5000 (the image kept for step 5001)", "step 5001", "step 5000"]
    assert got[3] == ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "102nd"]


def test_a_rebuilt_player_shows_the_old_image_until_its_strips_arrive(page):
    """A live run's player is rebuilt on every new step: its canvases were blank (a blink every
    step) until the strips were fetched again."""
    player_scripts(page)
    got = page.evaluate(
        """() => {
            const canvas = (w, h, fill) => {
                const c = document.createElement("canvas");
                c.width = w; c.height = h;
                if (fill) {
                    const g = c.getContext("2d");
                    g.fillStyle = fill;
                    g.fillRect(0, 0, w, h);
                }
                return c;
            };
            const p = Object.create(Player.prototype);
            const loading = canvas(1, 1);
            loading.classList.add("is-loading");
            const ready = canvas(4, 4, "rgb(0, 0, 255)");
            p.targets = [
                { r: 0, kind: "image", canvas: loading },
                { r: 0, kind: "perturbation", canvas: ready },
            ];
            p.paintCarried([
                { r: 0, kind: "image", canvas: canvas(4, 4, "rgb(255, 0, 0)") },
                { r: 0, kind: "perturbation", canvas: canvas(4, 4, "rgb(0, 255, 0)") },
            ]);
            const px = (c) => Array.from(c.getContext("2d").getImageData(1, 1, 1, 1).data);
            return [loading.width, px(loading), px(ready)];
        }"""
    )
    assert got == [4, [255, 0, 0, 255], [0, 0, 255, 255]]  # drawn ones are left as they are


STEP_TABLE_NAMES = """([classes, topk, topv, width]) => {
    const arr = (data) => ({ data: Int32Array.from(data) });
    const arrays = { topk: arr(topk), topv: { data: Float32Array.from(topv) },
                     rank: arr(topk.map((_, i) => i + 1)) };
    const run = { id: "r", k: topk.length, classes, true: null, target: null };
    const col = document.body.appendChild(document.createElement("div"));
    col.className = "animlib-col";
    col.style.width = `${width}px`;
    const t = new StepTable(run, arrays, "");
    col.appendChild(t.table);
    t.setStep(0);
    const names = [...t.table.querySelectorAll("tbody th")];
    return names.map((n) => [n.textContent, n.title, n.scrollWidth <= n.clientWidth]);
}"""


def step_table_names(page, classes, topk, topv, width):
    """(shown name, title, fits) of each row of a one-step StepTable in a ``width``-px column."""
    player_scripts(page)
    return page.evaluate(STEP_TABLE_NAMES, [classes, topk, topv, width])


def test_long_class_names_are_cut_in_the_middle_in_a_narrow_table(page):
    """Six compared runs leave ~70 px for a class name: names sharing a long beginning were all
    "a very long class na…" (told apart only by hovering)."""
    name = "a very long class name shared by all, number"
    got = step_table_names(page, [f"{name} {i}" for i in range(3)], [2, 1, 0], [0.5, 0.3, 0.2], 240)
    shown = [name for name, _, _ in got]
    assert len(set(shown)) == 3, shown  # told apart
    for (name, title, fits), i in zip(got, (2, 1, 0), strict=True):
        assert "…" in name and name.startswith("a ") and name.endswith(str(i)), name
        assert title.endswith(f"number {i}") and fits, (name, title)


def test_names_that_differ_in_the_middle_lead_with_their_class_number(page):
    """Ten names differing only in their middle ("…synset 07, a long tail…") all read
    "Staffordshire bull…e class name here" in the player (the video numbered them): each row now
    leads with its class number, the argmax row too, and still fits."""
    tail = "a long tail of the class name here"
    classes = [f"Staffordshire bull terrier, synset {k:02d}, {tail}" for k in range(10)]
    got = step_table_names(page, classes, [7, 3, 0, 1], [0.6, 0.24, 0.1, 0.06], 300)
    assert len({name for name, _, _ in got}) == 4, got
    for (name, _, fits), k in zip(got, (7, 3, 0, 1), strict=True):
        assert name.startswith(f"{k}: St") and "…" in name and fits, (name, fits)


def test_the_bold_argmax_name_is_cut_for_its_own_font(page):
    """The argmax row is bold: its name cut to fit the normal weight was cut again by the
    browser, losing the end that tells the classes apart ("…ory number…")."""
    name = "a rather long class name for category number"
    classes = [f"{name} {i:02d}" for i in range(12)]
    got = []
    for w in range(150, 331, 4):  # (the first row, class 3, is the argmax: bold)
        shown, _, fits = step_table_names(page, classes, [3, 1, 0], [0.5, 0.3, 0.2], w)[0]
        got.append((w, shown, fits))
    cut = [(w, name) for w, name, fits in got if not fits or not name.endswith("03")]
    assert not cut, cut
    assert any("…" in name for _, name, _ in got)  # the widths tried do cut it


def test_the_curves_are_drawn_for_the_width_they_get(page):
    """The chart measures itself: built for a guessed width, it is drawn for the 350 px it
    gets (its text at its CSS size), then again for 2,400 px, no taller than 230 px."""
    player_scripts(page)
    page.evaluate(
        """() => {
            const box = document.body.appendChild(document.createElement("div"));
            box.id = "box";
            box.style.width = "350px";
            const values = Float32Array.from([0, 0.5, 1]);
            const series = [{ label: "a", color: "#000", dash: "", values }];
            box.appendChild(new Curves(series, 3, () => {}, "confidence", 1000).root);
        }"""
    )
    size = "() => [...document.querySelector('#box svg').getAttribute('viewBox').split(' ')]"
    page.wait_for_function(f"() => ({size})()[2] === '350'")
    assert page.evaluate(size)[2:] == ["350", "180"]
    page.evaluate("() => { document.querySelector('#box').style.width = '2400px'; }")
    page.wait_for_function(f"() => ({size})()[2] === '2400'")
    assert page.evaluate(size)[2:] == ["2400", "230"]
    assert page.evaluate("() => document.querySelector('#box svg').clientHeight") == 230


def test_class_names_are_cut_again_when_the_table_shows_or_resizes(page):
    """Names were cut only when a step was drawn: a table drawn while hidden kept whole names
    (the browser's end-cut made them all read alike), a resized one the old cut; and the cut
    split emoji sequences and flags (🇯🇵🇫🇷 read as 🇵🇫, another flag)."""
    player_scripts(page)
    got = page.evaluate(
        """async () => {
            const name = "a very long class name shared by all, number";
            const classes = [0, 1].map((i) => `${name} ${i}`);
            const arr = (data) => ({ data: Int32Array.from(data) });
            const arrays = {
                topk: arr([1, 0]), topv: { data: Float32Array.from([0.6, 0.4]) },
                rank: arr([1, 2]),
            };
            const col = document.body.appendChild(document.createElement("div"));
            col.className = "animlib-col";
            col.style.width = "240px";
            col.style.display = "none";  // drawn while hidden
            const run = { id: "r", k: 2, classes, true: null, target: null };
            const t = new StepTable(run, arrays, "");
            col.appendChild(t.table);
            t.setStep(0);
            const names = () => [...t.table.querySelectorAll("tbody th")].map((n) => n.textContent);
            const frame = () =>
                new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 50)));
            const hidden = names();
            col.style.display = "";
            await frame();
            await frame();
            const shown = names();
            col.style.width = "600px";
            await frame();
            await frame();
            const wider = names();
            t.close();
            return [hidden, shown, wider, graphemes("a👨‍👩‍👧b🇯🇵🇫🇷")];
        }"""
    )
    hidden, shown, wider, parts = got
    assert hidden == [f"a very long class name shared by all, number {i}" for i in (1, 0)]
    assert all("…" in n for n in shown) and len(set(shown)) == 2, shown
    assert all(len(w) > len(s) for w, s in zip(wider, shown, strict=True)), (wider, shown)
    assert parts == ["a", "👨‍👩‍👧", "b", "🇯🇵", "🇫🇷"]


def test_runs_of_one_name_are_told_apart_by_their_ids(page, server, player_runs):
    """Two reruns named "short" both read "short" in the titles and the legend. (Last in this
    module: it adds a run.)"""
    with animlib.RunWriter(
        player_runs, name="short", class_names=CLASSES, true_label=0, original=image_for(0)
    ) as w:
        for i in range(4):
            w.log(image=image_for(i), confidences=probs_for(i))
    assert w.run_id == "short-2"
    open_player(page, server.url + "/compare?runs=short,short-2,edit")
    titles = page.locator(".animlib-col-title").all_inner_texts()
    assert titles == ["short", "short (short-2)", "edit"]  # (the first's id is its name)
    legend = page.locator("[data-testid='animlib-curves']").inner_text()
    assert "short (short-2)" in legend

    def caption(run_id: str) -> str:
        return page.locator(f".animlib-col[data-run='{run_id}'] figcaption").first.inner_text()

    assert caption("short-2").startswith("adversarial")
    assert caption("edit").startswith("image")  # a blur: no classifier, nothing attacked
    # a long name is cut in the middle on one line: the images of a row stay in line (wrapped
    # over 4 lines, it pushed its run's images down)
    with animlib.RunWriter(player_runs, name="attack-" + "x" * 60 + "-eps0.25") as w:
        for i in range(3):
            w.log(image=image_for(i))
    open_player(page, server.url + f"/compare?runs=short,{w.run_id},long")
    title = page.locator(f".animlib-col[data-run='{w.run_id}'] .animlib-col-title").inner_text()
    assert "…" in title and title.endswith("-eps0.25"), title
    tops = [
        page.locator(f".animlib-col[data-run='{r}'] canvas").first.bounding_box()["y"]
        for r in ("short", w.run_id, "long")
    ]
    assert max(tops) - min(tops) < 1, tops


def test_the_step_axis_is_labelled_across_a_long_runs_whole_width(page):
    """10,000 steps on a 390-px phone (room for 3 ticks) were labelled 0 and 5000 alone."""
    from pathlib import Path

    curves = Path(animlib.__file__).parent / "player" / "assets" / "curves.js"
    page.set_content("<html><body></body></html>")
    got = page.evaluate(
        "(js) => new Function(js + '; return [niceTicks(9999, 3), niceTicks(59, 6), "
        "niceTicks(2, 3), niceTicks(0, 3)];')()",
        curves.read_text(encoding="utf-8"),
    )
    assert got == [[0, 2500, 5000, 7500], [0, 10, 20, 30, 40, 50], [0, 1, 2], [0]]
