"""What a figure reads from a run, read and checked once: steps, confidences, labels, classes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import Code, RunFormatError
from ..protocol import RunLike, run_label
from ..text import one_line, unique_names

__all__ = ["RunData", "choose_classes", "confidences", "ranked_classes", "top_count"]


def confidences(run: RunLike) -> np.ndarray | None:
    """(steps, K) float32 confidences, or None when the run has none to show."""
    conf = run.confidences
    if conf is None:
        return None
    conf = np.asarray(conf, dtype=np.float32)
    if conf.ndim != 2 or conf.shape[0] == 0 or conf.shape[1] == 0:
        return None
    return conf


def has_original(run: RunLike) -> bool:
    """Whether the run's original image can be shown beside its steps (same shape)."""
    original = run.original
    return original is not None and tuple(np.shape(original)) == tuple(run.image_shape)


def _label(value: object, k: int) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return v if 0 <= v < k else None


def _class_names(run: RunLike, k: int) -> tuple[str, ...]:
    """One-line names of the K classes, told apart as everywhere (:func:`unique_names`: the
    header read "true: crane · target: crane" for ImageNet's two cranes)."""
    names = run.class_names
    names = list(names) if names is not None else []
    return tuple(unique_names([one_line(names[i]) if i < len(names) else str(i) for i in range(k)]))


def ranked_classes(conf: np.ndarray) -> tuple[np.ndarray, int]:
    """Every class in the order the bars take them (after the true and target classes), and how
    many of them are some step's argmax: first the argmax of some step (the final step's first,
    then by the number of steps it leads), then the others by peak confidence (NaN never wins).
    """
    c = np.nan_to_num(conf, nan=-1.0)  # (as RunData's argmax)
    by_peak = np.argsort(-c.max(axis=0), kind="stable")
    counts = np.bincount(np.argmax(c, axis=1), minlength=conf.shape[1])
    final = int(np.argmax(c[-1]))
    leaders = by_peak[np.argsort(-counts[by_peak], kind="stable")][: np.count_nonzero(counts)]
    leaders = [final, *(int(x) for x in leaders if x != final)]
    rest = by_peak[counts[by_peak] == 0]
    return np.concatenate([np.asarray(leaders, dtype=by_peak.dtype), rest]), len(leaders)


def top_count(
    conf: np.ndarray,
    top_k: int,
    true_label: int | None,
    target_label: int | None,
    rows: int | None = None,
) -> int:
    """How many classes besides the true and target ones a run's bars show: ``top_k``, or more
    when more classes are some step's argmax (each gets a bar: the bars never leave out the
    class a frame's header names as predicted), at most every class; fewer when only ``rows``
    bars fit beside the true and target classes (these keep theirs; then the argmax classes
    leading the fewest steps are the ones left out, the final step's is kept)."""
    order, leaders = ranked_classes(conf)
    k = min(max(top_k, leaders), conf.shape[1])
    if rows is None:
        return k
    marked = {int(c) for c in (true_label, target_label) if c is not None}
    k = min(k, rows)
    while k > 1 and len(marked.union(order[:k].tolist())) > rows:
        k -= 1  # (at least one: "top 0 of 1,000" over the true class alone said nothing)
    return k


def choose_classes(
    conf: np.ndarray, top_k: int, true_label: int | None, target_label: int | None
) -> list[int]:
    """Fixed class set for a run: true, target, then ``top_k`` more in the order of peak
    confidence: the classes that are some step's argmax first (see :func:`top_count` for how
    many the bars show: all of them when they fit), then the others by peak confidence."""
    order, _ = ranked_classes(conf)
    top = np.sort(order[: min(top_k, conf.shape[1])])  # (equal peaks: by class)
    peak = np.nan_to_num(conf, nan=0.0).max(axis=0)
    top = top[np.argsort(-peak[top], kind="stable")]
    chosen: list[int] = []
    for c in (true_label, target_label, *top.tolist()):
        if c is not None and c not in chosen:
            chosen.append(int(c))
    return chosen


def check_steps(run: RunLike) -> int:
    """The run's number of steps; a run without steps is a :class:`RunFormatError` (EMPTY)."""
    n = len(run)
    if n == 0:
        raise RunFormatError(
            "has no steps to show", run=run_label(run), field="steps", code=Code.EMPTY
        )
    return n


@dataclass(frozen=True)
class RunData:
    """A run as one row of a figure sees it.

    ``confidences`` (steps, K) or None; ``original`` only when it has the steps' shape;
    ``class_names`` K one-line names; labels None unless in [0, K).
    """

    run: RunLike
    n_steps: int
    confidences: np.ndarray | None
    original: np.ndarray | None
    class_names: tuple[str, ...]
    true_label: int | None
    target_label: int | None
    running: bool = False  # the run is still being written (its ``status`` is ``running``)
    failed: bool = False  # its writer stopped on an error: the last step is not the attack's end

    @classmethod
    def of(cls, run: RunLike) -> RunData:
        n = check_steps(run)
        conf = confidences(run)
        k = conf.shape[1] if conf is not None else 0
        return cls(
            run=run,
            n_steps=n,
            confidences=conf,
            original=run.original if has_original(run) else None,
            class_names=_class_names(run, k),
            true_label=_label(run.true_label, k),
            target_label=_label(run.target_label, k),
            running=getattr(run, "status", None) == "running",
            failed=getattr(run, "status", None) == "failed",
        )

    @property
    def label(self) -> str:
        """The run's name (else its id), as the header shows it."""
        return str(self.run.name or self.run.id or "run")

    def clamp(self, step: int) -> int:
        """``step`` within the run (shorter runs of a comparison hold their last step)."""
        return min(max(int(step), 0), self.n_steps - 1)

    def prediction(self, step: int) -> tuple[np.ndarray, int] | None:
        """(confidence row, argmax) at ``step`` (NaN never wins), None without confidences."""
        if self.confidences is None:
            return None
        i = min(step, self.confidences.shape[0] - 1)
        return self.confidences[i], int(self._argmax[i])

    @cached_property
    def _argmax(self) -> np.ndarray:
        """The argmax of every step's confidences (NaN never wins), computed once."""
        assert self.confidences is not None
        return np.argmax(np.nan_to_num(self.confidences, nan=-1.0), axis=1)
