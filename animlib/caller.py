"""Warnings about what a caller passed, pointed at the caller's line (the first outside animlib)."""

from __future__ import annotations

import inspect
import os
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _in_animlib(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE)


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` naming the user's line that led here: the caller of
    the outermost animlib frame (the user's ``log(...)``; for an adapter's writer, logging
    from inside the attack library, the user's ``integrations.*.run(...)``, not the library's
    line), so Python's once-per-place filter is once per line of the user's, not once per
    process. Called from animlib only; with no frame above animlib's (an exit hook), the
    outermost animlib line."""
    level, outermost, frame = 1, 1, inspect.currentframe()  # level 1: this function
    while frame is not None:
        if _in_animlib(frame.f_code.co_filename):
            outermost = level
        frame, level = frame.f_back, level + 1
    del frame  # (no reference cycle through the frames)
    above = outermost + 1 if outermost + 1 < level else outermost  # (frames 1 .. level - 1)
    warnings.warn(message, category, stacklevel=above)
