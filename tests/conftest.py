"""Shared fixtures: small runs written through the public API into temporary folders."""

from __future__ import annotations

import pytest
from helpers import write_run


@pytest.fixture
def runs_dir(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "alpha")
    write_run(root, "beta", steps=5, attack="FGSM")
    write_run(root, "edit", steps=6, confidences=False, original=False, attack="blur", model=None)
    return root
