"""Experiments page: a row per experiment, robust accuracy against ε (or another swept
parameter), an image x experiment grid."""

from __future__ import annotations

import functools
import math
import time

import pandas as pd
import streamlit as st

from animlib import chart_lines, grid_start, image_tables, linked_view
from animlib import experiment_columns as columns
from animlib import experiment_grid as grid
from animlib import experiment_views as views
from animlib.errors import AnimlibError, Code
from animlib.experiment_loads import bar_chart, experiments, grid_cells, robust_chart
from animlib.experiment_notes import experiment_warnings
from animlib.experiments import ExperimentInfo, missing_runs, unreadable_samples
from animlib.index import broken_rows
from animlib.index import grid as indexed
from animlib.index.checks import checking, damaged_sample_runs, start_checking
from animlib.link_state import EXPERIMENTS_VIEW, none_such, not_one_of, page_in_link
from animlib.links import experiment_runs_url
from animlib.listing import folder_problem
from animlib.protocol import MAX_COMPARE
from animlib.runs_table import selected_positions, selection_key
from animlib.text import plural, printable, some_of
from animlib.ui import md, query_param, root, run_index, stale_listing
from animlib.views import NO_VALUE
from animlib.watching import folder_view, rerun_on_folder_change, rerun_when_changed

ROWS_PER_PAGE = 16
CHECKS_POLL_S = 2.0  # seconds between looks at the background check of sample runs' arrays
FILTERS = {"e_text": "", "e_attack": [], "e_model": []}  # the table's filters on a bare link
POLL_S = 2.0  # how often the page looks for new or changed runs (at the least)


@st.cache_data(show_spinner=False, max_entries=16)
def smallest_value(
    where: str, signature: str, points: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The smallest value of the swept parameter that fooled the model per image and sweep of
    the chart's ``points``, and its median per sweep
    (:func:`animlib.image_tables.smallest_value`), once per folder version."""
    outcomes = indexed.outcomes(run_index(where), list(points["experiment"]))
    return image_tables.smallest_value(outcomes, points)


@st.cache_data(show_spinner=False, max_entries=16)
def grid_outcomes(where: str, signature: str, chosen: tuple[str, ...]) -> pd.DataFrame:
    """The grid's outcomes (:func:`animlib.experiment_grid.outcomes`: one row per run), read
    from the run index once per folder version (``signature``) and grid."""
    return indexed.outcomes(run_index(where), chosen)


@st.cache_data(show_spinner=False, max_entries=16)
def grid_rows(where: str, signature: str, chosen: tuple[str, ...]) -> list[grid.GridRow]:
    """The grid's rows (:func:`animlib.experiment_grid.grid_rows`: one per source image), read
    from the run index once per folder version (``signature``) and grid."""
    return indexed.grid_rows(run_index(where), chosen)


@st.cache_data(show_spinner=False, max_entries=16)
def flip_table(
    where: str, signature: str, chosen: tuple[str, ...], runs: tuple[str, ...] | None
) -> pd.DataFrame:
    """The grid's flip steps per image and experiment
    (:func:`animlib.image_tables.flip_steps`; only of ``runs`` when given: the images
    shown), once per folder version and grid."""
    outcomes = grid_outcomes(where, signature, chosen)
    if runs is not None:
        outcomes = outcomes[outcomes["run"].isin(runs)]
    return image_tables.flip_steps(outcomes, chosen)


@st.cache_data(show_spinner=False, max_entries=16)
def class_table(where: str, signature: str, chosen: tuple[str, ...]) -> pd.DataFrame:
    """The grid's success rate per true class and experiment
    (:func:`animlib.image_tables.success_by_class`), once per folder version and grid."""
    return image_tables.success_by_class(grid_outcomes(where, signature, chosen), chosen)


@st.cache_data(show_spinner=False, max_entries=4)
def image_sets(where: str, signature: str) -> dict[str, str]:
    """Which images each experiment attacked (:func:`animlib.index.grid.image_sets`), once
    per folder version."""
    return indexed.image_sets(run_index(where))


@st.cache_data(show_spinner=False, max_entries=16)
def outcomes_csv(where: str, signature: str, chosen: tuple[str, ...]) -> bytes:
    """The grid's outcomes as CSV, made once per folder version (``signature``) and grid."""
    return grid.outcomes_to_csv(grid_outcomes(where, signature, chosen))


def unreadable_ids(e: ExperimentInfo, broken_ids: list[str], most: int) -> list[str]:
    """The runs among ``broken_ids`` named like sample runs of ``e`` (Markdown escaped)."""
    return [md(r) for r in unreadable_samples(e.id, broken_ids)][:most]


def grid_link() -> dict[str, str]:
    """The grid's part of the page's link."""
    return {name: query_param(name) for name in ("ids", "step", "order", "only", "image", "page")}


where = root()
st.title("Experiments")
started = time.monotonic()
try:
    listed = run_index(where)
    seen = folder_view(listed, stale_listing(listed))
    # sample runs whose arrays cannot be read count in no number (the runs page's check): the
    # verdicts known; the runs with none are checked in the background (~100 a second)
    damaged, unchecked = damaged_sample_runs(listed, budget_s=0)
    if unchecked:
        start_checking(listed)
    exps, summary = experiments(where, frozenset(damaged))
except Exception as exc:  # a missing or unreadable folder must not crash the page
    st.error(f"Cannot list experiments in {md(where)}: {md(folder_problem(exc, where))}")
    rerun_on_folder_change(None, where, every=POLL_S)  # shown again once it can be read
    st.stop()
# a running experiment's steps show as they come (a big folder, slow to summarize, less often)
took = time.monotonic() - started
rerun_on_folder_change(seen, where, every=min(max(POLL_S, 4 * took), 30.0))
if unchecked:  # the page again once the background check is done
    rerun_when_changed(True, lambda: checking(listed), every=CHECKS_POLL_S)
if not exps:
    st.info(
        "No experiments yet: log a batch with `animlib.BatchWriter` (or an adapter in "
        "`animlib.integrations`), or run `python -m animlib demo --out runs`."
    )
    st.stop()

swept = views.sweep_params(exps) or [views.EPS]
if "e_sweep" not in st.session_state:
    asked_sweep = query_param("sweep")
    asked_sweep = views.EPS if views.param_column(asked_sweep) == views.EPS else asked_sweep
    st.session_state.e_sweep = asked_sweep if asked_sweep in swept else swept[0]
    if asked_sweep and asked_sweep not in swept:  # (shown until another sweep is picked)
        st.session_state.e_sweep_problem = not_one_of("sweep", asked_sweep, swept)
elif st.session_state.e_sweep not in swept:  # its experiments are gone
    st.session_state.e_sweep = swept[0]
cols = st.columns([2, 2, 3, 2] if len(swept) > 1 else [2, 2, 3])
if len(swept) > 1:
    cols[3].selectbox(
        "Sweep over",
        swept,
        format_func=lambda name: f"{views.param_label(name)} (params.{name})",
        key="e_sweep",
        help="The parameter the chart, the smallest-value table and the grid's start follow",
        on_change=lambda: st.session_state.pop("e_sweep_problem", None),
    )
if sweep_problem := st.session_state.get("e_sweep_problem"):
    st.warning(md(sweep_problem), icon=":material/link_off:")
sweep = st.session_state.e_sweep
sweep_label = md(views.param_label(sweep))  # a parameter name is the user's: shown as text
link = {"sweep": None if sweep == swept[0] else sweep}  # (written with the grid's, at once)
frame = views.experiment_table(exps, summary, sweep=sweep)
column = views.param_column(sweep)
choices = {"e_attack": sorted(frame["attack"].unique()), "e_model": sorted(frame["model"].unique())}
# the filters live in the link too (and in the session, for coming back from another page)
linked_view.restore_view(EXPERIMENTS_VIEW, name="experiments", options=choices, defaults=FILTERS)
linked_view.show_link_problems("experiments")
again = {"on_change": linked_view.view_changed, "args": ("experiments",)}
attacks = cols[0].multiselect("Attack", choices["e_attack"], key="e_attack", **again)
models = cols[1].multiselect("Model", choices["e_model"], key="e_model", **again)
text = cols[2].text_input(
    "Search", placeholder="experiment, attack, tag, eps=0.1…", key="e_text", **again
)
linked_view.keep_view(EXPERIMENTS_VIEW, name="experiments", defaults=FILTERS)
shown = views.filter_experiments(frame, attacks=attacks, models=models, text=text)
broken = broken_rows(run_index(where).table)  # their runs count in no experiment
unread = broken.num_rows
st.caption(
    f"{len(shown)} of {plural(len(frame), 'experiment')} shown"
    + " · select rows to put them in the grid"
    + (f" · {views.unread_note(unread)} ([runs page](./) lists them)" if unread else "")
    + (
        f" · checking the arrays of {plural(unchecked, 'sample run')} (a damaged one counts "
        "until then)"
        if unchecked
        else ""
    )
)
broken_ids = [*(broken.column("id").to_pylist() if unread else []), *damaged]
lacking = [
    (md(e.id), n, e.get("n_samples") or e.get("n_runs"), unreadable_ids(e, broken_ids, n))
    for e in exps
    if (n := missing_runs(e) + sum(1 for r in e.run_ids if r in damaged))
]
for warning in experiment_warnings(lacking, exps, escape=md):
    st.warning(warning, icon=":material/warning:")
shown_ids = list(shown["experiment"])
table = shown.assign(runs=[experiment_runs_url([e]) for e in shown_ids])
if "grid_ids" not in st.session_state:  # (the grid starts again: dropped with its widget)
    st.session_state.grid_picked = []
ticked_before = st.session_state.get("grid_picked", [])
event = st.dataframe(
    table,
    hide_index=True,
    column_order=columns.column_order(shown),
    key=(table_key := selection_key("experiments_table", shown_ids)),  # (never to other rows)
    on_select="rerun",
    selection_mode="multi-row",  # the rows ticked stay ticked in a new table (by experiment)
    selection_default={"selection": {"rows": selected_positions(shown_ids, ticked_before)}},
    placeholder=NO_VALUE,
    column_config=columns.column_config(shown, sweep),
)
st.download_button(
    f"Download {plural(len(shown), 'experiment')} (CSV)",
    data=functools.partial(columns.table_csv, shown),  # made on a click
    on_click="ignore",  # (a rerun would race the deferred data)
    file_name="experiments.csv",
    mime="text/csv",
    icon=":material/download:",
    help="The rows shown, every column (status, left out, every parameter too)",
)
for note in (views.left_out_note(shown), views.running_note(shown)):
    if note:
        st.caption(note)
if missed := [f"{md(e)} ({k} of {n})" for e, k, n in views.clean_misses(shown)]:
    st.caption(views.clean_miss_note(some_of(missed)))
picked = [shown_ids[i] for i in event.selection.rows if i < len(shown_ids)]
shown_before = [e for e in ticked_before if e in set(shown_ids)]  # (ticked again above)
if picked and set(picked) != set(shown_before):  # a new pick sets the grid
    st.session_state.grid_ids = picked
# every row unticked again (the same rows: not a filter that showed others) -> the first grid
unticked = bool(not picked and shown_before)
unticked = unticked and st.session_state.get("grid_picked_in") == table_key
if set(picked) != set(shown_before):  # (ticks unchanged: those a filter hides are kept too)
    st.session_state.grid_picked = picked
st.session_state.grid_picked_in = table_key

# the sweeps' lines; one-value ones (one-offs: 46 of 100 experiments) when asked or all there is
everything = views.robust_curve(shown, column=column)
points, single = chart_lines.drawn_points(everything, every=st.session_state.get("e_single", False))
clicked = None  # the experiment of the point clicked in the chart
if len(points):
    st.subheader(f"Robust accuracy against {sweep_label}")
    chart = st.altair_chart(
        robust_chart(points, sweep),  # (built once per set of points)
        width="stretch",
        key="robust_chart",
        on_select="rerun",
        selection_mode=[views.CLICK],
    )
    st.caption(
        f"Click a point to see every sweep at its {sweep_label} in the grid below; click a "
        "name in the legend to bring out its line."
    )
    if single:  # (a one-off is a point with no line, and a legend entry)
        toggle = f"Show single-{sweep_label} experiments"
        if not st.toggle(toggle, key="e_single", help="Experiments tried at one value only"):
            st.caption(chart_lines.left_out_note(everything, single, sweep_label, toggle))
    clicked = views.clicked_experiment(chart)
elif len(bars := views.robust_bars(shown)) > 1:  # nothing to sweep over: which attack is best
    st.subheader("Robust accuracy per experiment")
    chart = st.altair_chart(
        bar_chart(bars),  # (built once per set of bars)
        width="stretch",
        key="robust_bars",
        on_select="rerun",
        selection_mode=[views.CLICK],
    )
    known = int(shown["robust_acc"].notna().sum())
    cut = f" (the {len(bars)} lowest of {known})" if known > len(bars) else ""
    st.caption(
        f"Lowest first{cut}: the attack that fools the model most is on top; the thin line "
        f"spans the 95 % interval over its images (no experiment has a value of {sweep_label} "
        "to sweep over). Click a bar to put its experiment first in the grid below."
    )
    clicked = views.clicked_experiment(chart)
if len(points) and points.groupby("series")["value"].nunique().max() > 1:
    st.subheader(f"Smallest {sweep_label} that fools the model, per image")
    st.caption(
        f"For each image and sweep (the chart's lines): the smallest {sweep_label} whose run "
        "fooled the model in the end (–: none of the sweep's values did, or it did not attack "
        "the image; 0: the model was wrong on it before the attack). The column with the "
        "smaller numbers is the attack that needs less."
    )
    least, medians = smallest_value(where, seen[0], points)
    st.dataframe(
        least,
        hide_index=True,
        placeholder=NO_VALUE,
        column_config={
            s: st.column_config.NumberColumn(s, format="%.4g") for s in least.columns[2:]
        },
        height=min(400, 38 + 35 * len(least)),
    )
    st.caption(
        f"The {sweep_label} that fools at least half of the images (lower median): "
        + " · ".join(f"{md(s)} {m}" for s, m in medians.items() if m)
    )

st.subheader("Images × experiments")
linked = [e.strip() for e in query_param("ids").split(",")]  # (a pasted link's space or line end)
asked = [e for e in dict.fromkeys(linked) if e in set(frame["experiment"])]
if st.session_state.get("grid_link", grid_link()) != grid_link():  # Back/Forward moved the
    for key in ("grid_ids", "grid_step", "grid_order", "grid_contested", "grid_page"):  # follow
        st.session_state.pop(key, None)
on_images = image_sets(where, seen[0])
first, shared_value = grid_start.default_grid(shown, MAX_COMPARE, column=column, images=on_images)
if unticked:
    st.session_state.grid_ids = first
if clicked and clicked != st.session_state.get("grid_clicked") and clicked in shown_ids:
    if len(points):  # every sweep at the clicked point's value
        value = float(shown.set_index("experiment").loc[clicked, column])
        st.session_state.grid_ids = grid_start.experiments_at(
            shown, value, MAX_COMPARE, column=column, images=on_images, first=clicked,
            among=set(points["experiment"]),  # (the drawn ones: not the one-offs left out)
        )  # fmt: skip
    else:  # a bar: its experiment first, then the grid as it was
        kept = [e for e in st.session_state.get("grid_ids", first) if e != clicked]
        st.session_state.grid_ids = [clicked, *kept][:MAX_COMPARE]
st.session_state.grid_clicked = clicked
if "grid_ids" not in st.session_state:
    st.session_state.grid_ids = asked or first
    unknown = [e for e in linked if e and e not in asked]
    st.session_state.grid_ids_problem = unknown and none_such(
        "experiment", unknown, list(frame["experiment"])
    )
if st.session_state.get("grid_ids_problem"):  # (until the grid is edited)
    st.warning(md(st.session_state.grid_ids_problem), icon=":material/link_off:")
elif (
    # the default grid moved (another sweep parameter, other filters: the FGSM grid showed
    # PGD, other data: a live experiment) and this one is it as it was (not edited)
    st.session_state.get("grid_first", first) != first
    and st.session_state.grid_ids == st.session_state.get("grid_first")
):
    st.session_state.grid_ids = first  # starts over with the experiments now in the table
st.session_state.grid_first = first
options = list(dict.fromkeys([*shown_ids, *st.session_state.grid_ids]))
start = "the table's first rows"
if shared_value is not None:
    start = f"each sweep at {sweep_label} = {shared_value:.4g}, where the sweeps differ most"
chosen = st.multiselect(
    "Experiments in the grid",
    options,
    key="grid_ids",
    help=f"Without a link: {start}",
    on_change=lambda: st.session_state.pop("grid_ids_problem", None),
)
if not chosen:
    st.caption("Pick experiments to see their images side by side.")
    linked_view.write_link(link)
    st.session_state.grid_link = grid_link()
    st.stop()
# (at least 1: an experiment whose writer stored no step yet shows empty cells, one note)
steps = max(int(max(frame.set_index("experiment").loc[chosen, "steps"].fillna(1))), 1)
last_seen = st.session_state.get("grid_steps_seen")
if "grid_step" not in st.session_state:
    try:
        st.session_state.grid_step = min(max(int(query_param("step") or steps - 1), 0), steps - 1)
    except ValueError:
        st.session_state.grid_step = steps - 1
elif last_seen and steps > last_seen and st.session_state.grid_step == last_seen - 1:
    st.session_state.grid_step = steps - 1  # at the last step of a running experiment: follow it
st.session_state.grid_steps_seen = steps
st.session_state.grid_step = min(st.session_state.grid_step, max(steps - 1, 0))
step = st.slider("step", 0, max(steps - 1, 1), key="grid_step", disabled=steps < 2)

if "grid_order" not in st.session_state:
    asked_order = query_param("order")
    st.session_state.grid_order = asked_order if asked_order in grid.ORDERS else "sample"
    if asked_order and asked_order not in grid.ORDERS:  # (shown until another order is picked)
        st.session_state.grid_order_problem = not_one_of("order", asked_order, list(grid.ORDERS))
if order_problem := st.session_state.get("grid_order_problem"):
    st.warning(md(order_problem), icon=":material/link_off:")
if "grid_contested" not in st.session_state:
    st.session_state.grid_contested = query_param("only") == "contested"
left, middle, right = st.columns([2, 2, 2], vertical_alignment="bottom")
order = left.selectbox(
    "Order images",
    list(grid.ORDERS),
    format_func=grid.ORDERS.get,
    key="grid_order",
    on_change=lambda: st.session_state.pop("grid_order_problem", None),
    help="By the share of the grid's attacks that fooled the model on the image in the end",
)
only_contested = middle.toggle(
    "Only images the attacks disagree on",
    key="grid_contested",
    help="Images some of the grid's attacks fooled the model on in the end, and others not",
)
rows = grid.order_rows(grid_rows(where, seen[0], tuple(chosen)), order)
image_run = query_param("image")  # the viewer's "this image in the grid": that image's row
image_rows = grid.image_rows(rows, image_run, run_index(where).same_source) if image_run else None
if image_run and not image_rows:  # removed since the link was made, or not in this grid
    st.warning(
        f"The link names the image of run {md(printable(image_run))}, which is in none of "
        "this grid's experiments (removed since?): every image is shown.",
        icon=":material/link_off:",
    )
one_image = bool(image_rows) and st.toggle(
    f"Only the image of run {md(printable(image_run))}",
    value=True,
    key=f"grid_one_image-{image_run}",
    help="The image the viewer's link named; off: every image of the grid's experiments",
)
if one_image:  # the rows with a run on the same source image as that run
    rows = image_rows
if only_contested:
    every = len(rows)
    rows = grid.contested(rows)
    st.caption(f"{len(rows)} of {every} images: fooled by some of the grid's attacks, not all")
pages = max(math.ceil(len(rows) / ROWS_PER_PAGE), 1)
page = 1
if pages > 1:
    label = f"page (of {pages}, {len(rows)} images)"
    if "grid_page" not in st.session_state:  # a reloaded or shared link: its page
        st.session_state.grid_page = page_in_link(query_param("page"), pages)
    page = right.number_input(label, 1, pages, key="grid_page")
# the link holds what differs from a bare link's grid (a default written into it would add a
# history entry, so that Back stopped at this page once more)
linked_view.write_link(
    {
        **link,
        "ids": None if chosen == first and not asked else ",".join(chosen),
        "step": None if step == steps - 1 else str(step),
        "order": None if order == "sample" else order,
        "only": "contested" if only_contested else None,
        "image": image_run if one_image else None,
        "page": None if page == 1 else str(page),
    }
)
st.session_state.grid_link = grid_link()  # (what the page wrote: any other link is the browser's)
visible = rows[(page - 1) * ROWS_PER_PAGE : page * ROWS_PER_PAGE]
index = run_index(where)
wanted = [(r, index.version(r, stable=True)) for row in visible for r in row.runs.values()]
cells, problems, empty = grid_cells(where, wanted, step), [], 0
for run_id, cell in list(cells.items()):
    if not isinstance(cell, Exception):
        continue
    del cells[run_id]  # one damaged run leaves its cell empty, never the page
    if isinstance(cell, AnimlibError) and cell.code == Code.EMPTY:  # a writer killed before
        empty += 1  # its first step: one note
    else:
        problems.append(f"{md(run_id)}: {md(cell)}")
st.caption(
    "Each cell shows the run's image at this step (its last step when the run is shorter): "
    "red border and ✗ — the attack has fooled the model by then, green and ✓ — the model "
    "still holds, amber and ◐ — a targeted attack has the model wrong but not yet on the target. "
    "A cell opens the run at this step; *compare* opens the image's runs side by side."
)
download, runs_link = st.columns([1, 2], vertical_alignment="center")
download.download_button(
    "Outcomes of every image (CSV)",
    data=functools.partial(outcomes_csv, where, seen[0], tuple(chosen)),  # made on a click
    on_click="ignore",  # a download needs no rerun (a rerun would race the deferred data)
    file_name=f"outcomes-{chosen[0]}"
    + (f"-and-{len(chosen) - 1}-more" if len(chosen) > 1 else "")
    + ".csv",  # (every download was outcomes.csv)
    mime="text/csv",
    icon=":material/download:",
    help="One row per run of the grid's experiments: sample, true class, target class, "
    "success, flip step, "
    "final prediction, L∞ and L2 (from each run's summary)",
)
runs_link.page_link(
    "app_pages/runs.py",
    label="Their runs in the runs table (sort, filter by outcome)",
    icon=":material/table_rows:",
    query_params={"experiment": ",".join(chosen)},
)
with st.expander("Flip step per image and experiment (table)", icon=":material/table:"):
    st.caption(
        "The step at which each experiment's attack first fooled the model on the image (–: "
        "never, not at its last step, or not attacked; 0: wrong before the attack, where no "
        "attack is *fastest*); *fastest*: the experiments needing the fewest of their own "
        "steps (a one-step attack such as FGSM is fastest wherever it works)"
        + (", of the images the attacks disagree on" if only_contested else "")
        + ". Click a column's header to sort by it."
    )
    shown = tuple(r for row in rows for r in row.runs.values()) if only_contested else None
    flips = flip_table(where, seen[0], tuple(chosen), shown)
    st.dataframe(
        flips,
        hide_index=True,
        placeholder=NO_VALUE,
        key="flip_table",
        column_config={e: st.column_config.NumberColumn(e, format="%d") for e in chosen},
        height=min(400, 38 + 35 * len(flips)),
    )
with st.expander("Success rate per true class (table)", icon=":material/category:"):
    st.caption("Each attack's share of a true class's images fooled at its last step (wrong "
               "unattacked counts, as in the table above), over the whole grid")  # fmt: skip
    percent = {e: st.column_config.NumberColumn(e, format="percent") for e in chosen}
    st.dataframe(class_table(where, seen[0], tuple(chosen)), hide_index=True, column_config=percent)
dark = (st.get_option("theme.base") or getattr(st.context.theme, "type", None)) == "dark"
configured = st.get_option("theme.backgroundColor")  # a theme of the user's own
background = configured or (grid.DARK_BACKGROUND if dark else grid.LIGHT_BACKGROUND)
names = grid.column_titles(exps, chosen)
st.html(grid.grid_html(visible, chosen, cells, names, step=step, background=background))
if empty:
    st.caption(f"{plural(empty, 'run')} of this page with no step stored yet: empty cells")
for problem in problems:
    st.warning(f"Cannot show {problem}")
