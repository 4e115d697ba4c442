"""animlib: log adversarial-attack runs, store them, animate them and render videos."""

from __future__ import annotations

from .errors import AnimlibError, RenderLimitError, RunFormatError, RunInputError
from .listing import RunInfo, list_runs
from .metrics import run_metrics
from .reader import Run, open_run, open_run_in
from .validate import Report, validate
from .writer import RunWriter

__all__ = [
    "AnimlibError",
    "RenderLimitError",
    "Report",
    "Run",
    "RunFormatError",
    "RunInfo",
    "RunInputError",
    "RunWriter",
    "animate",
    "list_runs",
    "open_run",
    "open_run_in",
    "render",
    "render_compare",
    "run_metrics",
    "validate",
]

__version__ = "0.1.0"


def __getattr__(name: str):
    # matplotlib-heavy parts load on first use, so logging from an attack loop stays light.
    if name == "animate":
        from .animate import animate

        return animate
    if name in ("render", "render_compare"):
        from . import render as _render

        return getattr(_render, name)
    raise AttributeError(f"module 'animlib' has no attribute {name!r}")
