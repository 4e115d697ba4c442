"""What a page says for a run id not found: the run missing, or its results folder unreachable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import AnimlibError
from .text import printable


def not_found_message(shown: str, where: str, exc: AnimlibError, md: Callable[[str], str]) -> str:
    """The message of a run not found (``exc``, code NOT_FOUND) in the results folder ``where``:
    the folder's own problem when it cannot be reached now (an NFS mount dropped, the folder
    moved, a bucket that does not answer: the run is not gone), else the reader's (with its
    "did you mean ..." for a mistyped id).

    Args:
        shown: the run id as the page shows it.
        where: the results folder (a path or URL).
        exc: the reader's error.
        md: escapes text for Markdown.

    Returns:
        One Markdown line.
    """
    from .store import open_store, scheme_of

    try:
        store = open_store(where)
        # (a prefix of object storage holding nothing "does not exist": the bucket answers)
        reachable = store.contains() or (scheme_of(where) is not None and _answers(store))
    except (AnimlibError, OSError):
        reachable = False
    if not reachable:
        return (
            f"The results folder {md(where)} cannot be reached now (it does not exist or "
            f"cannot be read): run {shown} shows when it is back."
        )
    return f"No run with id {shown} in {md(where)} ({md(printable(exc.message))})."


def _answers(store: Any) -> bool:
    """Whether the object storage of ``store`` can be reached (its bucket, credentials)."""
    try:
        store.check_access()
    except (AnimlibError, OSError):
        return False
    return True
