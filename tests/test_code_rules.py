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


def _declared() -> set[str]:
    """Distribution names pyproject.toml declares (dependencies and every extra), normalized."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {re.split(r"[<>=!~;\[ ]", s, maxsplit=1)[0].lower().replace("_", "-") for s in specs}


def test_every_module_animlib_imports_is_declared():
    """numcodecs was imported by three modules and came only as zarr's dependency; torchattacks
    is installed apart (``--no-deps``: see pyproject.toml)."""
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    found: dict[str, str] = {}
    for path in [*(REPO / "animlib").rglob("*.py"), REPO / "dashboard.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("animlib", "app_pages"):
                    found.setdefault(top, str(path.relative_to(REPO)))
    declared = _declared() | {
        "torchattacks",  # installed apart
        "typing-extensions",  # for type checkers only (under TYPE_CHECKING)
        "threadpoolctl",  # scikit-learn's (the demo extra), and optional where it is imported
    }
    missing = {
        top: where
        for top, where in found.items()
        if not {d.lower().replace("_", "-") for d in dists.get(top, [top])} & declared
    }
    assert len(found) > 8 and missing == {}, f"declare these in pyproject.toml: {missing}"
