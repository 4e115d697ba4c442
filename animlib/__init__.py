"""animlib: log adversarial-attack runs, store them, animate them and render videos."""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

from . import code_stamp  # noqa: F401 (the code files as imported: see cache.keys.code_digest)
from .errors import (
    AnimlibError,
    Code,
    ExperimentInputError,
    ExperimentStoreError,
    RenderError,
    RenderLimitError,
    RenderOptionError,
    RunFormatError,
    RunInputError,
    StepIndexError,
    StoreError,
)

if TYPE_CHECKING:
    from .animation import animate
    from .experiment_info import ExperimentInfo
    from .experiment_writer import BatchWriter
    from .experiments import list_experiments, run_outcomes, summarize
    from .listing import RunInfo, list_runs
    from .metrics import run_metrics
    from .open_writers import finish
    from .reader import Run, open_run, open_run_in
    from .rendering import render, render_compare
    from .validation import Report, validate
    from .writer import RunWriter

# The rest of the public API is imported on first use (PEP 562): ``import animlib`` stays cheap
# for a script that only logs or lists runs (matplotlib and pandas load with the first render).
_LAZY = {
    "animate": ".animation",
    "BatchWriter": ".experiment_writer",
    "ExperimentInfo": ".experiment_info",
    "list_experiments": ".experiments",
    "summarize": ".experiments",
    "run_outcomes": ".experiments",
    "RunInfo": ".listing",
    "list_runs": ".listing",
    "run_metrics": ".metrics",
    "finish": ".open_writers",
    "Run": ".reader",
    "open_run": ".reader",
    "open_run_in": ".reader",
    "render": ".rendering",
    "render_compare": ".rendering",
    "Report": ".validation",
    "validate": ".validation",
    "RunWriter": ".writer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AnimlibError",
    "BatchWriter",
    "Code",
    "ExperimentInfo",
    "ExperimentInputError",
    "ExperimentStoreError",
    "RenderError",
    "RenderLimitError",
    "RenderOptionError",
    "Report",
    "Run",
    "RunFormatError",
    "RunInfo",
    "RunInputError",
    "RunWriter",
    "StepIndexError",
    "StoreError",
    "animate",
    "finish",
    "list_experiments",
    "list_runs",
    "open_run",
    "open_run_in",
    "render",
    "render_compare",
    "run_metrics",
    "run_outcomes",
    "summarize",
    "validate",
]
