"""Streamlit entry point: runs at /, /experiments, the viewer at /viewer, /compare."""

from __future__ import annotations

import logging

import streamlit as st

from animlib import in_app_links, linked_view
from animlib.cache.folder import check_outside
from animlib.errors import AnimlibError
from animlib.text import printable
from animlib.ui import md, root

PAGE_LINK_WRAP = (
    "[data-testid='stPageLink-NavLink'] span, [data-testid='stPageLink-NavLink'] p"
    " {white-space: normal; overflow-wrap: anywhere}"
    # the element holding ROOT_LINK_FIX takes no room
    " [data-testid='stElementContainer']:has(#animlib-root-links) {display: none}"
    f" [data-testid='stElementContainer']:has(#{in_app_links.SCRIPT_ID}) {{display: none}}"
)
# Streamlit writes a page link to the default page (the runs page) as a bare "?query" (or ""),
# which a browser resolves against the page it is on: a middle click, "open in new tab" or a
# copied link to "All runs" from the viewer opened the viewer. Left clicks navigate in the app
# and never read it. Made relative to the app's root ("./?query"), as every other page's are.
ROOT_LINK_FIX = """(() => {
  if (window.animlibRootLinks) return;
  window.animlibRootLinks = true;
  const fix = () => {
    for (const a of document.querySelectorAll('a[data-testid="stPageLink-NavLink"]')) {
      const href = a.getAttribute("href");
      if (href === "" || (href && href.startsWith("?"))) a.setAttribute("href", "./" + href);
    }
  };
  fix();
  new MutationObserver(fix).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["href"],
  });
})();"""
_cache_log = logging.getLogger("animlib.cache")
if not _cache_log.handlers:  # the server log tells renders from cache hits (shared ones too)
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    _cache_log.addHandler(_handler)
    _cache_log.setLevel(logging.INFO)

st.set_page_config(page_title="animlib", page_icon="🎞️", layout="wide")
# a link's label too long for a narrow window wraps (Streamlit cuts it, with no ellipsis)
st.html(f"<style>{PAGE_LINK_WRAP}</style>")
st.html(f'<script id="animlib-root-links">{ROOT_LINK_FIX}</script>', unsafe_allow_javascript=True)
st.html(
    f'<script id="{in_app_links.SCRIPT_ID}">{in_app_links.SCRIPT}</script>',
    unsafe_allow_javascript=True,
)
page = st.navigation(
    [
        st.Page("app_pages/runs.py", title="Runs", icon=":material/table_rows:", default=True),
        st.Page(
            "app_pages/experiments.py",
            title="Experiments",
            icon=":material/grid_view:",
            url_path="experiments",
        ),
        st.Page("app_pages/viewer.py", title="Viewer", icon=":material/movie:", url_path="viewer"),
        st.Page(
            "app_pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"
        ),
    ],
    position="top",
)
linked_view.note_page(page.url_path)
st.set_page_config(page_title=f"{page.title} · animlib")  # (the viewer names its run)
try:  # the render cache (and the run index in it) must not write among the runs shown
    check_outside(root())
except AnimlibError as exc:  # (the results folder's URL, or the cache's setting)
    cache_setting = str(exc.field).startswith("ANIMLIB_CACHE")
    what = "start with this render cache setting" if cache_setting else "show this folder"
    st.error(f"The dashboard cannot {what}: {md(printable(exc))}")
    st.stop()
try:
    page.run()
except (AnimlibError, OSError) as exc:  # a damaged run or file: say so, never a traceback
    logging.getLogger("animlib").warning("page stopped: %s", exc, exc_info=True)
    st.error(f"This page cannot be shown: {md(printable(exc))}")
