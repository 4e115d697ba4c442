"""The compare page's run picker: the runs compared, with the others on their images to add."""

# The runs compared live in the address (``runs=A,B``), as a link or Back gives them. The picker
# shows them; a change goes into the address and the page runs again with it, so Back returns to
# the runs compared before. Its widget identity includes the runs it shows: another set of runs
# (a link, Back) gets a new widget holding them, never the old one's choice.

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from .protocol import MAX_COMPARE

__all__ = ["MAX_OFFERED", "offered_runs", "pick_runs"]

MAX_OFFERED = 200  # runs offered in the picker's list (any other id can be typed in)
# the picker's box holds every run compared (at most 6): in a phone's window Streamlit's
# 155-px box cut the 5th run's chip in half and hid the 6th, behind a scroll inside it
SHOW_EVERY_CHIP = (
    "[class*='st-key-compare_pick'] [data-testid='stMultiSelect'] div[data-rac] {max-height: none}"
)


def offered_runs(
    run_ids: Sequence[str], groups: Mapping[str, Sequence[str]], limit: int = MAX_OFFERED
) -> list[str]:
    """The runs a picker offers: ``run_ids`` first (all of them), then the runs on their
    source images (``groups``, as :func:`animlib.ui.source_groups` gives them) in order, at
    most ``limit`` in all."""
    out = dict.fromkeys(run_ids)
    for group in groups.values():
        for run_id in group:
            if len(out) >= limit:
                return list(out)
            out.setdefault(run_id)
    return list(out)


def picked_ids(values: Sequence[str]) -> list[str]:
    """The run ids of a picker's values, as the address holds them: stripped, split at
    commas (a typed ``a,b`` is two runs), each once, in order."""
    ids = (part.strip() for value in values for part in str(value).split(","))
    return list(dict.fromkeys(i for i in ids if i))


def pick_runs(run_ids: list[str], offered: list[str]) -> None:
    """The picker of the runs compared (``run_ids``, at most :data:`MAX_COMPARE`), offering
    ``offered``; a change is written into the address (``runs``), and the page runs again."""
    key = "compare_pick:" + ",".join(run_ids)
    st.html(f"<style>{SHOW_EVERY_CHIP}</style>")
    st.multiselect(
        "Runs compared",
        offered,
        default=run_ids,
        key=key,
        on_change=_picked,
        args=(key, run_ids),
        max_selections=MAX_COMPARE,
        accept_new_options=True,
        select_all=False,  # ("select all" would take the first runs offered)
        placeholder="Add a run: pick one on the same image, or type its id",
        help=f"{MAX_COMPARE} runs at most. The list offers the runs on the same source images; "
        "type any other run's id and press Enter. Back returns to the runs compared before.",
    )
    note = st.session_state.pop(_NOTE, None)
    if note:
        st.warning(note, icon=":material/playlist_remove:")


_NOTE = "compare_pick_note"


def _picked(key: str, run_ids: list[str]) -> None:
    """(The picker changed.) Its runs into the address, at most :data:`MAX_COMPARE` (a typed
    ``a,b`` counts as two; the others are named), and its state dropped: the page may stop
    early on the new runs (fewer than two), which keeps a widget's state, and Back would show
    this picker again with the choice made here and write it into the address once more."""
    ids = picked_ids(st.session_state.pop(key, None) or [])
    if len(ids) > MAX_COMPARE:
        left = ", ".join(ids[MAX_COMPARE:])
        st.session_state[_NOTE] = f"At most {MAX_COMPARE} runs fit side by side: {left} left out."
        ids = ids[:MAX_COMPARE]
    if ids != run_ids:
        st.query_params["runs"] = ",".join(ids)
