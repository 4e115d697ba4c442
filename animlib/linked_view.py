"""A page's widgets started from its link (or where the session left them) and kept in it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from .link_state import Spec, parameters, view_from_link, view_to_link
from .links import FROM_LINK
from .ui import md


def restore_view(
    view: Spec,
    *,
    name: str,
    options: Mapping[str, Sequence[object]],
    defaults: Mapping[str, object],
    anchors: Sequence[str] = (),
) -> bool:
    """On the page's first run in a session, or back from another page, its widgets start
    from the link (a reloaded or shared link shows the same view), else from where this
    session left them (:func:`keep_view`); what the link names that cannot be used is kept for
    :func:`show_link_problems`. When the link is not the one :func:`keep_view` wrote last
    (the browser's Back or Forward), the widgets follow it: they rewrote it to their view,
    so Back changed nothing.

    Args:
        view: the page's widgets and their link parameters.
        name: the page's name (where the session keeps its view).
        options: per list or choice widget, the values it offers now.
        defaults: every widget's value on a bare link.
        anchors: link parameters naming what the page shows (the viewer's ``run``): a link
            to something else that names none of the view's parameters keeps the widgets
            where they are (the viewer's links to other runs carry no render options: the
            next sample keeps the top-k), while Back to a bare link of the same thing follows
            it.

    Returns:
        Whether the widgets were set to the link of a Back or Forward (a widget in a closed
        popover then keeps its old value in the browser, which sends it back at the next page
        run: give it another identity for this run, see ``app_pages/runs.py``).
    """
    link = {p: st.query_params.get_all(p) for p in parameters(view)}
    stayed = st.session_state.get(_PAGE_BEFORE) == st.session_state.get(_PAGE_NOW)
    navigated = stayed and link != st.session_state.get(f"{name}_written", link)  # Back
    elsewhere = anchors and _anchored(anchors) != st.session_state.get(f"{name}_anchored")
    navigated = navigated and not (elsewhere and not any(link.values()))
    if view[0][0] in st.session_state and not navigated:  # the widgets hold the view
        return False
    if not any(link.values()) and not navigated:
        link = st.session_state.get(f"{name}_view", {})
    state, problems = view_from_link(view, link, options=options)
    st.session_state.update({**defaults, **state, f"{name}_link_problems": problems})
    return navigated


_PAGE_BEFORE, _PAGE_NOW = "linked_view_page_before", "linked_view_page_now"


def note_page(page: str) -> None:
    """The page this script run shows (the dashboard calls it first): a link that changed
    while the page stayed is the browser's Back or Forward; on a page just come to, a bare
    link (the menu's) keeps the session's view."""
    st.session_state[_PAGE_BEFORE] = st.session_state.get(_PAGE_NOW)
    st.session_state[_PAGE_NOW] = page


def show_link_problems(name: str) -> None:
    """What the link named that could not be used, until :func:`view_changed` (the page may
    rerun by itself before the reader has seen it: a run written, the index refreshed)."""
    for problem in st.session_state.get(f"{name}_link_problems", []):
        st.warning(md(problem), icon=":material/link_off:")


def view_changed(name: str) -> None:
    """The view was changed by hand: the link's problems are no longer its own."""
    st.session_state[f"{name}_link_problems"] = []


def keep_view(
    view: Spec, *, name: str, defaults: Mapping[str, object], anchors: Sequence[str] = ()
) -> None:
    """The view in the link, and in the session for coming back from another page.

    Args:
        view: the page's widgets and their link parameters.
        name: the page's name (as for :func:`restore_view`).
        defaults: every widget's value on a bare link (left out of it).
        anchors: as for :func:`restore_view`.
    """
    link = view_to_link(view, st.session_state, defaults=defaults)
    write_link({parameter: link.get(parameter) for parameter in parameters(view)})
    st.session_state[f"{name}_view"] = {
        p: value if isinstance(value, list) else [value] for p, value in link.items()
    }
    st.session_state[f"{name}_written"] = {p: st.query_params.get_all(p) for p in parameters(view)}
    st.session_state[f"{name}_anchored"] = _anchored(anchors)


def _anchored(anchors: Sequence[str]) -> dict[str, list[str]]:
    return {p: st.query_params.get_all(p) for p in anchors}


def write_link(changes: Mapping[str, str | list[str] | None]) -> None:
    """Put ``changes`` into the page's link (None: leave the parameter out) in one write; a
    link's :data:`~animlib.links.FROM_LINK` marker goes out in the same write.

    The browser adds a history entry for each write that changes the link, so parameters
    written one by one made Back stop at the same view once per parameter (and the marker
    taken out on its own before the view was written back: a "Sample N" link made two
    entries, the first a bare link that Back followed to the default options).
    """
    current = {key: st.query_params.get_all(key) for key in st.query_params}
    wanted = dict(current)
    wanted.pop(FROM_LINK, None)
    for key, value in changes.items():
        if value is None:
            wanted.pop(key, None)
        else:
            wanted[key] = value if isinstance(value, list) else [value]
    if wanted != current:
        st.query_params.from_dict(wanted)
