"""The code rules of the restructure: small modules, simple functions, no private reach-ins."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("animlib", "app_pages")
MAX_LINES = 500


def test_no_module_is_over_500_lines():
    modules = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")]
    assert len(modules) > 50
    long = {
        str(p.relative_to(REPO)): n
        for p in modules
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


def test_ruff_finds_no_complex_function_and_no_private_reach_in():
    """ruff's C901 (max-complexity 12, from pyproject.toml) and SLF001 on the packages."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.fail("ruff is not installed (requirements-dev.txt installs it)")
    done = subprocess.run(
        [ruff, "check", "--select", "C901,SLF001", "--output-format", "concise", *PACKAGES],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_page_relies_on_streamlit_magic():
    """.streamlit/config.toml turns magic off (a new session compiles the pages faster): a bare
    expression in a page would silently show nothing, so none may be there."""
    config = (REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert re.search(r"^\[runner\][^[]*^magicEnabled = false$", config, re.M | re.S)
    pages = [REPO / "dashboard.py", *(REPO / "app_pages").glob("*.py")]
    assert len(pages) >= 5
    bare = [
        f"{page.name}:{node.lineno}"
        for page in pages
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8")))
        if isinstance(node, ast.Expr)
        and not isinstance(node.value, ast.Call | ast.Await)
        and not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))
    ]
    assert bare == [], f"bare expressions (magic is off, they show nothing): {bare}"
