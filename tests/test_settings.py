"""One owner per setting: environment variables, limits and render options."""

from __future__ import annotations

import pytest

from animlib.errors import Code, RenderLimitError, RenderOptionError, RunFormatError
from animlib.limits import check_side, check_steps
from animlib.options import RenderOptions
from animlib.settings import Settings, runs_root


def test_settings_come_from_animlib_variables_with_defaults():
    with pytest.warns(UserWarning, match="ANIMLIB_MAX_DPI='oops'"):
        s = Settings.from_env({"ANIMLIB_MAX_STEPS": "30", "ANIMLIB_MAX_DPI": "oops"})
    assert s.max_steps == 30 and s.max_dpi == Settings().max_dpi == 400
    assert Settings.from_env({"ANIMLIB_DEEP_CHECK_MB": "2"}).deep_check_bytes == 2 * 2**20
    assert Settings.from_env({"ANIMLIB_CACHE": "s3://b/p"}).cache_location() == "s3://b/p"
    assert (
        Settings.from_env(
            {},
        ).cache_location({"XDG_CACHE_HOME": "/x"})
        == "/x/animlib"
    )


def test_runs_root_prefers_the_flag_then_the_variable():
    assert runs_root(["--runs", "a"], {"ANIMLIB_RUNS": "b"}) == "a"
    assert runs_root([], {"ANIMLIB_RUNS": "b"}) == "b"
    assert runs_root([], {}) == "runs"


def test_limit_messages_name_the_variable(monkeypatch):
    monkeypatch.setenv("ANIMLIB_MAX_STEPS", "30")
    with pytest.raises(RunFormatError) as info:
        check_steps(40, run="r")
    assert str(info.value) == "run 'r': steps: 40 steps exceed the limit of 30 (ANIMLIB_MAX_STEPS)"
    assert info.value.code == Code.LIMIT
    with pytest.raises(RunFormatError, match="2000x10 images exceed the limit of 1024 px"):
        check_side(2000, 10)


@pytest.mark.parametrize(
    ("given", "field", "text"),
    [
        ({"fps": 0}, "fps", "must be a number in (0, 120]; got 0"),
        ({"fps": 0.0}, "fps", "must be a number in (0, 120]; got 0"),
        ({"fps": float("nan")}, "fps", "got nan"),
        ({"stride": 0}, "stride", "must be an integer in [1, 1000000]; got 0"),
        ({"stride": 1.5}, "stride", "got 1.5"),
        ({"top_k": True}, "top_k", "got True"),
        ({"amplification": -1}, "amplification", "or None; got -1"),
    ],
)
def test_render_options_are_checked_once_with_one_message(given, field, text):
    with pytest.raises(RenderOptionError) as info:
        RenderOptions.of(given)
    assert info.value.field == field and text in info.value.message
    assert info.value.code == Code.INVALID


def test_unknown_render_options_are_refused_not_dropped():
    with pytest.raises(RenderOptionError) as info:
        RenderOptions.of({"fsp": 5})
    assert info.value.code == Code.UNKNOWN_OPTION and info.value.field == "fsp"
    base = RenderOptions(fps=5)
    assert RenderOptions.of(base, stride=2) == RenderOptions(fps=5, stride=2)
    assert RenderOptions.of(base) is base


def test_dpi_limit_is_a_limit_error(monkeypatch):
    monkeypatch.setenv("ANIMLIB_MAX_DPI", "150")
    with pytest.raises(RenderLimitError, match="200 dpi is above the limit of 150"):
        RenderOptions(dpi=200)


def test_every_error_class_is_exported_from_the_package():
    import animlib
    from animlib import errors

    for name in ("AnimlibError", "RunFormatError", "RunInputError", "RenderOptionError",
                 "RenderLimitError", "RenderError", "StoreError", "Code",
                 "ExperimentInputError", "ExperimentStoreError", "StepIndexError"):  # fmt: skip
        assert getattr(animlib, name) is getattr(errors, name)
        assert name in animlib.__all__


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", "-5", "abc", "0", "0.5"])
def test_a_limit_that_is_no_number_at_least_1_is_the_default_with_a_warning(value):
    """``ANIMLIB_MAX_SIDE=inf`` raised OverflowError in every call (every page, every command);
    ``-5`` (and ``0``) refused every image; ``abc`` was the default without a word."""
    from animlib.settings import Settings

    with pytest.warns(UserWarning, match=f"ANIMLIB_MAX_SIDE='{value}' is not a number >= 1"):
        got = Settings.from_env({"ANIMLIB_MAX_SIDE": value, "ANIMLIB_STALE_SECONDS": "0"})
    assert got.max_side == 1024 and got.stale_seconds == 0  # (0 s: stale at once, a choice)
    with pytest.warns(UserWarning, match="ANIMLIB_STALE_SECONDS='-1' is not a number >= 0"):
        assert Settings.from_env({"ANIMLIB_STALE_SECONDS": "-1"}).stale_seconds == 600


def test_the_reload_interval_is_at_least_half_a_second():
    """``ANIMLIB_RELOAD_SECONDS``: how often a page of finished runs looks again (10 s); 0 would
    make its watcher look without a pause."""
    from animlib.settings import Settings

    assert Settings.from_env({}).reload_seconds == 10
    assert Settings.from_env({"ANIMLIB_RELOAD_SECONDS": "2.5"}).reload_seconds == 2.5
    with pytest.warns(UserWarning, match="ANIMLIB_RELOAD_SECONDS='0' is not a number >= 0.5"):
        assert Settings.from_env({"ANIMLIB_RELOAD_SECONDS": "0"}).reload_seconds == 10


def test_no_jit_is_a_setting_as_the_others():
    from animlib.settings import Settings

    assert [Settings.from_env({"ANIMLIB_NO_JIT": v}).no_jit for v in ("", "0", "1", "yes")] == [
        False, False, True, True
    ]  # fmt: skip
