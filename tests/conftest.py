"""Shared fixtures: small runs written through the public API into temporary folders."""

from __future__ import annotations

import os
import signal

import pytest
from helpers import write_run

# A process started in the background by a script (`cmd &`, nohup) ignores Ctrl-C, and so do
# the processes it starts: the tests of what Ctrl-C does need Python's own handler back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
