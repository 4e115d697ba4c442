"""Run viewer: the browser player, metrics, confidence table, render options, downloads."""

# The player shows the images before and after, the perturbation, a step table and curves; the
# confidence table is the full one.

from __future__ import annotations

import functools
import logging
from typing import Any

import pandas as pd
import streamlit as st

from animlib import runs_table as table
from animlib.downloads import current_csv, render_download, render_wait, then_served
from animlib.errors import AnimlibError, RenderLimitError
from animlib.index import Query
from animlib.limits import check_gif_frames
from animlib.links import FROM_LINK, compare_link, sent_address, viewer_link
from animlib.listing import folder_problem
from animlib.lock import run_status
from animlib.option_widgets import option_widgets
from animlib.options import RenderOptions
from animlib.player.component import player
from animlib.protocol import MAX_COMPARE
from animlib.settings import settings
from animlib.text import clipped, plural, printable
from animlib.ui import (
    cached_metrics,
    experiments_on_image,
    md,
    open_checked,
    root,
    run_index,
    sample_neighbours,
    source_groups,
)
from animlib.views import left_out_note, metric_cards, styled_confidences
from animlib.watching import follow_shown_runs

RECENT = 8  # runs offered when the page is opened without one
LONG_NAME = 48  # characters: a longer run name gets a smaller heading (it would wrap over lines)
MAX_HEADING = 160  # characters of a run name in the heading (cut with "…"; the whole one below)
log = logging.getLogger("animlib")


def run_link(place: Any, run_id: str, label: str, icon: str, **kw: Any) -> None:
    """A link in ``place`` that opens run ``run_id`` on this page (``label`` shown as text)."""
    viewer_link(place, run_id, md(printable(label)), icon=icon, query={FROM_LINK: "1"}, **kw)


def pick_a_run() -> None:
    """Without a run in the link: the runs opened before in this session and the newest ones."""
    hint = "Pick a run on the runs page, or open `/viewer?run=RUN_ID`"
    try:
        index = run_index(where)
        newest = index.query(Query(limit=RECENT)).rows["id"].to_pylist()
        viewed = st.session_state.get("viewed_runs", [])
        by_id = {i.id: i for i in index.infos([*newest, *viewed])}  # (in index order)
    except Exception as exc:  # an unreadable folder
        st.info(f"{hint}.")
        st.caption(f"Cannot list runs in {md(where)}: {md(folder_problem(exc, where))}")
        return
    lists = [
        (title, good, icon)
        for title, infos, icon in (
            ("Opened in this session", viewed, ":material/history:"),
            ("Newest runs", newest, ":material/schedule:"),
        )
        if (good := [by_id[r] for r in infos if r in by_id and by_id[r].ok][:RECENT])
    ]
    st.info(f"{hint}, or one of these." if lists else f"{hint}. {md(where)} has no runs yet.")
    for place, (title, good, icon) in zip(st.columns(2), lists, strict=False):
        with place:  # (side by side, the first on the left)
            st.subheader(title)
            for info in good:
                bits = [info.name, info.get("attack") or "no attack", str(info.get("status", ""))]
                run_link(st, info.id, " · ".join(bits), icon)


def remember(run_id: str) -> None:
    """The run goes to the front of this session's opened runs."""
    seen = [r for r in st.session_state.get("viewed_runs", []) if r != run_id]
    st.session_state["viewed_runs"] = [run_id, *seen][:RECENT]


where = root()
# (kept: the first; a link pasted from notes or a chat may end in a space or a line break)
named = list(dict.fromkeys(r.strip() for r in st.query_params.get_all("run") if r.strip()))
run_id = named[0] if named else ""
st.page_link("app_pages/runs.py", label="← All runs")
if not run_id:
    pick_a_run()
    st.stop()
if len(named) > 1:  # (/viewer?run=A&run=B showed B alone, silently)
    st.info(f"This link names {len(named)} runs; the viewer shows one: {md(run_id)}.")
    compare_link(st, named[:MAX_COMPARE], f"Compare {plural(min(len(named), MAX_COMPARE), 'run')}")
run, problem = open_checked(run_id, where)
if problem:
    st.error(problem)
    # (after a link to this page; on a run shown, the marker goes out with the options in one
    # write, one history entry: the render options below write the link)
    sent_address(st.query_params)
    # shown once it can be read again (overwritten: no step stored yet; removed and put back)
    follow_shown_runs([], where, unshown=[run_id])
    st.stop()
remember(run.id)

fp = run.fingerprint
status = run_status(run.meta, run.store)
st.set_page_config(page_title=f"{clipped(run.name, 60)} · animlib")  # (tabs and history)
shown_name = clipped(run.name, MAX_HEADING)  # (a 100,000-character name filled 60,000 px)
(st.title if len(run.name) <= LONG_NAME else st.header)(md(shown_name))
if shown_name != run.name:
    with st.expander(f"Whole name ({len(run.name):,} characters)"):
        st.code(run.name, language=None, wrap_lines=True)
meta_bits = [
    f"id {md(run.id)}",
    md(run.attack or "no attack"),
    md(run.model or "no model"),
    status,
    plural(len(run), "step"),
    md(run.meta.get("created", "")),
]
st.caption(" · ".join(meta_bits))
if run.tags:
    st.caption("tags: " + ", ".join(md(t) for t in run.tags))
experiment = run.meta.get("experiment")
is_sample = isinstance(experiment, str) and bool(experiment)  # of a BatchWriter experiment
try:  # every experiment that attacked this image, side by side in the grid
    on_image = experiments_on_image(run.id, where)
except Exception:  # the link is a convenience: never let it break the viewer (but log it)
    log.warning("experiments on the image of %s", run.id, exc_info=True)
    on_image = []
one_image = not is_sample or len(on_image) > 1  # the link singles out this image's row
if not is_sample:  # a run of its own: the experiments that attacked the same image, if any
    grid_ids = on_image
    label = (
        f"This image in {len(on_image)} experiment{'s' * (len(on_image) > 1)}: "
        "the images × experiments grid"
    )
else:
    sample = run.meta.get("sample")
    of = f", sample {sample}" if isinstance(sample, int) else ""
    if len(on_image) < 2:  # (every image of its experiment: no one image to single out)
        grid_ids, what = [experiment], "its images in the grid"
    else:
        grid_ids = on_image
        what = f"this image in the grid with all {len(on_image)} experiments on it"
    label = f"Experiment {md(printable(experiment))}{of}: {what}"
if grid_ids:
    st.page_link(
        "app_pages/experiments.py",
        label=label,
        icon=":material/grid_view:",
        # that image's row (the rest of the grid a toggle away there)
        query_params={"ids": ",".join(grid_ids), **({"image": run.id} if one_image else {})},
    )
try:  # the other runs on this image, side by side with this one
    shortcuts = table.shortcuts(source_groups([run.id], where), [run.id])
except Exception:  # a convenience too
    log.warning("runs on the image of %s", run.id, exc_info=True)
    shortcuts = []
for source, group, total in shortcuts[:1]:
    image, runs_text = md(table.source_label(source)), "run" if total == 2 else "runs"
    text = f"Compare with the {total - 1} other {runs_text} on {image}"
    if total > len(group):  # (a comparison holds 6 runs: "with the 5 of the 8 other runs")
        text = f"Compare with {len(group) - 1} of the {total - 1} other runs on {image}"
    compare_link(st, group, text)
if is_sample:
    try:  # step through the experiment's samples without going back to the table
        before, after, n_samples = sample_neighbours(run.id, experiment, where)
    except Exception:  # a convenience too
        log.warning("samples beside %s", run.id, exc_info=True)
        before, after, n_samples = None, None, 0
    if n_samples > 1:
        nav = st.columns([1, 1, 3], vertical_alignment="center")
        for place, other, icon in ((nav[0], before, "back"), (nav[1], after, "forward")):
            if other is not None:
                run_link(
                    place,
                    other.id,
                    f"Sample {other.get('sample', other.id)}",
                    f":material/arrow_{icon}:",
                    help=f"The {'previous' if icon == 'back' else 'next'} sample: {other.id}",
                )
        nav[2].caption(f"{n_samples} samples in this experiment")
follow_shown_runs([run], where)  # new steps; resumed, overwritten or removed (any status)
if status == "running":
    st.info("This run is still being written: new steps show up here as they are logged.")
elif status == "stale":
    resume = "BatchWriter.resume" if is_sample else "RunWriter.resume"
    st.warning(
        f"This run stopped before it finished: its writer is gone (killed, or silent for "
        f"longer than {settings().stale_seconds:g} s). It holds the {plural(len(run), 'step')} "
        f"logged before; `{resume}` continues it."
    )
elif status == "failed":  # the exception that ended the writer, as run.json keeps it
    lines = str(run.meta.get("error") or "").splitlines()
    why = f": {md(printable(lines[0]))}" if lines else " (no error was recorded)"
    st.error(
        f"This run failed{why}. It holds the {plural(len(run), 'step')} logged before.",
        icon=":material/error:",
    )
    if len(lines) > 1:  # (a message of several lines: whole below, not with "\n" in it)
        with st.expander("The whole error"):
            st.code("\n".join(printable(line) for line in lines), language=None)

n_classes = max(1, len(run.class_names or []))
options = option_widgets(
    "viewer",
    steps=len(run),  # (the run may have been replaced by a shorter one meanwhile)
    n_classes=n_classes,
    top_k=min(10, n_classes),
    dpis=[50, 72, 100, 120, 150, 200],
    gain=True,
    note="fps, gain and top-k set the player too; all of them set the downloads. "
    "The link keeps them.",
)
top_k, fps, amp = options["top_k"], options["fps"], options["amplification"]

# the player first (on a laptop screen it starts within the first screenful), then the numbers
divider = (
    "drag the divider between the original and the adversarial image; "
    if run.original is not None
    else ""
)
st.caption(
    f"← → step (Shift: 10), Home/End, space plays; {divider}⤢ shows a panel at full size. "
    "The link keeps the step and the render options."
)
try:
    note = player([run], key="viewer_player", top_k=int(top_k), fps=float(fps), amplification=amp)
    if note:  # the cache folder cannot be written: the frames are kept in memory
        st.caption(f"Frames kept in memory: {md(note)}")
except (AnimlibError, OSError) as exc:  # e.g. a damaged image chunk: the rest of the page stays
    st.error(f"Cannot show the frames of run {md(repr(run.id))}: {md(printable(exc))}")

m = cached_metrics(where, run.id, fp, run)
for col, (label, value, delta) in zip(st.columns(6), metric_cards(m), strict=True):
    col.metric(label, value, delta, delta_color="inverse")
if m["flip_step"] == 0 and m["success"] and run.target_label is None:
    st.caption(
        "The model got the clean image wrong already (step 0): the attack had nothing to do, "
        "and this success is not one of its own."
    )
if gaps_note := left_out_note(run.meta, m["flip_step"]):  # (a sample paused with active=)
    st.caption(gaps_note)

try:
    scalars, scalars_error = list(run.scalars.items()), None
except AnimlibError as exc:  # (the video and the confidences above still show)
    scalars, scalars_error = [], exc
# no confidence table for a run without confidences (the player says so already); the key
# keeps the chosen tab when the page above changes (a live run finishing drops its note)
names = ["Confidence table"] * (run.confidences is not None) + ["Scalars", "Parameters"]
tabs = dict(zip(names, st.tabs(names, key=f"v_tabs_{len(names)}"), strict=True))
if "Confidence table" in tabs:
    with tabs["Confidence table"]:
        rows = len(run)  # a short run's table ends with its last row
        styled = styled_confidences(run, top_k=int(top_k))
        plain = isinstance(styled, pd.DataFrame)  # (else a Styler)
        st.caption(
            f"{rows:,} steps: too many cells to tint (the player shows each step's roles)."
            if plain
            else "True class green, target orange, the argmax of each step in bold."
        )
        numbers = st.column_config.NumberColumn(format="%.4g")  # (1e-09, not 0.0000: as tinted)
        config = dict.fromkeys(styled.columns, numbers) if plain else None
        st.dataframe(styled, height=min(360, 38 + 35 * rows), column_config=config)
with tabs["Scalars"]:
    if scalars_error is not None:
        st.error(f"The scalars cannot be shown: {scalars_error}")
    elif not scalars:
        st.caption("This run logged no scalars.")
    for col, (name, series) in zip(st.columns(max(len(scalars), 1)), scalars, strict=False):
        col.line_chart({name: series}, x_label="step", y_label=name, height=220)
with tabs["Parameters"]:
    st.json(run.params)

st.subheader("Downloads")
try:  # checked once, as every entry point checks them: explained here, not when clicked
    opts: RenderOptions | None = RenderOptions.of(options)
except AnimlibError as exc:
    opts = None
    st.error(f"The videos cannot be rendered with these options: {md(printable(exc))}")
d = st.columns(4)
if opts is not None:
    render_download(d[0], "MP4 video", run, f"{run.id}.mp4", "video/mp4", opts, width="stretch")
    frames = opts.frames(len(run))
    gif = True
    try:
        check_gif_frames(frames, run=run.id)
        render_download(d[1], "GIF", run, f"{run.id}.gif", "image/gif", opts, width="stretch")
    except RenderLimitError as exc:
        d[1].caption(f"GIF: {md(exc.message)}")
        gif = False
    html = f"{run.id}.html"
    render_download(d[2], "Standalone HTML", run, html, "text/html", opts, width="stretch")
    slow_gif = (  # (GIFs encode at ~40 frames/s: 2,000 frames took 53 s and made 206 MB)
        f" A GIF of {frames:,} frames takes {render_wait(frames, fmt='gif')} and is large: a "
        "stride in Render options makes a shorter one."
        if frames >= 400 and gif  # (none when the GIF is refused)
        else ""
    )
    st.caption(
        f"A video is rendered on its first click ({frames:,} frames: the download starts "
        f"when it is made, {render_wait(frames)}), {then_served()}" + slow_gif
    )
if run.confidences is not None:
    d[3].download_button(
        "Confidences CSV",
        functools.partial(current_csv, run),  # made on a click (10,000 x 1,000: 126 MB)
        file_name=f"{run.id}-confidences.csv",
        mime="text/csv",
        width="stretch",
        on_click="ignore",
    )
