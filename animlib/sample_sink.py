"""SampleSink: the run of one sample of a BatchWriter, buffered (its Flusher writes it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .appender import RunAppender, Step
from .batch_input import ExperimentInputError
from .errors import Code
from .stepcodec import Prepared
from .writer import RunWriter


class SampleSink:
    """The run of one sample: a :class:`~animlib.RunWriter` (it creates and checks the run)
    whose steps are buffered in its :class:`~animlib.appender.RunAppender` rather than written
    per call; the BatchWriter's :class:`~animlib.flusher.Flusher` writes them."""

    def __init__(self, writer: RunWriter) -> None:
        self._writer = writer

    @classmethod
    def create(
        cls,
        root: str,
        run_id: str,
        fields: dict[str, Any],
        original: np.ndarray | None,
        extra: dict[str, Any],
        storage_options: dict[str, Any] | None,
    ) -> SampleSink:
        """Create the run ``run_id`` in ``root``; ``extra`` keys go into its run.json."""
        w = RunWriter(
            root,
            name=run_id,
            original=original,
            layout="HWC",
            storage_options=storage_options,
            **fields,
        )
        if w.run_id != run_id:  # the folder appeared since the experiment id was chosen
            w.finish("failed")  # a failed run with zero steps removes itself
            raise ExperimentInputError(
                f"run {run_id!r} appeared while the experiment was starting (another writer?)",
                field="experiment",
                code=Code.BUSY,
                experiment=extra.get("experiment"),
                sample=extra.get("sample"),
            )
        w.meta.update(extra)  # written to run.json with the first step
        return cls(w)

    @classmethod
    def reopen(cls, url: str, storage_options: dict[str, Any] | None) -> SampleSink:
        """Re-open an existing sample run to append after its last complete step."""
        return cls(RunWriter.resume(url, storage_options=storage_options))

    @property
    def run_id(self) -> str:
        return self._writer.run_id

    @property
    def steps(self) -> int:
        """Steps logged to this sample (stored or buffered)."""
        return len(self._writer) + self._writer.appender.pending

    @property
    def appender(self) -> RunAppender:
        """The storage engine of this sample's run."""
        return self._writer.appender

    def append(self, image: Prepared, conf: np.ndarray | None, scalars: dict[str, float]) -> None:
        """Buffer one checked step: the prepared (H, W, C) image, (K,) probabilities or None,
        scalars."""
        self._writer.appender.append(Step(image, conf, scalars))

    def finish(self, status: str, error: str | None = None) -> None:
        """Mark the run ``status`` and release it."""
        self._writer.finish(status, error=error)
