"""Every error animlib raises: an ``AnimlibError`` naming the run and the field, with a code."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any


class Code(str, Enum):  # noqa: UP042 (StrEnum would change str() of a code)
    """Machine-readable kinds of problems; callers (the UI, the CLI) decide on these, never on
    message text. The value is what ``AnimlibError.code`` holds."""

    INVALID = "invalid"  # a value of the wrong type, range or shape
    MISSING = "missing"  # a file, array, chunk or field that should be there is not
    NOT_FOUND = "not_found"  # no run (folder) with that id or path at all
    CORRUPT = "corrupt"  # stored bytes that cannot be decoded
    MISMATCH = "mismatch"  # stored parts that disagree (steps, shapes, dtypes, classes)
    EMPTY = "empty"  # a run with zero steps
    VERSION = "version"  # an unknown format version
    LIMIT = "limit"  # larger than a configured limit
    UNSAFE = "unsafe"  # path traversal, a symlink leading outside, a hostile id
    BUSY = "busy"  # another writer holds the run
    CLOSED = "closed"  # the writer was closed
    UNKNOWN_OPTION = "unknown_option"  # a render option that does not exist (a typo)
    UNSUPPORTED = "unsupported"  # an output format or storage scheme this machine cannot do
    STORAGE = "storage"  # the storage refused an operation (read-only, no space, gone)
    RENDER = "render"  # the encoder failed while rendering
    REPLACED = "replaced"  # a run opened before was written again under its id since


class AnimlibError(ValueError):
    """A clear, user-facing problem: which run, which field, what is wrong, and its ``code``.

    ``str(err)`` reads like ``run 'pgd-eps8': confidences: step 3 contains NaN``.
    """

    default_code = Code.INVALID

    def __init__(
        self,
        message: str,
        *,
        run: str | None = None,
        field: str | None = None,
        code: Code | str | None = None,
    ) -> None:
        self.message = message
        self.run = run
        self.field = field
        self.code = Code(code) if code is not None else self.default_code
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.run is not None:
            parts.append(f"run {self.run!r}")
        if self.field is not None:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def reason(self) -> str:
        """``field: message`` without the run (for lists that already show the run's id)."""
        return f"{self.field}: {self.message}" if self.field else self.message

    def with_run(self, run: str) -> AnimlibError:
        """Return a copy of this error that names ``run`` (if it named none yet)."""
        if self.run is not None:
            return self
        return type(self)(self.message, run=run, field=self.field, code=self.code)


class RunFormatError(AnimlibError):
    """A stored run is broken: missing or truncated files, bad metadata, mismatched arrays."""


class RunInputError(AnimlibError):
    """Data handed to a writer is not acceptable (shape, dtype, NaN, ...)."""


class ExperimentNamed(AnimlibError):
    """An error of a BatchWriter that names its experiment and sample (not the run).

    ``str(err)`` reads like ``experiment 'pgd-eps0.1' sample 3: confidences: contains NaN``.
    ``sample`` is the sample id (None when the problem concerns the whole batch) and ``run`` is
    that sample's run id.
    """

    def __init__(
        self, message: str, *, experiment: str | None = None, sample: int | None = None, **kw: Any
    ) -> None:
        self.experiment = experiment  # set first: AnimlibError's __init__ formats the message
        self.sample = sample
        super().__init__(message, **kw)  # run, field, code

    def __str__(self) -> str:
        if self.experiment is None:
            return super().__str__()
        head = f"experiment {self.experiment!r}"
        if self.sample is not None:
            head += f" sample {self.sample}"
        return ": ".join([head, *([self.field] if self.field else []), self.message])

    def with_run(self, run: str) -> AnimlibError:
        """Return this error (it already names its experiment and sample)."""
        return self


class ExperimentInputError(ExperimentNamed, RunInputError):
    """Bad input to a BatchWriter, naming the experiment, the sample and the field."""


class StepIndexError(RunInputError, IndexError):
    """A step index outside the run (an IndexError too, as sequences raise)."""


class RenderOptionError(AnimlibError):
    """A render option is unknown or out of range (the same message from every entry point)."""


class RenderLimitError(AnimlibError):
    """A render request is too large (dpi, size, steps) and was refused before using resources."""

    default_code = Code.LIMIT


class RenderError(AnimlibError):
    """Rendering failed after it started (the encoder died, a frame had the wrong size)."""

    default_code = Code.RENDER


class StoreError(AnimlibError):
    """The storage refused an operation: read-only, out of space, an unknown URL scheme."""

    default_code = Code.STORAGE


class ExperimentStoreError(ExperimentNamed, StoreError):
    """The storage refused a write of a BatchWriter (a sample's final write on a full disk),
    naming the experiment, the sample and what failed."""


def found(call: Callable[[], object], kind: type[AnimlibError] = AnimlibError) -> bool:
    """Whether what ``call`` reaches is there.

    Args:
        call: reads or copies something.
        kind: the errors that can say it is missing.

    Returns:
        True once ``call()`` returned; False if it raised ``kind`` with code MISSING (any other
        error propagates).
    """
    try:
        call()
    except kind as exc:
        if exc.code == Code.MISSING:
            return False
        raise
    return True
