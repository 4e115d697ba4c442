"""What drawing and rendering need from a run (``RunLike``); "one run or several", decided once."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

from .errors import RenderOptionError, RunInputError

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


def as_runs(
    run_or_runs: RunLike | RunPath | Iterable[RunLike | RunPath], field: str = "run"
) -> list[RunLike]:
    """``[run]`` for one run, the runs as a list for a list, tuple or other iterable of runs (a
    generator, say); a run folder's path (a string or path-like, as the CLI takes it) is opened
    with :func:`animlib.open_run`. Anything else (None, a number, a dict) raises RunInputError
    naming the argument ``field``."""
    if _is_one(run_or_runs):
        items = [run_or_runs]
    elif isinstance(run_or_runs, Iterable) and not isinstance(
        run_or_runs, (bytes, Mapping, np.ndarray)
    ):
        items = list(run_or_runs)
    else:
        items = [run_or_runs]
    for item in items:
        if not _is_one(item):
            raise RunInputError(
                "must be a run (as animlib.open_run returns), a run folder's path, or a list of"
                f" them; got {_described(item)}",
                field=field,
            )
    if not any(isinstance(item, (str, os.PathLike)) for item in items):
        return items  # type: ignore[return-value]
    from .reader import open_run

    return [open_run(i) if isinstance(i, (str, os.PathLike)) else i for i in items]


def as_run(run: RunLike | RunPath, field: str = "run") -> RunLike:
    """One run: a run, or a run folder's path opened with :func:`animlib.open_run`; anything
    else (several runs too) raises RunInputError naming the argument ``field``."""
    if not _is_one(run):
        raise RunInputError(
            f"must be one run (as animlib.open_run returns) or a run folder's path; got"
            f" {_described(run)}",
            field=field,
        )
    return as_runs(run, field)[0]


def _is_one(item: Any) -> bool:
    """Whether ``item`` is one run: a run folder's path, or an object with a run's images."""
    return isinstance(item, (str, os.PathLike)) or (
        hasattr(item, "images") and hasattr(item, "__len__")
    )


def _described(value: Any) -> str:
    """``value`` named in a message: its type, and its value when short."""
    text = repr(value)
    kind = type(value).__name__
    return kind if len(text) > 60 or text.startswith("<") else f"{kind} {text}"


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
