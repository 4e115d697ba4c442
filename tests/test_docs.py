"""What the README and the benchmarks' docs say agrees with the repository's own files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _own_project_block() -> str:
    """The README's "Use animlib from your own project" commands."""
    start = README.index("pip install -e '/path/to/animlib[dashboard]'")
    return README[start : README.index("```", start)]


def test_the_readme_dashboard_flags_are_the_settings_of_config_toml():
    """README: "The flags are the settings of .streamlit/config.toml"; one of them
    (global.disableWidgetStateDuplicationWarning) was missing."""
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    settings = {f"{s}.{k}": str(v).lower() for s, table in config.items() for k, v in table.items()}
    flags = dict(re.findall(r"--([a-zA-Z]+\.[a-zA-Z]+) (\S+)", _own_project_block()))
    assert flags == settings


def test_the_readme_starts_the_dashboard_in_a_project_without_runs():
    """``animlib ls runs && streamlit ...`` never started the dashboard in a new project:
    ``ls`` of a folder that does not exist yet exits 2."""
    commands = _own_project_block().replace("\\\n", " ").splitlines()
    (dashboard,) = [c for c in commands if "streamlit run" in c]
    assert dashboard.startswith("python -m streamlit run "), dashboard


def test_the_duration_of_run_all_is_said_alike_everywhere():
    """README said about 15 minutes, run_all.py 17, benchmarks/README.md ~15, HISTORY.md 6."""

    def read(name: str) -> str:
        return (REPO / "benchmarks" / name).read_text(encoding="utf-8")

    said = {
        "README.md": re.findall(r"run_all\.py` \(about (\d+) minutes", README),
        "run_all.py": re.findall(r"About (\d+) minutes", read("run_all.py")),
        "benchmarks/README.md": re.findall(r"run_all\.py .*~(\d+) min", read("README.md")),
        "HISTORY.md": re.findall(r"run_all\.py` \(about (\d+) minutes", read("HISTORY.md")),
    }
    assert all(len(found) == 1 for found in said.values()), said
    assert len({found[0] for found in said.values()}) == 1, said
