"""The viewer's and compare page's render-option widgets, started from the page's link and kept
in it (a shared link shows the same top-k, gain and speed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from . import linked_view
from .link_state import Spec

FPS = (1, 60)
GAIN = (0.0, 1000.0)  # 0: automatic


def spec(page: str, *, gain: bool) -> Spec:
    """The widgets of ``page`` ("viewer" or "compare") and their link parameters."""
    p = page[0]
    view = [
        (f"{p}_fps", "fps", "int"),
        (f"{p}_dpi", "dpi", "choice"),
        (f"{p}_stride", "stride", "int"),
        (f"{p}_top_k", "top_k", "int"),
    ]
    return tuple(view + ([(f"{p}_gain", "gain", "decimal")] if gain else []))


def option_widgets(
    page: str,
    *,
    steps: int,
    n_classes: int,
    top_k: int,
    dpis: Sequence[int],
    gain: bool,
    note: str = "",
) -> dict[str, Any]:
    """The render options chosen in the page's "Render options" expander, from the link on
    the page's first run (what it names that cannot be used is said above the expander) and
    kept in it.

    Args:
        page: "viewer" or "compare" (the widgets' keys and the session's view).
        steps: the most steps of the runs shown (the stride's largest value).
        n_classes: the top-k's largest value.
        top_k: the top-k on a bare link.
        dpis: the dpi choices (100 on a bare link).
        gain: whether the page has the perturbation gain widget.
        note: a caption under the widgets.

    Returns:
        ``fps``, ``dpi``, ``stride``, ``top_k`` and ``amplification`` (None: automatic).
    """
    view = spec(page, gain=gain)
    keys = [key for key, _, _ in view]
    ranges: dict[str, tuple[int, int] | tuple[float, float]] = {
        keys[0]: FPS,
        keys[2]: (1, max(1, steps)),
        keys[3]: (1, max(1, n_classes)),
    }
    if gain:
        ranges[keys[4]] = GAIN
    defaults: dict[str, object] = {keys[0]: 10, keys[1]: 100, keys[2]: 1, keys[3]: top_k}
    if gain:
        defaults[keys[4]] = 0.0
    for key, (low, high) in ranges.items():  # a run replaced by a shorter one, fewer classes
        value = st.session_state.get(key)
        if isinstance(value, int | float) and not low <= value <= high:
            st.session_state[key] = defaults[key]
    options = {**ranges, keys[1]: list(dpis)}
    anchors = ("run",) if page == "viewer" else ("runs",)
    linked_view.restore_view(view, name=page, options=options, defaults=defaults, anchors=anchors)
    linked_view.show_link_problems(page)
    with st.expander("Render options", icon=":material/tune:"):
        fps, dpi, stride, k, amp = _widgets(page, view, ranges, dpis)
        if note:
            st.caption(note)
    linked_view.keep_view(view, name=page, defaults=defaults, anchors=anchors)
    return {
        "fps": float(fps),
        "dpi": int(dpi),
        "stride": int(stride),
        "top_k": int(k),
        "amplification": float(amp) if amp else None,
    }


def _widgets(page: str, view: Spec, ranges: dict[str, Any], dpis: Sequence[int]) -> list[Any]:
    keys = [key for key, _, _ in view]
    changed = {"on_change": linked_view.view_changed, "args": (page,)}
    o = st.columns(len(view))
    fps = o[0].slider("fps", *FPS, key=keys[0], **changed)
    dpi = o[1].select_slider("dpi", list(dpis), key=keys[1], **changed)
    stride = o[2].number_input(
        "stride", *ranges[keys[2]], key=keys[2], help="every n-th step, and the last", **changed
    )
    k = o[3].number_input("top-k classes", *ranges[keys[3]], key=keys[3], **changed)
    amp = None
    if len(keys) > 4:
        amp = o[4].number_input(
            "perturbation gain (0 = auto)", *ranges[keys[4]], step=1.0, key=keys[4], **changed
        )
    return [fps, dpi, stride, k, amp]
