"""The standalone HTML render plays, seeks and steps frame by frame in Chromium."""

from __future__ import annotations

import pytest
from helpers import write_run

import animlib
from animlib.rendering import render

pytestmark = pytest.mark.e2e


def test_html_plays_and_steps_in_chromium(tmp_path, page):
    run = animlib.open_run(tmp_path / write_run(tmp_path, "html-e2e", steps=12))
    out = render(run, tmp_path / "page.html", stride=2)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    page.wait_for_function("document.getElementById('video').readyState >= 2")
    assert page.evaluate("document.getElementById('video').videoWidth") == 1280
    assert page.evaluate("document.getElementById('video').seekable.length") == 1
    for _ in range(2):
        page.click("#next")
    page.wait_for_function("document.getElementById('video').currentTime > 0.2")
    assert page.inner_text("#readout").startswith("frame 3/7")  # steps 0, 2, ..., 10 and 11
    assert "step 4 of 11" in page.inner_text("#readout")
    page.click("#prev")
    page.wait_for_function("document.getElementById('readout').textContent.startsWith('frame 2/7')")
    for _ in range(6):
        page.click("#next")
    page.wait_for_function("document.getElementById('readout').textContent.startsWith('frame 7/7')")
    assert "step 11 of 11" in page.inner_text("#readout")  # the stride keeps the last step
    assert errors == []
