"""The standalone HTML render plays, seeks and steps frame by frame in Chromium."""

from __future__ import annotations

import re
import time

import pytest
from helpers import write_run
from playwright.sync_api import expect

import animlib
from animlib.rendering import render

pytestmark = pytest.mark.e2e


def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Poll ``expression`` from Python: the page's CSP has no 'unsafe-eval', and Playwright's
    ``wait_for_function`` compiles its predicate with eval when the first look is false (the
    test failed whenever the page was slower than that first look)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout:g} s: {expression}"
        time.sleep(0.05)


def test_html_plays_and_steps_in_chromium(tmp_path, page):
    run = animlib.open_run(tmp_path / write_run(tmp_path, "html-e2e", steps=12))
    out = render(run, tmp_path / "page.html", stride=2)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    wait_until(page, "document.getElementById('video').readyState >= 2")
    assert page.evaluate("document.getElementById('video').videoWidth") == 1280
    assert page.evaluate("document.getElementById('video').seekable.length") == 1
    for _ in range(2):
        page.click("#next")
    wait_until(page, "document.getElementById('video').currentTime > 0.2")
    readout = page.locator("#readout")
    expect(readout).to_have_text(re.compile(r"^frame 3/7"))  # steps 0, 2, ..., 10 and 11
    assert "step 4 of 11" in readout.inner_text()
    page.click("#prev")
    expect(readout).to_have_text(re.compile(r"^frame 2/7"))
    for _ in range(6):
        page.click("#next")
    expect(readout).to_have_text(re.compile(r"^frame 7/7"), timeout=30_000)
    assert "step 11 of 11" in readout.inner_text()  # the stride keeps the last step
    page.click("#next")  # on the last frame: stays (Chromium's seek to the same time went to 0)
    page.wait_for_timeout(700)
    assert readout.inner_text().startswith("frame 7/7")
    assert page.evaluate("document.getElementById('video').currentTime") > 0.6
    assert errors == []
