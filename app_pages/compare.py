"""Compare page: 2-6 runs in one player, true-class curves, metrics, the combined MP4."""

# One slider and one set of keys move every run; the true-class curves are overlaid and the metrics
# side by side.

from __future__ import annotations

import streamlit as st

from animlib import runs_table as table
from animlib.downloads import compare_stem, render_download, render_wait, then_served
from animlib.errors import AnimlibError
from animlib.figure.pixels import shared_amplification
from animlib.links import FROM_LINK, compare_link, sent_address, viewer_link
from animlib.lock import run_status
from animlib.option_widgets import option_widgets
from animlib.options import RenderOptions
from animlib.player.component import player
from animlib.protocol import MAX_COMPARE, MIN_COMPARE
from animlib.run_picker import offered_runs, pick_runs
from animlib.text import clipped, plural, printable, run_titles
from animlib.ui import (
    experiments_among,
    md,
    md_table,
    open_checked,
    root,
    source_groups,
)
from animlib.views import compare_metrics, compare_params
from animlib.watching import follow_shown_runs

where = root()
st.page_link("app_pages/runs.py", label="← All runs")
st.title("Compare runs")
# (a repeated runs= joined: runs=A&runs=B names two runs, as runs=A,B; the last one was kept)
named = [r.strip() for r in ",".join(st.query_params.get_all("runs")).split(",") if r.strip()]
ids = list(dict.fromkeys(named))
if len(ids) > MAX_COMPARE:  # as many as fit side by side, and say so
    st.warning(
        f"The link names {len(ids)} runs: the first {MAX_COMPARE} are compared (at most "
        f"{MAX_COMPARE} fit side by side)."
    )
    ids = ids[:MAX_COMPARE]
groups = source_groups(ids, where)  # from the index: no table of every run
pick_runs(ids, offered_runs(ids, groups))
if len(ids) < MIN_COMPARE:
    st.info(
        f"Pick {MIN_COMPARE} to {MAX_COMPARE} runs above or on the runs page, or open "
        "`/compare?runs=RUN_A,RUN_B`."
        + (f" The link names one run only ({md(ids[0])}" if ids else "")
        + (f", {len(named)} times" if len(named) > 1 else "")
        + ("):" if ids else "")
    )
    if ids:
        viewer_link(st, ids[0], f"open {md(ids[0])} in the viewer")
    sent_address(st.query_params)  # after a link to this page (else: with the options below)
    st.stop()

runs, problems, unshown = [], [], []
for run_id in ids:
    run, problem = open_checked(run_id, where)
    if problem:
        problems.append(problem)
        unshown.append(run_id)  # (followed too: shown once it can be read again)
    else:
        runs.append(run)
for problem in problems:
    st.error(problem)
if len(runs) < 2:
    st.warning("Need at least two readable runs to compare.")
    sent_address(st.query_params)  # after a link to this page (else: with the options below)
    follow_shown_runs(runs, where, unshown=unshown)
    st.stop()

statuses = [run_status(r.meta, r.store) for r in runs]
st.set_page_config(
    page_title=clipped("Compare " + " vs ".join(run_titles(runs)), 80) + " · animlib"
)
st.caption(
    " · ".join(
        f"{md(clipped(title, 120))} ({plural(len(r), 'step')}{'' if s == 'finished' else ', ' + s})"
        for r, s, title in zip(runs, statuses, run_titles(runs), strict=True)
    )
    + " — shorter runs hold their last frame; ← → step every run at once, space plays"
)
# new steps of running runs; resumed, overwritten or removed; the unreadable ones readable
follow_shown_runs(runs, where, unshown=unshown)
if "running" in statuses:
    st.info("Some of these runs are still being written: new steps show up here as they come.")
if "stale" in statuses:
    st.warning(
        "Some of these runs stopped before they finished (their writer is gone): they hold the "
        "steps logged before."
    )
options = option_widgets(
    "compare",
    steps=max(len(r) for r in runs),
    n_classes=100,
    top_k=5,
    dpis=[50, 72, 100, 120, 150],
    gain=False,
)
options.pop("amplification")  # (one gain for all: shared_amplification)
top_k, fps = options["top_k"], options["fps"]

try:
    gain = shared_amplification(runs)  # the perturbations read alike, as in the video
    note = player(
        runs,
        key="compare_player",
        top_k=int(top_k),
        fps=float(fps),
        amplification=gain,
        mode="compare",
    )
    if note:  # the cache folder cannot be written: the frames are kept in memory
        st.caption(f"Frames kept in memory: {md(note)}")
except (AnimlibError, OSError) as exc:  # e.g. a damaged image chunk: the rest of the page stays
    st.error(f"Cannot show the frames of these runs: {md(printable(exc))}")

name = compare_stem([r.id for r in runs])
try:  # checked once, as every entry point checks them: explained here, not when clicked
    opts = RenderOptions.of(options)
    render_download(st, "Download comparison MP4", runs, f"{name}.mp4", "video/mp4", opts)
    frames = opts.frames(max(len(r) for r in runs))
    st.caption(
        f"Rendered on the first click ({frames:,} frames: the download starts when it is made, "
        f"{render_wait(frames, len(runs))}), {then_served()}"
    )
except AnimlibError as exc:
    st.error(f"The comparison video cannot be rendered with these options: {md(printable(exc))}")
st.subheader("Metrics")
st.table(md_table(compare_metrics(runs)))
params, differ = compare_params(runs)
if len(params):
    st.subheader("Parameters")
    st.caption(f"{differ} of {len(params)} differ (listed first)" if differ else "All the same")
    st.table(md_table(params))

shown_ids = [r.id for r in runs]
shortcuts = table.shortcuts(groups, shown_ids)
if shortcuts:  # only when there is something to offer beyond the runs shown
    st.subheader("Runs on the same source image")
    for source, group, total in shortcuts:
        label = md(table.source_label(source))
        if total > len(group):
            st.caption(f"{total} runs on {label}; showing the first {len(group)}:")
        compare_link(st, group, f"Compare {len(group)} runs on {label}", query={FROM_LINK: "1"})
        exps = experiments_among(groups[source], where)
        if len(exps) >= 2:  # samples of experiments: the image beside the others they attacked
            st.page_link(
                "app_pages/experiments.py",
                label=f"The image in the images × experiments grid ({len(exps)} experiments)",
                icon=":material/grid_view:",
                query_params={"ids": ",".join(exps)},
            )
