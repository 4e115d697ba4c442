"""Streamlit entry point: runs page at /, viewer at /viewer, compare page at /compare."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="animlib", page_icon=":material/movie:", layout="wide")
page = st.navigation(
    [
        st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", default=True),
        st.Page("pages/viewer.py", title="Viewer", icon=":material/movie:", url_path="viewer"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    ],
    position="top",
)
page.run()
