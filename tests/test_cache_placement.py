"""A render cache inside the results folder is refused: nothing showing runs writes among them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_run
from streamlit.testing.v1 import AppTest

import animlib
from animlib import cache
from animlib.errors import Code, StoreError

APP = str(Path(__file__).resolve().parents[1] / "dashboard.py")
RESULT_NAMES = {"alpha", "beta"}


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for name in sorted(RESULT_NAMES):
        write_run(root, name, steps=3)
    return root


def test_render_with_a_cache_inside_the_results_folder_is_refused(runs, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(runs / "render-cache"))
    run = animlib.open_run(runs / "alpha")
    with pytest.raises(StoreError) as err:
        cache.cached_render(run, "mp4")
    assert err.value.code == Code.INVALID and err.value.field == "ANIMLIB_CACHE"
    assert "inside the results folder" in str(err.value) and str(runs) in str(err.value)
    assert {p.name for p in runs.iterdir()} == RESULT_NAMES  # nothing created there
    assert {r.id for r in animlib.list_runs(runs)} == RESULT_NAMES  # (newest first: any order)
    with pytest.raises(StoreError, match="inside the results folder"):
        animlib.render(run, runs.parent / "a.mp4", cache=True)


def test_a_hidden_cache_folder_in_the_results_folder_is_fine(runs, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(runs / ".cache"))
    path = cache.cached_render(animlib.open_run(runs / "beta"), "mp4")
    assert path.is_file() and path.parent == runs / ".cache"
    assert {i.id for i in animlib.list_runs(runs)} == RESULT_NAMES  # none broken


def test_the_dashboard_says_so_and_writes_nothing(runs, monkeypatch):
    monkeypatch.setenv("ANIMLIB_RUNS", str(runs))
    monkeypatch.setenv("ANIMLIB_CACHE", str(runs / "render-cache"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert "render-cache is inside the results folder" in error.replace("\\", "")
    assert {p.name for p in runs.iterdir()} == RESULT_NAMES  # no index, no strips
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = "alpha"
    at.run()
    assert at.error and {p.name for p in runs.iterdir()} == RESULT_NAMES


def test_the_run_index_is_not_saved_inside_the_results_folder(runs, monkeypatch):
    """ls with such a cache: the index lives in memory, the folder lists no broken run."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(runs / "cachevisible"))
    for _ in range(2):
        assert {i.id for i in animlib.list_runs(runs) if i.ok} == RESULT_NAMES
    assert {p.name for p in runs.iterdir()} == RESULT_NAMES


def test_a_cache_url_of_an_unknown_scheme_is_named_as_the_cache_setting(runs, monkeypatch):
    """It was reported as "url: unknown storage scheme" (the results folder's words) on every
    page and in ``animlib render``, naming neither the variable nor its value."""
    monkeypatch.setenv("ANIMLIB_CACHE", "ftpx://host/renders")
    with pytest.raises(StoreError) as err:
        cache.cached_render(animlib.open_run(runs / "alpha"), "mp4")
    assert err.value.field == "ANIMLIB_CACHE" and "'ftpx://host/renders'" in str(err.value)
    assert "unknown storage scheme 'ftpx'" in str(err.value)
    monkeypatch.setenv("ANIMLIB_RUNS", str(runs))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    (error,) = [e.value.replace("\\", "") for e in at.error]
    assert error.startswith("The dashboard cannot start with this render cache setting: ")
    assert "ANIMLIB_CACHE: 'ftpx://host/renders'" in error
    assert "ftpx://host/renders" in error and "this folder" not in error
