"""SampleSink: the run of one sample of a BatchWriter, buffered (its Flusher writes it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import lock
from .appender import RunAppender, Step
from .batch_input import ExperimentInputError
from .errors import Code, RunInputError
from .open_writers import untrack
from .outcomes import INDEX_FIELD, is_index_range
from .store import open_store
from .writer import RunWriter

STEPS_FIELD = "experiment_steps"  # run.json: the experiment's log calls its stored steps cover


def steps_before(index: Any, covered: int) -> int | None:
    """How many of a sample's steps were logged before experiment step ``covered``.

    Args:
        index: The run's ``experiment_index`` (``[[experiment step, run step, count], ...]``).
        covered: An experiment step count.

    Returns:
        The number of steps, or None when ``index`` is not a valid ``experiment_index``.
    """
    if not isinstance(index, list):
        return None
    total = 0
    for item in index:
        if not is_index_range(item):
            return None
        first, _, count = item
        total += max(0, min(count, covered - first))
    return total


def index_before(index: list[list[int]], covered: int) -> list[list[int]]:
    """Cut an ``experiment_index`` to the steps logged before experiment step ``covered``.

    Args:
        index: A valid ``experiment_index``.
        covered: An experiment step count.

    Returns:
        The ranges (``[experiment step, run step, count]``) before ``covered``.
    """
    out = []
    for first, step, count in index:
        if first < covered:
            out.append([first, step, min(count, covered - first)])
    return out


def common_steps(infos: list[Any]) -> int | None:
    """The experiment step every sample run has stored (a kill may have caught the background
    writer between samples: the ones ahead are cut back to it). None for runs written before
    run.json recorded it."""
    covered = [i.get(STEPS_FIELD) for i in infos]
    if not all(type(c) is int and c > 0 for c in covered):
        return None
    if any(steps_before(i.get(INDEX_FIELD), 0) is None for i in infos):
        return None
    return min(covered)


class SampleSink:
    """The run of one sample: a :class:`~animlib.RunWriter` (it creates and checks the run)
    whose steps are buffered in its :class:`~animlib.appender.RunAppender` rather than written
    per call; the BatchWriter's :class:`~animlib.flusher.Flusher` writes them."""

    def __init__(self, writer: RunWriter) -> None:
        self._writer = writer
        untrack(writer)  # (its BatchWriter closes it, at exit too)
        index = writer.meta.get(INDEX_FIELD)
        self._index = [list(r) for r in index] if steps_before(index, 0) is not None else []

    @classmethod
    def create(
        cls, root: str, run_id: str, writer_args: dict[str, Any], extra: dict[str, Any]
    ) -> SampleSink:
        """Create the run ``run_id`` in ``root`` with ``RunWriter(**writer_args)`` (its fields,
        ``original``, ``storage_options``); ``extra`` keys go into its run.json."""
        member = {k: extra[k] for k in ("experiment", "sample")}  # from its first run.json on
        fields = {**member, STEPS_FIELD: 0, INDEX_FIELD: []}
        w = RunWriter(root, name=run_id, layout="HWC", fields=fields, **writer_args)
        if w.run_id != run_id:  # the folder appeared since the experiment id was chosen
            w.finish("failed")  # a failed run with zero steps removes itself
            raise ExperimentInputError(
                f"run {run_id!r} appeared while the experiment was starting (another writer?)",
                field="experiment",
                code=Code.BUSY,
                experiment=extra.get("experiment"),
                sample=extra.get("sample"),
            )
        w.meta.update(extra)  # the rest is written to run.json with the first step
        return cls(w)

    @classmethod
    def reopen(
        cls, url: str, storage_options: dict[str, Any] | None, covered: int | None = None
    ) -> SampleSink:
        """Re-open an existing sample run to append after its last complete step, or (with
        ``covered``) after the last step logged before experiment step ``covered`` -- so every
        sample of a resumed experiment continues at the same experiment step."""
        from .experiment_ids import busy_error
        from .reader import open_run

        keep, fields = None, None
        if covered is not None:
            index = open_run(url, storage_options=storage_options).meta.get(INDEX_FIELD)
            keep = steps_before(index, covered)
            fields = {STEPS_FIELD: covered, INDEX_FIELD: index_before(index, covered)}
        try:
            w = RunWriter.resume(url, storage_options=storage_options, steps=keep, fields=fields)
        except RunInputError as exc:  # (said of the experiment: "this run" named none)
            if exc.code != Code.BUSY or not (who := lock.holder(open_store(url, storage_options))):
                raise
            experiment = open_run(url, storage_options=storage_options).meta.get("experiment")
            raise busy_error(exc.run or "", who, experiment, "resume") from None
        return cls(w)

    @property
    def run_id(self) -> str:
        return self._writer.run_id

    @property
    def steps(self) -> int:
        """Steps logged to this sample (stored or buffered)."""
        return len(self._writer) + self._writer.appender.pending_steps

    @property
    def appender(self) -> RunAppender:
        """The storage engine of this sample's run."""
        return self._writer.appender

    def append(
        self,
        image: np.ndarray,
        conf: np.ndarray | None,
        scalars: dict[str, float],
        at: int,
        done: Callable[[], None] | None = None,
    ) -> None:
        """Buffer one checked step logged at experiment step ``at``: the (H, W, C) image (not
        to be changed any more), (K,) probabilities or None, scalars; ``done`` is called
        once it is stored."""
        n, last = self.steps, self._index[-1] if self._index else None
        if last is not None and last[0] + last[2] == at and last[1] + last[2] == n:
            last[2] += 1
        else:
            self._index.append([at, n, 1])
        self._writer.appender.append(Step(image, conf, scalars, done))

    def covered(self, steps: int) -> None:
        """The experiment has logged ``steps`` steps: say so in run.json with the next flush."""
        index = [list(r) for r in self._index]
        self._writer.appender.note({STEPS_FIELD: steps, INDEX_FIELD: index})

    def finish(self, status: str, error: str | None = None) -> None:
        """Mark the run ``status`` and release it."""
        self._writer.finish(status, error=error)
