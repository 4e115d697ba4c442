"""Streamlit entry point: runs at /, /experiments, the viewer at /viewer, /compare."""

from __future__ import annotations

import logging

import streamlit as st

from animlib.errors import AnimlibError
from animlib.text import printable
from animlib.ui import md

st.set_page_config(page_title="animlib", page_icon="🎞️", layout="wide")
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
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    ],
    position="top",
)
try:
    page.run()
except (AnimlibError, OSError) as exc:  # a damaged run or file: say so, never a traceback
    logging.getLogger("animlib").warning("page stopped: %s", exc, exc_info=True)
    st.error(f"This page cannot be shown: {md(printable(exc))}")
