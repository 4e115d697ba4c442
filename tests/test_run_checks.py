"""The checks of a stored run at their boundaries: each edit of a good run gives its own error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr
from helpers import write_run

import animlib
from animlib.errors import Code


def edited(root, name="r", **fields):
    """A good 12-step run (4 classes, true label 0) with ``fields`` set in its run.json."""
    run_id = write_run(root, name)
    path = root / run_id / "run.json"
    meta = json.loads(path.read_text())
    meta.update({k: v(meta) if callable(v) else v for k, v in fields.items()})
    path.write_text(json.dumps(meta))
    return root / run_id


def problem(path):
    """validate's (field, error) of the run at ``path``; what opening and reading it raises."""
    (report,) = animlib.validate(path)
    try:
        animlib.run_metrics(animlib.open_run(path))
        raised = None
    except animlib.AnimlibError as exc:
        raised = (exc.field, exc.message)
    return (report.field, report.error), raised


@pytest.mark.parametrize("label", ["true_label", "target_label"])
def test_a_label_equal_to_the_number_of_classes_is_out_of_range(tmp_path, label):
    """K is the first label past the classes (an off-by-one read an IndexError)."""
    (field, error), raised = problem(edited(tmp_path, **{label: 4}))
    assert field == label and "4 is out of range (expected 0..3)" in error
    assert raised == (label, "4 is out of range (expected 0..3)")


def test_negative_steps_are_named(tmp_path):
    (field, error), raised = problem(edited(tmp_path, steps=-1))
    assert field == "steps" and "must be a non-negative integer; got -1" in error
    assert raised == ("steps", "must be a non-negative integer; got -1")


@pytest.mark.parametrize("value", [1.5, -0.25])
def test_a_float_original_outside_0_1_is_refused(tmp_path, value):
    """Only validate checks the stored original (image steps are checked as they decode)."""
    path = tmp_path / write_run(tmp_path, "r")
    original = zarr.open_array(str(path / "original"), mode="r+")
    pixels = np.asarray(original[...])
    pixels[0, 0, 0] = value
    original[...] = pixels
    (report,) = animlib.validate(path)
    assert report.field == "original" and "float values outside [0, 1]" in report.error


def test_a_flip_step_the_confidences_deny_is_named(tmp_path):
    """Only summary.flip_step edited (final prediction and success still agree)."""
    steps = json.loads((tmp_path / write_run(tmp_path, "probe") / "run.json").read_text())
    flip = steps["summary"]["flip_step"]
    assert flip is not None and flip > 1
    path = edited(tmp_path, summary=lambda m: {**m["summary"], "flip_step": flip - 1})
    (report,) = animlib.validate(path)
    assert report.field == "summary.flip_step" and report.code == Code.MISMATCH
    assert (
        f"run.json says {flip - 1}, the stored confidences and labels give {flip}" in report.error
    )


@pytest.mark.parametrize("names", [["a", "b", "c"], ["a", "b", "c", "d", "e"]])
def test_class_names_one_short_or_one_too_many(tmp_path, names):
    (report,) = animlib.validate(edited(tmp_path, class_names=names))
    assert report.field == "confidences"
    assert f"4 classes in the array but class_names has {len(names)}" in report.error
