"""End-to-end: hostile names are shown as text, and deep links never reach outside the folder."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from conftest import Server, wait_idle
from helpers import image_for, probs_for

import animlib

pytestmark = pytest.mark.e2e

XSS = "<img src=x onerror=alert(1)>"
PIXEL = "![px](http://127.0.0.1:9/px.png)"  # Markdown image: a tracking pixel if rendered
FORMULAS = ['=HYPERLINK("http://127.0.0.1:9/x";"click")', "+SUM(1,2)", "-2+3", "@SUM(1)"]
HOSTILE = {
    "name": XSS,
    "attack": "<script>alert(2)</script> [ref](javascript:alert(7)) **bold**",
    "model": '"><svg onload=alert(3)>',
    "class_names": [XSS, "<b>bold</b>", "[click](javascript:alert(4))", "**cat**", PIXEL]
    + FORMULAS,
    "tags": [XSS, "source:<img src=y onerror=alert(5)>"],
    "params": {XSS: "<script>alert(6)</script>", "eps": 0.03},
}
SECRET = "TOP-SECRET-ATTACK"  # shown only if a run outside the results folder were opened


def write(root: Path, steps: int = 5, **meta) -> str:
    with animlib.RunWriter(root, true_label=0, original=image_for(0), **meta) as w:
        for i in range(steps):
            w.log(image=image_for(i), confidences=probs_for(i, len(meta["class_names"])))
    return w.run_id


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root, outside = base / "runs", base / "outside"
    hostile = write(root, **HOSTILE)
    twin = write(root, **{**HOSTILE, "name": XSS + " (again)"})
    third = write(root, **{**HOSTILE, "name": XSS + " (third)"})
    write(root, name="plain", class_names=list("abcde"))
    secret = write(outside, name="secret", attack=SECRET, model=SECRET, class_names=list("abcde"))
    return {"root": root, "secret": outside / secret, "ids": [hostile, twin, third]}


@pytest.fixture(scope="module")
def server(folders, tmp_path_factory):
    srv = Server(folders["root"], tmp_path_factory.mktemp("cache"))
    yield srv
    srv.stop()


@pytest.fixture
def dialogs(page):
    """Every JavaScript dialog (alert/confirm/prompt) the page opens; each is dismissed."""
    opened: list[str] = []

    def on_dialog(dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


def assert_inert(page, dialogs: list[str]) -> None:
    """No dialog opened and no hostile markup became a live element, in any frame."""
    page.wait_for_timeout(500)  # give an onerror handler time to fire
    assert dialogs == []
    for frame in page.frames:
        for selector in ("img[src='x']", "img[src='y']", "svg[onload]", "[onerror]", "[onload]"):
            assert frame.locator(selector).count() == 0, (frame.url, selector)
        scripts = frame.locator("script").all_inner_texts()
        assert not any("alert(" in s for s in scripts), frame.url
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.fixture(autouse=True)
def clean_server_log(server):
    """The server logs no traceback while a test of this module runs."""
    log = Path(server.log.name)
    start = log.stat().st_size
    yield
    server.log.flush()
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(start)
        assert "Traceback" not in fh.read()


def test_hostile_strings_are_shown_as_text(page, server, folders, dialogs):
    hostile, twin, _ = folders["ids"]
    page.goto(server.url + "/")
    wait_idle(page, timeout=120_000)
    page.wait_for_selector(f"text={XSS}", state="attached", timeout=30_000)
    assert_inert(page, dialogs)

    page.goto(server.url + f"/viewer?run={quote(hostile)}")
    wait_idle(page, timeout=120_000)
    page.wait_for_selector("[data-testid='animlib-step-table']")  # the player's class names
    title = page.locator("[data-testid='stHeading'] h1").first
    assert title.inner_text().strip() == XSS  # the literal string, as text
    body = page.locator("[data-testid='stMain']").inner_text()
    for text in (
        HOSTILE["attack"],
        HOSTILE["model"],
        "<b>bold</b>",
        "[click](javascript:alert(4))",
    ):
        assert text in body, text
    assert "**cat**" in body and PIXEL in body
    assert page.locator("[data-testid='stMain'] a[href^='javascript']").count() == 0
    assert page.locator("img[src*='px.png']").count() == 0
    page.get_by_role("tab", name="Parameters").click()
    page.wait_for_timeout(300)
    assert XSS in page.locator("[data-testid='stJson']").inner_text()
    assert_inert(page, dialogs)
    assert_csv_is_safe(page, hostile)

    page.goto(server.url + f"/compare?runs={quote(hostile)},{quote(twin)}")
    wait_idle(page, timeout=120_000)
    # the same-source link: the 3 hostile runs and "plain" (the same clean pixels, no name)
    shortcut = "Compare 4 runs on <img src=y onerror=alert(5)>"
    page.get_by_text(shortcut).first.wait_for(timeout=30_000)
    assert XSS in page.locator("[data-testid='stMain']").inner_text()
    assert_metrics_table_is_text(page, [hostile, twin])
    assert_inert(page, dialogs)


def assert_csv_is_safe(page, run_id: str) -> None:
    """The confidences CSV downloads, its header holds every class name as text, and no cell
    starts the way a spreadsheet formula does."""
    button = page.get_by_role("button", name="Confidences CSV")
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"{run_id}-confidences.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    assert header[0] == "step" and len(body) == 5
    for name in HOSTILE["class_names"]:
        shown = "'" + name if name[0] in "=+-@" else name
        assert shown in header, (name, header)
    for cell in (c for row in rows for c in row):
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
        assert not cell.startswith("-") or _is_number(cell), cell


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def assert_metrics_table_is_text(page, run_ids: list[str]) -> None:
    """The compare page's metrics table shows the hostile names, attack and model literally."""
    table = page.locator("[data-testid='stTable']").filter(has_text="final true conf").first
    table.wait_for(timeout=30_000)
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert XSS in headers and f"{XSS} (again)" in headers, headers
    text = table.inner_text()
    for value in (HOSTILE["attack"], HOSTILE["model"], *run_ids):
        assert value in text, (value, text)
    assert table.locator("a, img, script, svg, b").count() == 0


def traversal_ids(secret: Path) -> list[str]:
    """Run ids as typed into a URL that try to leave the results folder (already URL-encoded)."""
    name = secret.name
    return [
        f"../outside/{name}",
        f"%2e%2e%2foutside%2f{name}",
        f"..%2f..%2f{secret.parent.parent.name}%2foutside%2f{name}",
        quote(str(secret), safe=""),
        f"{name}%00",
        "%2e%2e",
    ]


def assert_refused(page, dialogs, count: int = 1) -> None:
    alerts = page.locator("[data-testid='stAlert']")
    refusals = [t for t in alerts.all_inner_texts() if "not a valid run id" in t]
    assert len(refusals) == count, alerts.all_inner_texts()
    assert SECRET not in page.content()
    assert_inert(page, dialogs)


def test_deep_links_never_reach_outside_the_results_folder(page, server, folders, dialogs):
    bad_ids = traversal_ids(folders["secret"])
    for bad in bad_ids:
        page.goto(server.url + f"/viewer?run={bad}")
        wait_idle(page, timeout=60_000)
        assert_refused(page, dialogs)
        assert page.locator("video").count() == 0, bad
    for group in (bad_ids[:3], bad_ids[3:]):
        page.goto(server.url + "/compare?runs=plain," + ",".join(group))
        wait_idle(page, timeout=60_000)
        assert_refused(page, dialogs, count=len({unquote(b) for b in group}))  # deduplicated
        assert (
            "Need at least two readable runs" in page.locator("[data-testid='stMain']").inner_text()
        )
