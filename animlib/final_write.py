"""A BatchWriter's final write: no sample marked finished ahead of one whose write failed."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import AnimlibError, Code, ExperimentStoreError
from .flusher import Flusher
from .sample_sink import SampleSink


def write_all(
    flusher: Flusher, experiment: str, sinks: Sequence[SampleSink], samples: Sequence[int]
) -> tuple[str, ExperimentStoreError] | None:
    """Write every sample's buffered steps before any is marked finished.

    Args:
        flusher: the writer's flusher (its background thread stopped).
        experiment: the experiment id.
        sinks: the sample runs.
        samples: their sample ids (in the order of ``sinks``).

    Returns:
        None if every sample stored all its steps (a sample whose folder was removed does not
        hold the others back: it has no steps to align with). Else the note to store with
        every run if they are marked ``failed`` (each keeps the steps it stored, and
        ``BatchWriter.resume`` realigns them), and the error to raise: it names the
        experiment, the first sample whose write failed and why.
    """
    errors = flusher.each(lambda a: a.flush(final=True))  # (exact shapes: written once)
    held = [e for e in errors if not (isinstance(e, AnimlibError) and e.code == Code.MISSING)]
    if not held:
        return None
    exc = held[0]
    run = exc.run if isinstance(exc, AnimlibError) else None
    sample = next((int(s) for k, s in zip(sinks, samples, strict=True) if k.run_id == run), None)
    what = exc.reason() if isinstance(exc, AnimlibError) else f"{type(exc).__name__}: {exc}"
    error = ExperimentStoreError(
        f"{what}; the final write of {len(held)} of the {len(sinks)} samples failed, so none "
        "is marked finished yet: free some space, then call finish() on this writer again to "
        "write the rest and mark them finished (finish('failed') or the end of the process "
        f"marks them failed; BatchWriter.resume(root, {experiment!r}) then goes on from the "
        "steps every sample stored)",
        run=run,
        code=exc.code if isinstance(exc, AnimlibError) else Code.STORAGE,
        experiment=experiment,
        sample=sample,
    )
    return f"not finished: the final write of sample {sample} failed ({exc})", error
