"""The runs page's pager: first / previous / next / last page buttons around "page N of M"."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

__all__ = ["pager", "pager_slot"]

# the pager and the boxes around it as wide as its one row: the bar it sits in wraps it onto a
# row of its own where it has no room (wrapped itself, its last button fell under the others
# in a phone's window; kept from wrapping, it ran off the window's edge)
PAGER_STYLE = (
    ".st-key-pager, .st-key-pager_slot, div:has(> .st-key-pager),"
    " div:has(> .st-key-pager_slot) {min-width: max-content}"
)


def pager_slot(bar: DeltaGenerator) -> DeltaGenerator:
    """The place in ``bar`` (a horizontal container) that :func:`pager` fills later."""
    return bar.container(horizontal=True, horizontal_alignment="right", key="pager_slot")


def _go_to(state_key: str, page: int) -> None:
    st.session_state[state_key] = page


def pager(place: DeltaGenerator, page: int, pages: int, *, state_key: str) -> None:
    """First / previous / next / last page buttons around "page N of M" in ``place`` (a
    :func:`pager_slot`); a click sets ``st.session_state[state_key]`` to its page."""
    place.html(f"<style>{PAGER_STYLE}</style>")
    box = place.container(
        horizontal=True, vertical_alignment="center", width="content", wrap=False, key="pager"
    )
    first, last = page <= 1, page >= pages
    buttons = (
        ("pg_first", "first_page", "First page", 1, first),
        ("pg_prev", "chevron_left", "Previous page", page - 1, first),
        ("pg_next", "chevron_right", "Next page", page + 1, last),
        ("pg_last", "last_page", "Last page", pages, last),
    )
    for i, (key, icon, help_, target, disabled) in enumerate(buttons):
        if i == 2:
            box.markdown(f"page {page:,} of {pages:,}", width="content")
        box.button(
            "",
            icon=f":material/{icon}:",
            key=key,
            help=help_,
            on_click=_go_to,
            args=(state_key, target),
            disabled=disabled,
        )
