"""What drawing and rendering need from a run (``RunLike``); "one run or several", decided once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

from .errors import RenderOptionError

MIN_COMPARE = 2
MAX_COMPARE = 6
RunPath: TypeAlias = "str | os.PathLike[str]"  # a run folder (local path or fsspec URL)


class ImageSequence(Protocol):
    """``images[i]`` is step i as an (H, W, C) array; slices give (n, H, W, C)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> np.ndarray: ...


@runtime_checkable
class RunLike(Protocol):
    """The read interface of a run that figures, renders and metrics use.

    :class:`animlib.Run` implements it; so can any object (an in-memory run in a test or a
    notebook). ``confidences`` is (steps, K) float32 or None; ``original`` (H, W, C) or None;
    ``image_shape`` is (H, W, C).
    """

    id: str

    @property
    def name(self) -> str: ...

    @property
    def attack(self) -> str | None: ...

    @property
    def model(self) -> str | None: ...

    @property
    def class_names(self) -> list[str] | None: ...

    @property
    def true_label(self) -> int | None: ...

    @property
    def target_label(self) -> int | None: ...

    @property
    def images(self) -> ImageSequence: ...

    @property
    def confidences(self) -> np.ndarray | None: ...

    @property
    def original(self) -> np.ndarray | None: ...

    @property
    def image_shape(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...


def run_label(run: Any) -> str:
    """How a run is named in messages: its id, else its name."""
    return str(getattr(run, "id", None) or getattr(run, "name", None) or "run")


def as_runs(run_or_runs: RunLike | RunPath | Sequence[RunLike | RunPath]) -> list[RunLike]:
    """``[run]`` for one run, the runs as a list for a list or tuple of runs; a run folder's
    path (a string or path-like, as the CLI takes it) is opened with :func:`animlib.open_run`."""
    items = list(run_or_runs) if isinstance(run_or_runs, (list, tuple)) else [run_or_runs]
    if not any(isinstance(item, (str, os.PathLike)) for item in items):
        return items  # type: ignore[return-value]
    from .reader import open_run

    return [open_run(i) if isinstance(i, (str, os.PathLike)) else i for i in items]


def labels(runs: Sequence[RunLike]) -> str:
    """The runs' labels joined by commas (the ``run`` of an error about several runs)."""
    return ",".join(run_label(r) for r in runs)


def check_compare(runs: Sequence[RunLike]) -> None:
    """Refuse a comparison of fewer than 2 or more than 6 runs."""
    if not MIN_COMPARE <= len(runs) <= MAX_COMPARE:
        raise RenderOptionError(
            f"a comparison needs {MIN_COMPARE} to {MAX_COMPARE} runs, got {len(runs)}",
            run=labels(runs) or None,
            field="runs",
        )
