"""An experiment id claimed while its sample runs are created: one writer of those starting it."""

# Writers starting one experiment at once each created some of its B sample runs (in parallel)
# and lost the others: both were refused and nothing was written, or one was told the other's
# sample, still being created, was a damaged run to remove. The claim is a lock file in the
# results folder, ``.experiment-<id>.starting`` (a dot name: no listing, index or validate
# sees it), taken exclusively as a run's writer lock is (``lock.acquire``: a conditional PUT on
# S3, a killed writer's claim taken over) and removed once every sample run exists: from then
# on each run's own writer lock says who writes the experiment.

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import lock
from .errors import Code, ExperimentInputError, RunInputError, StoreError
from .store import Store, open_store


def claim_name(experiment: str) -> str:
    """The file name of the claim of the experiment id ``experiment`` in its results folder."""
    return f".experiment-{experiment}.starting"


def busy(root: Store, experiment: str, info: dict | None) -> ExperimentInputError:
    """The error for a writer refused because another one (``info``: its claim or writer lock,
    None if it has just gone) is starting or writing ``experiment``."""
    who = lock.who(info) if info else "another writer"
    hint = ""  # (a claim is held while a first step creates the runs: in this process, a thread)
    if info and info.get("host") != socket.gethostname():  # (no way to tell it is still alive)
        hint = f"; if that writer no longer runs, remove {root.url_of(claim_name(experiment))}"
    return ExperimentInputError(
        f"{who} is starting or writing this experiment in {root.url}; pass if_exists='new' for "
        f"a fresh experiment id, or wait until it has finished{hint}",
        field="experiment",
        code=Code.BUSY,
        experiment=experiment,
    )


def claim_holder(root: Store, experiment: str, held: bytes | None = None) -> dict | None:
    """Who else is creating the sample runs of ``experiment`` in ``root`` (None: nobody alive,
    or ``held``, the claim this writer took)."""
    try:
        data = root.read(claim_name(experiment))  # (read once: whose, and whether it is ours)
    except StoreError:
        return None
    return None if held is not None and data == held else lock.live_holder(data)


@contextmanager
def claimed(root: str, experiment: str, storage_options: dict[str, Any] | None) -> Iterator[bytes]:
    """Hold the claim of ``experiment`` in ``root`` for the block (it yields the claim as
    written, for :func:`claim_holder`); removed after it, whatever happens.

    Raises:
        ExperimentInputError: (BUSY, field ``experiment``) another live writer holds it.
        StoreError: the storage refused.
    """
    store = open_store(root, storage_options)
    store.makedirs()
    name = claim_name(experiment)
    try:
        mine = lock.acquire(store, experiment, name)
    except RunInputError as exc:
        if exc.code != Code.BUSY:
            raise
        raise busy(store, experiment, lock.holder(store, name)) from None
    try:
        yield mine
    finally:
        lock.release(store, name, mine=mine)
