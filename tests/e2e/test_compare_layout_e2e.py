"""End-to-end: how the compare page lays out 2-6 runs in Chromium for the window it gets."""

from __future__ import annotations

import time

import pytest
from conftest import Server
from helpers import CLASSES, image_for, probs_for
from playerpage import PLAYER, open_player

import animlib

pytestmark = pytest.mark.e2e
NAMES = [f"pgd-linf-eps0.0{i}-img{i}" for i in range(1, 7)]
SQUARE = [f"square-{i}" for i in range(3)]
SOURCE = "source:imagenet-val-00012345-a-long-source-image-name"  # (a long link label)

# every cell of the compared runs' step tables that the browser cuts ("confid…", "target, a…")
CUT_CELLS = """() => [...document.querySelectorAll('.animlib-col th, .animlib-col td')]
    .filter((c) => c.scrollWidth > c.clientWidth + 0.5).map((c) => c.textContent)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_browser):
    """Six targeted runs: at their last step the target is the argmax, so the role column holds
    its widest text, a bold "target, argmax"."""
    root = tmp_path_factory.mktemp("compare") / "runs"
    for name in NAMES:
        x0 = image_for(0)
        labels = {"true_label": 0, "target_label": 1}
        with animlib.RunWriter(
            root, name=name, class_names=CLASSES, original=x0, tags=[SOURCE], **labels
        ) as w:
            for i in range(15):
                w.log(image=image_for(i), confidences=probs_for(i))
    for name in SQUARE:  # 32x32, as the demo's shapes (their whole zooms hit the edge cases)
        x0 = image_for(0, (32, 32, 3))
        with animlib.RunWriter(root, name=name, class_names=CLASSES, original=x0) as w:
            for i in range(3):
                w.log(image=image_for(i, (32, 32, 3)), confidences=probs_for(i))
    srv = Server(root, tmp_path_factory.mktemp("cache"))
    context = chromium_browser.new_context()  # (a fresh server serves "/" first)
    warm = context.new_page()
    warm.goto(srv.url + "/")
    warm.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
    context.close()
    yield srv
    srv.stop()


def settled_boxes(page, names: list[str]) -> list[dict]:
    """The compared runs' column boxes once the layout holds still (two reads 100 ms apart
    agree; at most 5 s): read mid-reflow under load, two columns sat 20 px lower than two
    others of the same row."""

    def read() -> list[dict]:
        return [page.locator(f".animlib-col[data-run='{n}']").bounding_box() for n in names]

    boxes, deadline = read(), time.monotonic() + 5
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        again = read()
        if again == boxes:
            break
        boxes = again
    return boxes


@pytest.mark.parametrize(
    ("runs", "width", "height", "cols"),
    [
        (6, 1920, 1080, 6),  # they were capped at 3 a row: ~580-px columns, two rows
        (6, 2560, 1440, 6),  # (~790-px columns with 240-px images, two rows)
        (4, 2560, 1440, 4),  # (2 x 2)
        (6, 1280, 900, 3),  # 4 would fit ~265 px each, the tables cut: rows of 3, balanced
        (5, 1280, 900, 3),  # 3 + 2
        (4, 1280, 900, 2),  # 2 x 2, not 3 + 1
    ],
)
def test_compared_runs_sit_side_by_side_as_many_as_fit(page, server, runs, width, height, cols):
    """A big screen shows up to 6 runs in one row, each column as wide as its images and an
    uncut step table need; fewer fit: balanced rows."""
    page.set_viewport_size({"width": width, "height": height})
    try:
        open_player(page, server.url + "/compare?runs=" + ",".join(NAMES[:runs]))
        page.focus(PLAYER)
        page.keyboard.press("End")  # "target, argmax": the widest role
        boxes = settled_boxes(page, NAMES[:runs])
        xs = sorted({round(b["x"]) for b in boxes})
        ys = sorted({round(b["y"]) for b in boxes})
        assert len(xs) == cols and len(ys) == -(-runs // cols), boxes
        assert page.evaluate(CUT_CELLS) == []
        for name, col in zip(NAMES[:runs], boxes, strict=True):
            for canvas in page.locator(f".animlib-col[data-run='{name}'] canvas").all():
                box = canvas.bounding_box()
                assert col["x"] <= box["x"], (name, box, col)
                assert box["x"] + box["width"] <= col["x"] + col["width"] + 1, (name, box, col)
        if cols == runs:  # one row: the whole player (images, tables, curves) fits the window
            assert page.locator(PLAYER).bounding_box()["height"] < height
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


WRAPPED = """() => [...document.querySelectorAll('.animlib-pics')].some((p) =>
    new Set([...p.children].map((f) => Math.round(f.getBoundingClientRect().top))).size > 1)"""


def test_a_runs_image_and_perturbation_stay_side_by_side_at_any_width(page, server):
    """At some window widths (830, 960 px for 32-px images) each run's perturbation fell under
    its image, and the page jumped: the images were sized for the player's width with its own
    8 px of padding counted in, ~2 px too wide for their column."""
    page.set_viewport_size({"width": 1300, "height": 900})
    open_player(page, server.url + "/compare?runs=" + ",".join(SQUARE))
    wrapped = []
    for width in range(700, 1300, 10):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        if page.evaluate(WRAPPED):
            wrapped.append(width)
    assert wrapped == []


CUT_LINKS = """() => [...document.querySelectorAll("[data-testid='stPageLink-NavLink'] p")]
    .filter((p) => p.scrollWidth > p.getBoundingClientRect().width + 0.5)
    .map((p) => p.textContent)"""


def test_a_long_link_wraps_in_a_phones_window_instead_of_being_cut(page, server):
    """At 390 px, "Compare 6 runs on …" and the link to the experiments grid ran off their
    box, cut with no ellipsis."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        open_player(page, server.url + "/compare?runs=" + ",".join(NAMES[:2]))
        page.wait_for_selector("[data-testid='stPageLink-NavLink']")
        long = page.get_by_text("Compare 6 runs on imagenet-val-00012345-a-long")
        assert long.bounding_box()["height"] > 30  # (it wraps)
        assert page.evaluate(CUT_LINKS) == []
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


HIDDEN_CHIPS = """() => [...document.querySelectorAll("[data-testid='stMultiSelect'] div")]
    .filter((d) => d.scrollHeight > d.clientHeight + 1)
    .filter((d) => getComputedStyle(d).overflowY != 'visible')
    .length"""


def test_the_picker_shows_all_six_runs_compared_in_a_phones_window(page, server):
    """At 390 px Streamlit's picker box (155 px high) cut the 5th run's chip in half and hid
    the 6th behind a scroll inside it."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        open_player(page, server.url + "/compare?runs=" + ",".join(NAMES))
        page.wait_for_selector("[data-testid='stMultiSelect']")
        box = page.locator("[data-testid='stMultiSelect']").bounding_box()
        assert box["height"] > 200  # six rows of chips
        assert page.evaluate(HIDDEN_CHIPS) == 0
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
