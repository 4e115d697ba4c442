"""A run's images as a lazy sequence: ``run.images[i]`` reads only the chunk holding step i."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AnimlibError, Code, RunFormatError, StepIndexError

if TYPE_CHECKING:
    from .reader import Run

__all__ = ["ImageSteps", "StepIndexError"]


class ImageSteps:
    """Lazy sequence of a run's images: ``images[i]`` reads only the chunk holding step i."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._direct: Any = None  # the run's ChunkReader (False: none), made on first use

    def __len__(self) -> int:
        return len(self.run)

    def __repr__(self) -> str:
        """``ImageSteps(run=..., shape=(steps, H, W, C), dtype=...)`` from the array's metadata
        (no step is read); a run whose images cannot be opened shows why instead."""
        try:
            shape, dtype = self.shape, self.dtype
        except AnimlibError as exc:
            return f"ImageSteps(run={self.run.id!r}, steps={len(self)}, error={exc.reason()!r})"
        return f"ImageSteps(run={self.run.id!r}, shape={shape}, dtype={dtype})"

    def _read_direct(self, i: int) -> np.ndarray | None:
        """Step ``i`` read straight from its chunk (:class:`~animlib.chunk_reader.ChunkReader`,
        without Zarr's per-read overhead), or None when that reader cannot read it."""
        if self._direct is None:
            from .chunk_reader import ChunkReader

            self._direct = ChunkReader.of(self.run) or False
        if self._direct is False:
            return None
        got = self._direct.steps(i, i + 1, range(i, i + 1))
        return None if got is None else got.get(i)

    def _bad_index(self, index: Any) -> StepIndexError:
        return StepIndexError(
            f"index with an int, a slice or a list of ints; got {index!r}",
            run=self.run.id,
            field="step",
        )

    def __getitem__(self, index: int | slice | list[int] | np.ndarray) -> np.ndarray:
        n = len(self.run)
        if isinstance(index, (list, tuple, np.ndarray)):  # steps picked out, as numpy does
            picked = np.asarray(index) if len(index) else np.zeros(0, np.int64)
            if isinstance(index, tuple) or picked.dtype.kind not in "iu" or picked.ndim != 1:
                raise self._bad_index(index)
            return np.stack([self[int(i)] for i in picked]) if len(picked) else np.zeros(0)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1 and start < stop:  # one read: steps sharing a chunk decode it once
                try:
                    return self.run.read_steps("images", start, stop)
                except RunFormatError as exc:
                    if exc.code == Code.UNSAFE:
                        raise
                    # read step by step below, so the error names the broken step
            return np.stack([self[i] for i in range(start, stop, step)]) if n else np.zeros(0)
        if not isinstance(index, numbers.Integral) or isinstance(index, (bool, np.bool_)):
            raise self._bad_index(index)  # images[1.7] read step 1, images["1"] too
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise StepIndexError(
                f"step {index} out of range for a run of {n} steps", run=self.run.id, field="step"
            )
        direct = self._read_direct(i)
        return direct if direct is not None else self.run.read_steps("images", i, i + 1)[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def shape(self) -> tuple[int, ...]:
        """``(steps, H, W, C)``, as a numpy array of every step would have."""
        return (len(self.run), *self.run.image_shape)

    @property
    def dtype(self) -> np.dtype:
        """The dtype ``images[i]`` comes back as (uint8, or float32 for float images)."""
        return np.dtype(self.run.array_info("images").dtype)

    @property
    def chunk_len(self) -> int:
        """How many steps share one stored chunk (reading a step decodes its whole chunk)."""
        try:
            return max(int(self.run.array_info("images").chunks[0]), 1)
        except AnimlibError:
            return 1
