"""Runs page: every run in the results folder, filterable, with links to the viewer and compare."""

from __future__ import annotations

import streamlit as st

from animlib import runs_table as table
from animlib.protocol import MAX_COMPARE, MIN_COMPARE
from animlib.ui import check_runs, compare_url, listing, md, md_table, root, viewer_url

CHECK_BUDGET_S = 3.0  # seconds per page run for checking arrays of not-yet-checked runs
TABLE_ROWS = 28  # rows shown before the table scrolls: about a 1,400 px screen below the filters
ROW_PX, HEADER_PX = 35, 38  # st.dataframe's row height and header (+ borders)

st.title("Runs")
where = root()
st.caption(f"Results folder: `{where}`")


def runs_page() -> None:
    try:
        infos = listing(where)
    except Exception as exc:  # a missing or unreadable folder must not crash the page
        st.error(f"Cannot list runs in {where}: {exc}")
        return
    # run.json alone cannot show damaged arrays: check them too (quick checks, cached per run,
    # within a time budget; every chunk on request)
    infos, unchecked = check_runs(infos, where, budget_s=CHECK_BUDGET_S)
    if st.session_state.get("deep_check"):
        bar = st.progress(0.0, text="reading every chunk of every run…")
        infos, _ = check_runs(
            infos,
            where,
            deep=True,
            progress=lambda done, total: bar.progress(
                done / max(total, 1), text=f"checked {done}/{total} runs"
            ),
        )
        bar.empty()
    frame = table.runs_frame(infos)
    broken = table.broken_frame(infos)
    if frame.empty and broken.empty:
        st.info(
            f"No runs in {where} yet. Write some with `animlib.RunWriter`, or run "
            "`python -m animlib demo --out runs`."
        )
        return

    cols = st.columns([2, 2, 2, 2, 3])
    attacks = cols[0].multiselect("Attack", sorted(frame["attack"].unique()), key="f_attack")
    models = cols[1].multiselect("Model", sorted(frame["model"].unique()), key="f_model")
    statuses = cols[2].multiselect(
        "Status", ["running", "stale", "finished", "failed"], key="f_status"
    )
    success = cols[3].multiselect("Outcome", list(table.SUCCESS_LABELS), key="f_success")
    text = cols[4].text_input("Search", placeholder="name, tag, source…", key="f_text")
    shown = table.filter_runs(
        frame, attacks=attacks, models=models, statuses=statuses, success=success, text=text
    ).reset_index(drop=True)
    shown.insert(0, "open", [viewer_url(r) for r in shown["id"]])

    running = int((frame["status"] == "running").sum())
    st.caption(
        f"{len(shown)} of {len(frame)} runs shown"
        + (f" · {running} running (refreshing every 2 s)" if running else "")
        + (f" · {len(broken)} broken" if len(broken) else "")
        + (f" · arrays of {unchecked} runs not checked yet" if unchecked else "")
        + f" · select {MIN_COMPARE}–{MAX_COMPARE} rows to compare"
    )
    # the selection is kept by run id: the table's key changes with the rows shown, and the runs
    # selected before are selected again wherever they are now (a position never moves to
    # another run when a filter or a new run reorders the table)
    ids = shown["id"].tolist()
    chosen = table.selected_positions(ids, st.session_state.get("selected_runs", []))
    event = st.dataframe(
        shown,
        key=table.selection_key("runs_table", ids),
        hide_index=True,
        height=HEADER_PX + ROW_PX * max(1, min(len(shown), TABLE_ROWS)),
        on_select="rerun",
        selection_mode="multi-row",
        selection_default={"selection": {"rows": chosen}},
        column_order=["open", *table.VISIBLE_COLUMNS],
        column_config={
            "open": st.column_config.LinkColumn("", display_text="view", width="small"),
            "name": st.column_config.TextColumn("name", width="medium"),
            "steps": st.column_config.NumberColumn("steps", format="%d"),
            "success": st.column_config.CheckboxColumn("success"),
            "flip_step": st.column_config.NumberColumn("flip step", format="%d"),
            "final_true_conf": st.column_config.ProgressColumn(
                "final true conf", min_value=0.0, max_value=1.0, format="%.3f"
            ),
            "linf": st.column_config.NumberColumn("L∞", format="%.4f"),
            "l2": st.column_config.NumberColumn("L2", format="%.3f"),
            "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
        },
    )
    selected = [ids[i] for i in event.selection.rows if i < len(ids)] if event else []
    st.session_state["selected_runs"] = selected
    c1, c2, c3 = st.columns([2, 2, 6])
    if len(selected) == 1:
        c1.link_button("Open selected run", viewer_url(selected[0]), type="primary")
    elif MIN_COMPARE <= len(selected) <= MAX_COMPARE:
        c1.link_button(f"Compare {len(selected)} runs", compare_url(selected), type="primary")
    elif len(selected) > MAX_COMPARE:
        c1.warning(f"Select at most {MAX_COMPARE} runs to compare.")
    for source, ids, _ in table.source_shortcuts(frame, selected)[:3]:
        c2.link_button(f"All {len(ids)} runs on {md(source)}", compare_url(ids))

    if len(broken):
        with st.expander(f"Broken runs ({len(broken)})", expanded=True):
            st.table(md_table(broken.set_index("id")))
    if not st.session_state.get("deep_check"):
        c3.button(
            "Check every chunk",
            key="deep_check_button",
            help="Read every stored step of every run and list the damaged ones as broken",
            on_click=lambda: st.session_state.update(deep_check=True),
        )
    return running


def any_running() -> bool:
    try:
        return any(i.get("status") == "running" for i in listing(where) if i.ok)
    except Exception:
        return False


if any_running():
    st.fragment(runs_page, run_every=2.0)()
else:
    runs_page()
