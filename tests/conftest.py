"""Shared fixtures: small runs written through the public API into temporary folders."""

from __future__ import annotations

import os

import pytest
from helpers import write_run


@pytest.fixture(autouse=True, scope="session")
def cache_outside_home(tmp_path_factory):
    """Run indexes and renders made by the tests go to a temporary cache folder, never to the
    user's ~/.cache (tests that need another one set ANIMLIB_CACHE themselves)."""
    if "ANIMLIB_CACHE" in os.environ:
        yield os.environ["ANIMLIB_CACHE"]
        return
    folder = str(tmp_path_factory.mktemp("animlib-cache"))
    os.environ["ANIMLIB_CACHE"] = folder
    yield folder
    os.environ.pop("ANIMLIB_CACHE", None)


@pytest.fixture
def runs_dir(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "alpha")
    write_run(root, "beta", steps=5, attack="FGSM")
    write_run(root, "edit", steps=6, confidences=False, original=False, attack="blur", model=None)
    return root
