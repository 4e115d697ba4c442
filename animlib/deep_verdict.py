"""The runs page's "Check every chunk" verdict, kept in a session while the runs stay the same."""

# The verdict covers the runs of its time: once a run is added, removed or changed (its run.json
# settled version), it says so and the button is offered again. It is kept with the index's
# signature (cheap: unchanged, nothing to compare) and a digest of every run's id and settled
# version, compared only when the signature changed (a running run's scan times change the
# rows, not the digest, until a step is stored).

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from typing import Any

from .index import RunIndex
from .index.versions import settled

KEY = "deep_checked"  # session state: (index signature, runs digest, caption)
ASKED = "deep_check"  # session state: the button was clicked (the check runs at the next page run)


def runs_digest(index: RunIndex) -> str:
    """A digest of every run of ``index``: its id and its run.json's settled version."""
    table = index.table.select(["id", "version"])
    h = hashlib.sha256()
    for run_id, version in zip(table["id"].to_pylist(), table["version"].to_pylist(), strict=True):
        h.update(f"{run_id}\0{settled(version)}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


SINCE = " Runs were added or changed since: check again to cover them."


def kept(index: RunIndex, state: MutableMapping[str, Any]) -> tuple[str | None, bool]:
    """The caption of this session's last "Check every chunk", and whether the runs of
    ``index`` are still those it read. Once they changed it stays, saying so (a live run in
    the folder dropped it within seconds, before it could be read), and the button is
    offered again.

    Returns:
        (caption or None when there is none, True while it covers the runs as they are).
    """
    verdict = state.get(KEY)
    if not verdict:
        return None, False
    signature, digest, caption = verdict
    if signature == index.signature:
        return caption, True
    if runs_digest(index) != digest:
        return caption + SINCE, False
    state[KEY] = (index.signature, digest, caption)
    return caption, True


def keep(index: RunIndex, state: MutableMapping[str, Any], caption: str) -> str:
    """Keep ``caption``, the verdict of a "Check every chunk" of the runs of ``index`` now
    (the request answered); returns it."""
    state[KEY] = (index.signature, runs_digest(index), caption)
    state[ASKED] = False
    return caption
