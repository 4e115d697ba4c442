"""animlib: log adversarial-attack runs, store them, animate them and render videos."""

from __future__ import annotations

__version__ = "0.1.0"

from .animation import animate
from .errors import AnimlibError, RenderLimitError, RunFormatError, RunInputError
from .experiment_writer import BatchWriter
from .experiments import ExperimentInfo, list_experiments, summarize
from .listing import RunInfo, list_runs
from .metrics import run_metrics
from .reader import Run, open_run, open_run_in
from .rendering import render, render_compare
from .validation import Report, validate
from .writer import RunWriter

__all__ = [
    "AnimlibError",
    "BatchWriter",
    "ExperimentInfo",
    "RenderLimitError",
    "Report",
    "Run",
    "RunFormatError",
    "RunInfo",
    "RunInputError",
    "RunWriter",
    "animate",
    "list_experiments",
    "list_runs",
    "open_run",
    "open_run_in",
    "render",
    "render_compare",
    "run_metrics",
    "summarize",
    "validate",
]
