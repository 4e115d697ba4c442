"""A writer opened on a run or experiment a writer of this same process still holds open."""

# Re-running a notebook cell ``w = RunWriter(root, name="x")`` rebinds ``w``: the first writer
# stays open (open_writers keeps it, to close it at exit) and holds run ``x`` all session. As
# W&B finishes the previous run when ``wandb.init`` is called again, ``if_exists="overwrite"``
# and ``resume`` close that earlier writer first (its buffered steps written, its run
# ``failed`` saying why, its lock dropped), ``"new"`` writes ``x-2`` with one warning naming
# the writer left open, and ``"error"`` says it is in this process. Writers of other processes
# are not concerned: their lock refuses as before.

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from .errors import AnimlibError, Code, ExperimentInputError, RunInputError
from .experiment_ids import experiment_id, resolve_experiment_id
from .open_writers import open_on, untrack
from .store import Store, open_store
from .store.paths import run_id_for

if TYPE_CHECKING:
    from .experiment_writer import BatchWriter

CLOSE_HOW = "close writers with .finish() or a `with` block"


def run_key(url: str) -> tuple[str, str]:
    """What a RunWriter of the run folder ``url`` holds (for :func:`open_writers.track`)."""
    return ("run", url)


def root_url(root: str, storage_options: dict[str, Any] | None) -> str:
    """The results folder ``root`` as a URL that names it one way (a path made absolute)."""
    return open_store(root, storage_options).url


def batch_key(writer: BatchWriter, url: str) -> Callable[[], Hashable | None]:
    """What the BatchWriter ``writer`` of the results folder ``url`` holds: its experiment once
    its sample runs exist (none before its first step)."""
    return lambda: ("experiment", url, writer.experiment) if len(writer) else None


def close_earlier(key: Hashable, why: str) -> None:
    """Close the writers of this process still open on ``key``: their buffered steps are
    written, their runs marked ``failed`` with ``why``, their locks dropped.

    Raises:
        AnimlibError: closing one failed (a storage error); a run folder removed meanwhile is
            no error (nothing is left to close).
    """
    for writer in open_on(key):
        try:
            writer.finish("failed", error=why)
        except AnimlibError as exc:
            if exc.code != Code.MISSING:
                raise
            untrack(writer)


def make_way_for_run(root: Store, name: str, if_exists: str) -> bool:
    """Before a RunWriter of ``name`` in ``root`` reserves its run: with ``"overwrite"``, close
    the writer of this process still open on that run; with ``"error"``, refuse naming it.

    Returns:
        True if a writer of this process holds the run (``"new"``: see :func:`warn_new_id`).

    Raises:
        RunInputError: (field ``if_exists``) ``"error"`` and such a writer holds the run.
    """
    run_id = run_id_for(name)
    key = run_key(root.child(run_id).url)
    if not open_on(key):
        return False
    if if_exists == "overwrite":
        close_earlier(key, "replaced by a new writer of this run in the same process")
        return False
    if if_exists == "error":
        raise RunInputError(
            f"a run {run_id!r} exists in {root.url} and a writer in this process is still "
            "writing it (a RunWriter never closed: a notebook cell run again?); "
            f"{CLOSE_HOW}, or pass if_exists='overwrite' to close it and replace its run",
            run=name,
            field="if_exists",
        )
    return True


def start_experiment(
    root: str, base: str, if_exists: str, storage_options: dict[str, Any] | None
) -> tuple[str, list[str], str]:
    """The experiment id a new BatchWriter writes under and the runs it replaces
    (:func:`~animlib.experiment_ids.resolve_experiment_id`), after dealing with a BatchWriter
    of this process still open on ``base``: closed for ``"overwrite"``, named in the error for
    ``"error"``, warned about for ``"new"`` (call it from the BatchWriter's constructor: the
    warning points at its caller's line). Also the results folder's URL (:func:`root_url`).

    Raises:
        ExperimentInputError: (BUSY) ``"error"`` and such a writer holds it, or as
            :func:`~animlib.experiment_ids.resolve_experiment_id`.
    """
    url = root_url(root, storage_options)
    key = ("experiment", url, base)
    held = bool(open_on(key))
    if held and if_exists == "overwrite":
        close_earlier(key, "replaced by a new writer of this experiment in the same process")
    elif held and if_exists == "error":
        raise ExperimentInputError(
            f"runs of this experiment exist in {root} and a writer in this process is still "
            "writing them (a BatchWriter never closed: a notebook cell run again?); "
            f"{CLOSE_HOW}, or pass if_exists='overwrite' to close it and replace its runs",
            field="if_exists",
            code=Code.BUSY,
            experiment=base,
        )
    experiment, replace = resolve_experiment_id(root, base, if_exists, storage_options)
    if held and if_exists == "new":
        warn_new_id("experiment", base, experiment, stacklevel=3)
    return experiment, replace, url


def warn_new_id(kind: str, held: str, new: str, stacklevel: int) -> None:
    """Warn that the ``kind`` ``held`` is still open in this process (a writer left open), so
    the new writer writes ``new``; ``stacklevel`` as :func:`warnings.warn`'s, from the caller."""
    if new == held:
        return
    warnings.warn(
        f"{kind} {held!r} is still open in this process (an earlier writer of it was never "
        f"closed: a notebook cell run again?), so this writer writes {new!r}; {CLOSE_HOW}, or "
        f"pass if_exists='overwrite' to close the earlier one and replace its {kind}",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def close_for_resume(root: str, experiment: str, storage_options: dict[str, Any] | None) -> None:
    """Before a BatchWriter resumes ``experiment`` (an id, or the name it was made from) in
    ``root``: close the BatchWriter of this process still open on it, its buffered steps
    written first, so the resumed writer goes on after every step the earlier one logged and
    the two never write the same runs."""
    if not isinstance(experiment, str):
        return  # (resume says what is wrong with it)
    url = root_url(root, storage_options)
    ids = {experiment}
    try:
        ids.add(experiment_id(experiment))
    except AnimlibError:
        pass  # (not a name: resume says so)
    for exp in ids:
        close_earlier(("experiment", url, exp), REOPENED)


REOPENED = "reopened by resume in the same process; its steps were kept"
