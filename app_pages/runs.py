"""Runs page: the runs of the results folder a page at a time, filtered and sorted in the index."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math

import pandas as pd
import pyarrow as pa
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from animlib import deep_verdict, linked_view
from animlib import runs_table as table
from animlib.errors import AnimlibError
from animlib.index import SORTABLE, SUCCESS_LABELS, Query, Result, RunIndex, broken_rows
from animlib.index.query import sorted_param
from animlib.link_state import RUNS_VIEW
from animlib.links import compare_link, viewer_link, viewer_url
from animlib.listing import folder_problem
from animlib.pager import pager, pager_slot
from animlib.protocol import MAX_COMPARE, MIN_COMPARE
from animlib.text import plural
from animlib.ui import (
    PROBLEMS_KEY,
    Problems,
    checked_page,
    deep_check,
    md,
    md_table,
    root,
    run_index,
    stale_listing,
)
from animlib.views import NO_VALUE
from animlib.watching import FolderView, folder_view, rerun_on_folder_change

CHECK_BUDGET_S = 3.0  # seconds per page run for checking arrays of not-yet-checked runs
PAGE_SIZES = (25, 50, 100, 200)
ROW_PX, HEADER_PX = 35, 38  # st.dataframe's row height and header (+ borders)
POLL_S = 2.0  # how often an open page looks for new, changed or removed runs
MAX_BROKEN_SHOWN = 200  # rows of the broken-runs table (its title says how many there are)
NEWEST = "newest first"
STATUSES = ["running", "stale", "finished", "failed"]
FILTER_KEYS = ("f_attack", "f_model", "f_experiment", "f_status", "f_success")
# what a bare link shows: every widget of the view at its default
DEFAULTS = {
    "f_text": "",
    **{key: [] for key in (*FILTER_KEYS, "f_params")},
    "f_sort": NEWEST,
    "f_desc": False,
    "f_rows": PAGE_SIZES[1],
    "f_page": 1,
}
# the table (all rows of the page, scrolling inside) fills the window below the controls
FILL_CSS = "max-height: max(320px, calc(100vh - 470px)) !important;"
_IN_TABLE = ".st-key-runs_table [data-testid='{}']"
FILL_STYLE = (  # the boxes around the table shrink with it: no gap between it and the buttons
    f"{_IN_TABLE.format('stDataFrame')}, {_IN_TABLE.format('stDataFrameResizable')} {{{FILL_CSS}}}"
    f" {_IN_TABLE.format('stFullScreenFrame')}, {_IN_TABLE.format('stElementContainer')}"
    " {height: auto !important; flex: 0 0 auto !important;}"
)
COLUMN_CONFIG = {
    "open": st.column_config.LinkColumn("", display_text="view", width=table.LINK_WIDTH),
    "name": st.column_config.TextColumn("name", width=table.NAME_WIDTH),
    "steps": st.column_config.NumberColumn("steps", format="%d"),
    "success": st.column_config.CheckboxColumn("success"),
    "flip_step": st.column_config.NumberColumn(
        table.column_label("flip_step"),
        format="%d",
        help="The first step whose prediction left the true class (reached the target) in a "
        "successful run; none when the attack failed, also after fooling the model at an "
        "earlier step; 0: the model was wrong before the attack",
    ),
    "final_true_conf": st.column_config.ProgressColumn(
        table.column_label("final_true_conf"), min_value=0.0, max_value=1.0, format="%.3f"
    ),
    "linf": st.column_config.NumberColumn(table.column_label("linf"), format="%.4f"),
    "l2": st.column_config.NumberColumn(table.column_label("l2"), format="%.3f"),
    "created": st.column_config.DatetimeColumn(
        table.column_label("created"), format="YYYY-MM-DD HH:mm"
    ),
}

st.title("Runs")
where = root()
st.caption(f"Results folder: `{where}`")


def first_page() -> None:
    """A new filter, sort or page size starts again at page 1 (and the link's problems, if
    any, are no longer the view's)."""
    st.session_state["f_page"] = 1
    linked_view.view_changed("runs")


# the filters whose choices cover every run (not attack, model, experiment: a run may have none)
COVERING = ("f_status", "f_success")


def filter_changed(key: str, options: list[str]) -> None:
    """A filter holding every choice of one that covers every run filters nothing: it is
    cleared (it counted as a filter in use, and the caption and the link named every choice),
    then page 1."""
    if key in COVERING and set(st.session_state.get(key) or []) >= set(options):
        st.session_state[key] = []
    first_page()


def clear_filters() -> None:
    for key in FILTER_KEYS:
        st.session_state[key] = []
    first_page()


def restore_view(facets: dict[str, list[str]], sort_options: list[str]) -> bool:
    """The search, filters, sort, columns and page start from the link (the experiments page
    links here with ``experiment=``), else from where this session left them."""
    options = {
        "f_attack": facets["attack"],
        "f_model": facets["model"],
        "f_experiment": facets["experiment"],
        "f_status": STATUSES,
        "f_success": list(SUCCESS_LABELS),
        "f_sort": sort_options,
        "f_rows": PAGE_SIZES,
        "f_params": facets["params"],
    }
    moved = linked_view.restore_view(RUNS_VIEW, name="runs", options=options, defaults=DEFAULTS)
    linked_view.show_link_problems("runs")
    return moved


def fresh_identity(moved: bool, options: list[str]) -> dict:
    """A multiselect's arguments for the page run after a Back or Forward (``moved``): the
    browser still holds the old choices of a closed popover's widgets and sent them back at the
    next page run (the filter came back); another identity for this one run (max_selections is
    part of it) makes it drop them."""
    return {"max_selections": len(options) + 1} if moved and options else {}


def param_columns(place: DeltaGenerator, options: list[str], moved: bool = False) -> list[str]:
    """The Parameters picker: run parameters shown as columns (``moved``: see
    :func:`fresh_identity`)."""
    return place.multiselect(
        "Parameter columns",
        options,
        key="f_params",
        default=held("f_params", options),
        placeholder="e.g. eps" if options else "no parameters",
        disabled=not options,
        help="Show run parameters (`params` in run.json) as columns; sort by them in Sort by. "
        "Search finds runs by `name=value` too, e.g. `eps=0.1`.",
        **fresh_identity(moved, options),
    )


def filters(
    place: DeltaGenerator, facets: dict[str, list[str]], moved: bool = False
) -> dict[str, list[str]]:
    """The filters, in a popover whose label counts the ones in use (the caption names them):
    kept out of sight, the page is ready sooner (the browser builds no drop-down until asked)."""
    active = sum(bool(st.session_state.get(key)) for key in FILTER_KEYS)
    label = f"Filters · {active}" if active else "Filters"
    attacks, models, outcomes = facets["attack"], facets["model"], list(SUCCESS_LABELS)

    def again(key: str, options: list[str]) -> dict:
        return {"key": key, "default": held(key, options), "on_change": filter_changed,
                "args": (key, options), **fresh_identity(moved, options)}  # fmt: skip

    with place.popover(label, icon=":material/filter_list:", key="p_filters"):
        experiments = facets["experiment"]
        chosen = {
            "attacks": st.multiselect("Attack", attacks, **again("f_attack", attacks)),
            "models": st.multiselect("Model", models, **again("f_model", models)),
            "experiments": st.multiselect(
                "Experiment",
                experiments,
                placeholder="Choose options" if experiments else "no experiments",
                disabled=not experiments,
                help="The runs of BatchWriter experiments (one run per image)",
                **again("f_experiment", experiments),
            ),
            "statuses": st.multiselect("Status", STATUSES, **again("f_status", STATUSES)),
            "success": st.multiselect(
                "Outcome",
                outcomes,
                format_func=table.outcome_word,
                help="Whether the attack fooled the classifier (n/a: runs without a true label "
                "or confidences); the run's own failure is a Status",
                **again("f_success", outcomes),
            ),
        }
        st.button("Clear filters", key="clear_filters", on_click=clear_filters, disabled=not active)
    return chosen


def held(key: str, options: list[str]) -> list[str]:
    """The values a popover's multiselect holds, as its default: a widget in a popover never
    opened is drawn at its first opening from its default, not from the session (a list of
    25 rows per page appeared while the page showed 50, and the next change applied it)."""
    return [value for value in st.session_state.get(key) or [] if value in options]


def sort_option_label(option: str) -> str:
    """A Sort by choice as the table's header reads (the value stays the column id)."""
    return option if option == NEWEST else table.column_label(option)


def query_from_widgets(index: RunIndex) -> tuple[Query, list[str], DeltaGenerator]:
    """The search box and the Filters, Sort and View popovers as an index query (without the
    page), the parameters to show as columns, and the place left for the pager (filled once
    the number of pages is known)."""
    facets = index.facets()
    by_param = [table.param_column(p) for p in facets["params"]]
    options = [NEWEST, *SORTABLE, *by_param]
    moved = restore_view(facets, options)
    # one row that wraps as a whole on a narrow window (two columns wrapped the buttons above
    # the search box's label)
    bar = st.container(horizontal=True, vertical_alignment="bottom")
    again = {"on_change": first_page}
    text = bar.text_input(
        "Search", placeholder="name, tag, source, eps=0.1…", key="f_text", width=300, **again
    )
    chosen = filters(bar, facets, moved)
    if st.session_state.get("f_sort") not in options:
        st.session_state["f_sort"] = NEWEST  # e.g. a parameter no run sets any more
    now = st.session_state["f_sort"]
    label = "Sort: " + table.sort_summary(
        "" if now == NEWEST else now, bool(st.session_state.get("f_desc")), NEWEST
    )
    with bar.popover(label, icon=":material/sort:", key="p_sort"):
        sort = st.selectbox(
            "Sort by",
            options,
            key="f_sort",
            index=options.index(now),
            format_func=sort_option_label,
            accept_new_options=moved,  # (another identity after a Back: see fresh_identity)
            **again,
        )
        descending = st.toggle(
            "Descending",
            key="f_desc",
            value=bool(st.session_state.get("f_desc")),
            disabled=sort == NEWEST,
            **again,
        )
    with bar.popover("View", icon=":material/view_column:", key="p_view"):
        shown = param_columns(st.container(), facets["params"], moved)
        rows = st.session_state.get("f_rows", PAGE_SIZES[1])
        st.selectbox(
            "Rows per page",
            PAGE_SIZES,
            key="f_rows",
            index=PAGE_SIZES.index(rows) if rows in PAGE_SIZES else 1,
            accept_new_options=moved,
            **again,
        )
    by = sorted_param(sort)
    if by is not None and by not in shown:
        shown = [*shown, by]  # the column sorted by is shown
    query = Query(
        **{field: tuple(values) for field, values in chosen.items()},
        text=text,
        sort="" if sort == NEWEST else sort,
        descending=descending,
    )
    return query, shown, pager_slot(bar)


def grid_link(experiments: tuple[str, ...]) -> None:
    """With experiments filtered, a link to their images on the experiments page."""
    if experiments:
        st.page_link(
            "app_pages/experiments.py",
            label=f"Their images in the grid ({len(experiments)} experiments)"
            if len(experiments) > 1
            else "Their images in the grid",
            icon=":material/grid_view:",
            query_params={"ids": ",".join(experiments)},
        )


def fetch(index: RunIndex, q: Query, problems: Problems) -> tuple[Result, int, int, int]:
    """The page of ``q`` chosen in the page selector (the last one when there are fewer
    pages now): its result, rows left unchecked, the page number and how many pages."""
    rows = int(st.session_state.get("f_rows", PAGE_SIZES[1]))
    page = max(1, int(st.session_state.get("f_page", 1)))
    for _ in range(2):
        paged = dataclasses.replace(q, offset=(page - 1) * rows, limit=rows)
        result, unchecked = checked_page(index, paged, where, problems, budget_s=CHECK_BUDGET_S)
        pages = max(1, math.ceil(result.matched / rows))
        if page <= pages:
            break
        page = pages
    return result, unchecked, page, pages


def show_caption(
    result: Result, shown: int, offset: int, unchecked: int, filtered: str = ""
) -> None:
    counts = result.counts
    st.caption(
        f"{result.matched:,} of {plural(counts.total, 'run')} shown"
        + (f" · {md(filtered)}" if filtered else "")
        + (
            f" · rows {offset + 1:,}–{offset + shown:,} (a header click sorts these; Sort, "
            "every run)"
            if shown < result.matched
            else ""
        )
        + (f" · {counts.running:,} running (refreshing every 2 s)" if counts.running else "")
        + (f" · {counts.broken:,} broken" if counts.broken else "")
        + (f" · arrays of {plural(unchecked, 'run')} not checked yet" if unchecked else "")
        + f" · select {MIN_COMPARE}–{MAX_COMPARE} rows to compare"
    )


def column_config(shown: pd.DataFrame, params: list[str]) -> dict[str, object]:
    """:data:`COLUMN_CONFIG`, long attack/model names' width, parameters' (6 digits)."""
    config: dict[str, object] = dict(COLUMN_CONFIG)
    for column in table.capped_columns(shown):  # (a long attack or model name is cut)
        config[column] = st.column_config.TextColumn(column, width=table.TEXT_WIDTH)
    for name in params:
        column = table.param_column(name)
        label = table.column_label(column)
        if pd.api.types.is_float_dtype(shown[column]):
            config[column] = st.column_config.NumberColumn(label, format="%g")
        else:
            config[column] = st.column_config.TextColumn(label)
    return config


def show_table(shown: pd.DataFrame, params: list[str]) -> list[str]:
    """The page of runs as a selectable table; returns the selected run ids.

    The selection is kept by run id: the table's key changes with the rows shown, and the runs
    selected before are selected again wherever they are now (a position never moves to
    another run when a filter, a sort or a new run reorders the table). Runs selected on
    another page, or hidden by a search, stay selected (a run of page 1 and one of page 2 can
    be compared) until the selection is cleared (:func:`show_actions`).
    """
    ids = shown["id"].tolist()
    before = st.session_state.get("selected_runs", [])
    chosen = table.selected_positions(ids, before)
    st.html(f"<style>{FILL_STYLE}</style>")
    cleared = st.session_state.get("selection_cleared", 0)  # (a new table, nothing selected)
    event = st.container(key="runs_table").dataframe(
        shown,
        key=table.selection_key("runs_table", ids) + (f"-{cleared}" if cleared else ""),
        hide_index=True,
        height=HEADER_PX + ROW_PX * max(1, len(shown)),
        on_select="rerun",
        selection_mode="multi-row",
        selection_default={"selection": {"rows": chosen}},
        column_order=table.column_order(params),
        column_config=column_config(shown, params),
        placeholder=NO_VALUE,
    )
    here = [ids[i] for i in event.selection.rows if i < len(ids)] if event else []
    shown_ids = set(ids)
    if set(here) != {r for r in before if r in shown_ids}:  # this page's selection changed
        before = [*(r for r in before if r not in shown_ids), *here]
    st.session_state["selected_runs"] = before
    return before


def clear_selection() -> None:
    """Nothing selected, on any page (the table gets a new key: its rows unselected)."""
    st.session_state["selected_runs"] = []
    st.session_state["selection_cleared"] = st.session_state.get("selection_cleared", 0) + 1


def show_actions(
    index: RunIndex, selected: list[str], selected_here: list[str], problems: Problems
) -> DeltaGenerator:
    """Open / compare buttons for the selection (``selected_here``: those on the page shown),
    same-source shortcuts; returns the column left for the "Check every chunk" button."""
    c1, c2, c3 = st.columns([2, 2, 6])
    if elsewhere := len(selected) - len(selected_here):
        c1.caption(f"{plural(len(selected), 'run')} selected, {elsewhere} not shown here")
        c1.button("Clear selection", key="clear_selection", on_click=clear_selection)
    # page links: in this tab, so Back returns to this view (Ctrl/middle click: a new tab)
    if len(selected) == 1:
        viewer_link(c1, selected[0], "**Open selected run**")
    elif MIN_COMPARE <= len(selected) <= MAX_COMPARE:
        compare_link(c1, selected, f"**Compare {len(selected)} runs**")
    elif len(selected) > MAX_COMPARE:
        c1.warning(f"Select at most {MAX_COMPARE} runs to compare.")
    groups = {
        source: [r for r in ids if r not in problems]
        for source, ids in index.same_source(selected).items()
    }
    for source, ids, total in table.shortcuts(groups, selected)[:3]:
        count = f"All {len(ids)}" if total <= len(ids) else f"{len(ids)} of {total}"
        compare_link(c2, ids, f"{count} runs on {md(table.source_label(source))}")
    return c3


def show_broken(index: RunIndex, problems: Problems, count: int) -> None:
    found = [info for _, info in problems.values()]
    broken = table.problems_frame(broken_rows(index.table), found, MAX_BROKEN_SHOWN)
    if len(broken):
        with st.expander(f"Broken runs ({count:,})", expanded=True):
            if count > len(broken):
                st.caption(f"The first {len(broken)} by id.")
            st.table(md_table(broken.set_index("id")))


def matching(index: RunIndex, q: Query) -> pa.Table:
    """The rows of every run matching ``q`` (no paging)."""
    return index.query(dataclasses.replace(q, offset=0, limit=None)).rows


def matching_csv(index: RunIndex, q: Query) -> bytes:
    """Every run matching ``q`` (no paging) as CSV: made when the button is clicked."""
    return table.runs_csv(matching(index, q))


def run_deep_check(index: RunIndex, problems: Problems, q: Query) -> str:
    """Check every chunk of every run the filters and search match (every run without any:
    6,144 runs took ~1 min whatever was shown); returns what it found."""
    filtered = bool(table.filter_summary(q) or q.text.strip())
    return deep_check(
        index, where, problems, matching(index, q)["id"].to_pylist() if filtered else None
    )


def runs_page() -> FolderView | None:
    """The page; returns the :func:`~animlib.watching.folder_view` it showed (None: the folder
    could not be read) for the poller."""
    try:
        index = run_index(where)
    except Exception as exc:  # a missing or unreadable folder must not crash the page
        if not isinstance(exc, (AnimlibError, OSError)):  # a bug: its traceback to the log
            logging.getLogger("animlib").warning("cannot list runs in %s", where, exc_info=True)
        st.error(f"Cannot list runs in {md(where)}: {md(folder_problem(exc, where))}")
        return None
    notice = stale_listing(index)
    if not index.table.num_rows:
        st.info(
            f"No runs in {md(where)} yet. Write some with `animlib.RunWriter`, or run "
            "`python -m animlib demo --out runs`."
        )
        return folder_view(index, notice)
    q, params, page_slot = query_from_widgets(index)
    # damaged arrays: the rows shown are checked (quick, cached, in a time budget; every chunk on
    # request); runs found broken are kept by id and run.json version, left out of every page
    problems: Problems = st.session_state.setdefault(PROBLEMS_KEY, {})
    verdict, current = deep_verdict.kept(index, st.session_state)  # (of runs changed since?)
    if not current and st.session_state.get(deep_verdict.ASKED):
        verdict = deep_verdict.keep(index, st.session_state, run_deep_check(index, problems, q))
        current = True
    result, unchecked, page, pages = fetch(index, q, problems)
    rows = int(st.session_state.get("f_rows", PAGE_SIZES[1]))
    shown = table.page_frame(result.rows, params)
    shown.insert(0, "open", [viewer_url(r) for r in shown["id"]])
    st.session_state["f_page"] = page
    pager(page_slot, page, pages, state_key="f_page")
    linked_view.keep_view(RUNS_VIEW, name="runs", defaults=DEFAULTS)
    show_caption(result, len(shown), (page - 1) * rows, unchecked, table.filter_summary(q))
    if not result.matched and (hint := table.search_hint(q.text)):
        st.caption(hint)
    grid_link(q.experiments)
    selected = show_table(shown, params)
    here = [r for r in selected if r in set(shown["id"])]
    spare = show_actions(index, selected, here, problems).container(
        horizontal=True, horizontal_alignment="right"
    )
    spare.download_button(
        f"Download {plural(result.matched, 'run')} (CSV)",
        data=functools.partial(
            matching_csv, index, dataclasses.replace(q, exclude=tuple(problems))
        ),
        file_name="runs.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        disabled=not result.matched,
        help="Every run the filters and search match (all pages), in this order, with all its "
        "parameters as params.NAME columns",
    )
    show_broken(index, problems, result.counts.broken)
    if not current:
        spare.button(
            "Check every chunk",
            key="deep_check_button",
            help="Read every stored step of every run the filters and search match (of every "
            "run without any) and list the damaged ones as broken",
            on_click=lambda: st.session_state.update({deep_verdict.ASKED: True}),
        )
    if verdict is not None:
        spare.caption(verdict)
    return folder_view(index, notice)


rerun_on_folder_change(runs_page(), where, every=POLL_S)
