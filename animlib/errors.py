"""The one error type animlib raises for bad input or broken runs, naming the run and the field."""

from __future__ import annotations


class AnimlibError(ValueError):
    """A clear, user-facing problem with a run: which run, which field, what is wrong.

    ``str(err)`` reads like ``run 'pgd-eps8': confidences: step 3 contains NaN``.
    """

    def __init__(self, message: str, *, run: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.run = run
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.run is not None:
            parts.append(f"run {self.run!r}")
        if self.field is not None:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def with_run(self, run: str) -> AnimlibError:
        """Return a copy of this error that names ``run`` (if it named none yet)."""
        if self.run is not None:
            return self
        return type(self)(self.message, run=run, field=self.field)


class RunFormatError(AnimlibError):
    """A stored run is broken: missing or truncated files, bad metadata, mismatched arrays."""


class RunInputError(AnimlibError):
    """Data handed to :class:`animlib.RunWriter` is not acceptable (shape, dtype, NaN, ...)."""


class RenderLimitError(AnimlibError):
    """A render request is too large (dpi, size, steps) and was refused before using resources."""
