"""A results folder that cannot be listed now: when pages say so, and what of that they watch."""

from __future__ import annotations

import time

from .index import RunIndex

__all__ = ["AGE_STEP_S", "STALE_AFTER_S", "notice_state"]

STALE_AFTER_S = 60.0  # a refresh running this long (and 40 listings' time) is said to hang
AGE_STEP_S = 10.0  # an open page's "listed N s ago" is brought up to date this often (every
# minute once it says minutes): a page does not rerun every second of an outage
MINUTES_AFTER_S = 120.0  # the notice says minutes from then on


def notice_state(index: RunIndex) -> tuple[str, int] | None:
    """What the notice of a folder whose runs are shown as listed before says, coarsely: why
    (``failed``: the last listing failed, storage unreachable or folder gone; ``no answer``: a
    listing has been running too long) and since when (in steps of :data:`AGE_STEP_S`, of a
    minute past :data:`MINUTES_AFTER_S`). None: no notice (the last listing worked). An open
    page watches it, so that it gains the notice when the folder stops listing, loses it when
    listing works again, and its age follows (the rows alone change in neither case)."""
    busy = index.busy_since
    hangs = busy is not None and time.monotonic() - busy > max(
        STALE_AFTER_S, 40 * index.last.seconds
    )
    if not index.refreshed or (index.failed is None and not hangs):
        return None
    ago = index.listed_ago
    step = AGE_STEP_S if ago < MINUTES_AFTER_S else 60.0
    return ("failed" if index.failed is not None else "no answer"), int(ago // step)
