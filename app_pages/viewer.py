"""Run viewer: the browser player (before/after, perturbation, step table, curves), metrics,
the full confidence table, render options and downloads."""

from __future__ import annotations

import streamlit as st

from animlib.cache import cached_render
from animlib.errors import AnimlibError, RenderLimitError
from animlib.limits import check_dpi, limits
from animlib.player.component import player
from animlib.text import printable
from animlib.ui import cached_metrics, md, open_run_safe, query_param, root, run_problem
from animlib.views import confidence_csv, styled_confidences

where = root()
run_id = query_param("run")
st.page_link("app_pages/runs.py", label="← All runs")
if not run_id:
    st.info("Pick a run on the runs page, or open `/viewer?run=RUN_ID`.")
    st.stop()
run, problem = open_run_safe(run_id, where)
if run is not None:
    problem = run_problem(run, where)  # damaged arrays: say what is wrong, never a traceback
if problem:
    st.error(problem)
    st.stop()

fp = run.fingerprint
st.title(md(run.name))
meta_bits = [
    f"id {md(run.id)}",
    md(run.attack or "no attack"),
    md(run.model or "no model"),
    run.status,
    f"{len(run)} steps",
    md(run.meta.get("created", "")),
]
st.caption(" · ".join(meta_bits))
if run.tags:
    st.caption("tags: " + ", ".join(md(t) for t in run.tags))
if run.status == "running":
    st.info("This run is still being written; reload to see new steps.")

with st.expander("Render options", icon=":material/tune:"):
    o = st.columns(5)
    fps = o[0].slider("fps", 1, 60, 10)
    dpi = o[1].select_slider("dpi", [50, 72, 100, 120, 150, 200], value=100)
    stride = o[2].number_input("stride (every n-th step)", 1, max(1, len(run)), 1)
    amp = o[3].number_input("perturbation gain (0 = auto)", 0.0, 1000.0, 0.0, step=1.0) or None
    n_classes = len(run.class_names or [])
    top_k = o[4].number_input("top-k classes", 1, max(1, n_classes or 1), min(10, n_classes or 1))
    st.caption("fps, gain and top-k set the player too; all of them set the downloads.")
options = {
    "fps": float(fps),
    "dpi": int(dpi),
    "stride": int(stride),
    "top_k": int(top_k),
    "amplification": float(amp) if amp else None,
}

m = cached_metrics(where, run.id, fp)
cols = st.columns(6)
cols[0].metric("success", {True: "yes", False: "no", None: "n/a"}[m["success"]])
cols[1].metric("flip step", "-" if m["flip_step"] is None else m["flip_step"])
cols[2].metric(
    "final true conf",
    "-" if m["final_true_conf"] is None else f"{m['final_true_conf']:.3f}",
    None
    if m["initial_true_conf"] is None or m["final_true_conf"] is None
    else f"{m['final_true_conf'] - m['initial_true_conf']:+.3f}",
    delta_color="inverse",
)
cols[3].metric("L∞", "-" if m["linf"] is None else f"{m['linf']:.4f}")
cols[4].metric("L2", "-" if m["l2"] is None else f"{m['l2']:.3f}")
cols[5].metric("L0 (pixels)", "-" if m["l0"] is None else m["l0"])

st.subheader("Player")
st.caption(
    "← → step (Shift: 10), Home/End, space plays; drag the divider between the original and "
    "the adversarial image; ⤢ shows a panel at full size. The step is kept in the URL."
)
try:
    player([run], key="viewer_player", top_k=int(top_k), fps=float(fps), amplification=amp)
except (AnimlibError, OSError) as exc:  # e.g. a damaged image chunk: the rest of the page stays
    st.error(f"Cannot show the frames of run {md(repr(run.id))}: {md(printable(exc))}")

scalars = list(run.scalars.items())
tabs = st.tabs(["Confidence table", "Scalars", "Parameters"])
with tabs[0]:
    if run.confidences is None:
        st.caption("This run logged no confidences.")
    else:
        st.caption("True class green, target orange, the argmax of each step in bold.")
        st.dataframe(styled_confidences(run, top_k=int(top_k)), height=360)
with tabs[1]:
    if not scalars:
        st.caption("This run logged no scalars.")
    for col, (name, series) in zip(st.columns(max(len(scalars), 1)), scalars, strict=False):
        col.line_chart({name: series}, x_label="step", y_label=name, height=220)
with tabs[2]:
    st.json(run.params)

st.subheader("Downloads")
try:  # an over-the-limit render is explained here, not when a download is clicked
    check_dpi(options["dpi"], run=run.id)
    render_problem = None
except RenderLimitError as exc:
    render_problem = printable(exc)
    st.error(f"The videos cannot be rendered with these options: {md(render_problem)}")
d = st.columns(4)
if render_problem is None:
    d[0].download_button(
        "MP4 video",
        lambda: cached_render(run, "mp4", **options).read_bytes(),  # rendered when clicked
        file_name=f"{run.id}.mp4",
        mime="video/mp4",
        width="stretch",
        on_click="ignore",  # a download needs no rerun (a rerun would race the deferred ones)
    )
    gif_frames = -(-len(run) // options["stride"])
    if gif_frames <= limits().max_gif_frames:
        d[1].download_button(
            "GIF",
            lambda: cached_render(run, "gif", **options).read_bytes(),
            file_name=f"{run.id}.gif",
            mime="image/gif",
            width="stretch",
            on_click="ignore",
        )
    else:
        d[1].caption(
            f"GIF: {gif_frames} frames is above the limit of {limits().max_gif_frames}; "
            "raise the stride or download the MP4."
        )
    d[2].download_button(
        "Standalone HTML",
        lambda: cached_render(run, "html", **options).read_bytes(),
        file_name=f"{run.id}.html",
        mime="text/html",
        width="stretch",
        on_click="ignore",
    )
if run.confidences is not None:
    csv = confidence_csv(run)
    d[3].download_button(
        "Confidences CSV",
        csv,
        file_name=f"{run.id}-confidences.csv",
        mime="text/csv",
        width="stretch",
        on_click="ignore",
    )
