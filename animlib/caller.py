"""Warnings about what a caller passed, pointed at the caller's line (the first outside animlib)."""

from __future__ import annotations

import inspect
import os
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _in_animlib(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE)


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` naming the first line outside animlib that led
    here (the user's ``log(...)`` call, whatever path inside animlib it took), so Python's
    once-per-place filter is once per line of the user's, not once per process. Called from
    animlib only; with no frame outside it (an exit hook), the outermost animlib line."""
    level, frame = 1, inspect.currentframe()  # level 1: this function
    while frame is not None and frame.f_back is not None and _in_animlib(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    del frame  # (no reference cycle through the frames)
    warnings.warn(message, category, stacklevel=level)
