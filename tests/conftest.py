"""Shared fixtures: small runs written through the public API into temporary folders."""

from __future__ import annotations

import os

import pytest
from helpers import write_run


@pytest.fixture(autouse=True, scope="session")
def _render_cache_outside_home(tmp_path_factory):
    """Renders cached by tests (the CLI's render uses the cache) stay out of the user's cache
    folder; tests that need their own cache set ANIMLIB_CACHE themselves."""
    if os.environ.get("ANIMLIB_CACHE"):
        yield
        return
    os.environ["ANIMLIB_CACHE"] = str(tmp_path_factory.mktemp("render-cache"))
    try:
        yield
    finally:
        os.environ.pop("ANIMLIB_CACHE", None)


@pytest.fixture
def runs_dir(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "alpha")
    write_run(root, "beta", steps=5, attack="FGSM")
    write_run(root, "edit", steps=6, confidences=False, original=False, attack="blur", model=None)
    return root
