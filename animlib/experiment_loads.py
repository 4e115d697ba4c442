"""The experiments page's cached loads: the experiments with their summary, and the grid's cells."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import streamlit as st

from .reader import Run, open_run_in
from .ui import folder_state, root, run_index


@st.cache_data(show_spinner=False, max_entries=16)
def _experiments(
    where: str, state: tuple[str, int], damaged: frozenset[str]
) -> tuple[list[Any], pd.DataFrame]:
    from .index.experiments import experiment_summary, experiments

    index = run_index(where)  # from the index's columns: no run.json parsed, no folder scan
    return experiments(index), experiment_summary(index, damaged=damaged)


def experiments(
    where: str | None = None, damaged: frozenset[str] = frozenset()
) -> tuple[list[Any], pd.DataFrame]:
    """The experiments of the folder and their summary (``damaged`` runs left out of its
    numbers), re-read when the folder changed or a run went stale (:func:`folder_state`)."""
    where = where or root()
    return _experiments(where, folder_state(run_index(where)), damaged)


@st.cache_data(show_spinner=False, max_entries=16)
def robust_chart(points: pd.DataFrame, param: str) -> Any:
    """:func:`animlib.experiment_views.robust_chart` of ``points`` and ``param``, built once
    per value of both: every rerun of the experiments page (a poll of the folder, a grid step,
    a tick) built it again, ~28 % of a rerun's server time. Keyed by the points' contents
    (every value the chart draws) and not by the folder's version, it is never stale: runs
    that change a point change the key."""
    from .experiment_views import robust_chart as chart

    return chart(points, param=param)


@st.cache_data(show_spinner=False, max_entries=16)
def bar_chart(bars: pd.DataFrame) -> Any:
    """:func:`animlib.experiment_views.robust_bar_chart` of ``bars`` (experiments with
    nothing to sweep over), built once per value of ``bars``, as :func:`robust_chart`."""
    from .experiment_views import robust_bar_chart

    return robust_bar_chart(bars)


GRID_THREADS = 8  # grid cells opened side by side (over object storage each waits on round trips)


def grid_cells(where: str, wanted: list[tuple[str, Any]], step: int) -> dict[str, Any]:
    """The grid's cells (:func:`grid_cell`) of ``wanted`` runs, (run id, version) pairs, at
    ``step``, opened side by side: each costs about 8 round trips to object storage (run.json,
    the arrays' zarr.json, two chunks), so 96 cells one after another took 150 s at 200 ms a
    request. A cell that cannot be made holds its exception instead."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    ctx = get_script_run_ctx()

    def one(item: tuple[str, Any]) -> tuple[str, Any]:
        add_script_run_ctx(threading.current_thread(), ctx)  # (the page's caches)
        run_id, version = item
        try:
            return run_id, grid_cell(where, run_id, version, step)
        except Exception as exc:  # noqa: BLE001 -- the page shows it in the cell's place
            return run_id, exc

    if len(wanted) < 2:
        return dict(map(one, wanted))
    with ThreadPoolExecutor(min(GRID_THREADS, len(wanted)), "animlib-grid") as pool:
        return dict(pool.map(one, wanted))


@st.cache_data(show_spinner=False, max_entries=8192)
def grid_cell(where: str, run_id: str, version: Any, step: int) -> Any:
    """The experiments grid's cell of run ``run_id`` at ``step`` (cached per run version)."""
    from .experiment_grid import cell_for

    return cell_for(_grid_run(where, run_id, version), step)


@st.cache_resource(show_spinner=False, max_entries=128)  # a grid page shows at most 96 cells
def _grid_run(where: str, run_id: str, version: Any) -> Run:
    """Run ``run_id`` opened once per version for the grid's cells: moving the grid's step
    then reads one image per cell instead of opening and checking every run again (48 runs:
    0.4 s)."""
    return open_run_in(where, run_id)
