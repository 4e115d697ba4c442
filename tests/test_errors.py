"""The error classes: one constructor, each class's default code, and the MISSING test."""

from __future__ import annotations

import pytest

from animlib import errors
from animlib.errors import (
    AnimlibError,
    Code,
    ExperimentInputError,
    ExperimentNamed,
    ExperimentStoreError,
    RenderError,
    RenderLimitError,
    RenderOptionError,
    RunFormatError,
    RunInputError,
    StepIndexError,
    StoreError,
    found,
)

DEFAULTS = {
    AnimlibError: Code.INVALID,
    RunFormatError: Code.INVALID,
    RunInputError: Code.INVALID,
    RenderOptionError: Code.INVALID,
    RenderLimitError: Code.LIMIT,
    RenderError: Code.RENDER,
    StoreError: Code.STORAGE,
    ExperimentInputError: Code.INVALID,
    ExperimentNamed: Code.INVALID,
    ExperimentStoreError: Code.STORAGE,
    StepIndexError: Code.INVALID,
}


@pytest.mark.parametrize(("cls", "code"), DEFAULTS.items(), ids=lambda v: getattr(v, "__name__", v))
def test_each_error_class_has_its_default_code_and_the_shared_constructor(cls, code):
    err = cls("went wrong", field="f")
    assert err.code == code and str(err) == "f: went wrong" and isinstance(err, ValueError)
    assert cls("x", code="missing").code == Code.MISSING
    named = err.with_run("r1")
    if issubclass(cls, ExperimentNamed):  # it names its experiment and sample itself
        assert named is err
        err = cls("went wrong", field="f", experiment="e", sample=3)
        assert str(err) == "experiment 'e' sample 3: f: went wrong"
        return
    assert type(named) is cls and named.code == code and str(named) == "run 'r1': f: went wrong"
    assert named.reason() == "f: went wrong"


def test_every_error_class_is_listed():
    classes = {
        v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, AnimlibError)
    }
    assert classes == set(DEFAULTS)


def test_found_is_false_only_for_a_missing_thing_of_the_given_kind():
    def raises(error):
        def call():
            raise error

        return call

    assert found(lambda: None) is True
    assert found(raises(StoreError("gone", code=Code.MISSING)), StoreError) is False
    assert found(raises(RunFormatError("gone", code=Code.MISSING))) is False
    with pytest.raises(StoreError):  # another code
        found(raises(StoreError("refused")), StoreError)
    with pytest.raises(RunFormatError):  # another kind, even when missing
        found(raises(RunFormatError("gone", code=Code.MISSING)), StoreError)
    with pytest.raises(KeyError):
        found(raises(KeyError("k")))


def test_render_and_storage_errors_name_a_field(tmp_path):
    """Writer misuse, an empty video and a results folder that is a file had ``field`` None."""
    import numpy as np

    import animlib
    from animlib.movie_writers import get_writer

    writer = get_writer("mp4")
    with pytest.raises(errors.RenderError) as e:
        writer.grab_frame(np.zeros((8, 8, 3), np.uint8))
    assert e.value.field == "writer"
    with pytest.raises(errors.RenderError) as e:
        with writer.saving(tmp_path / "x.mp4", (8, 8), 10):
            pass  # no frame
    assert (e.value.field, e.value.code) == ("frames", errors.Code.EMPTY)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(errors.StoreError) as e:
        with animlib.RunWriter(tmp_path / "file", name="r") as w:
            w.log(image=np.zeros((4, 4), np.uint8))
    assert e.value.field
