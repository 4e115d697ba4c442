"""A render that failed because its disk is full: told apart from other failures, and explained."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ..errors import AnimlibError, Code, RenderError

__all__ = ["disk_full", "disk_full_error", "free_text"]

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# how the encoder (ffmpeg's stderr), Python and a StoreError say it, lowercased
_FULL_TEXTS = ("no space left", "disk quota exceeded", "quota is used up")


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk written to is full (or the user's quota used up): an
    ENOSPC / EDQUOT OSError, an error whose message (ffmpeg's stderr) says so, or the error of
    :func:`disk_full_error` itself (a RenderError with code STORAGE)."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, RenderError) and exc.code == Code.STORAGE:
        return True
    if isinstance(exc, AnimlibError):
        return any(text in exc.message.lower() for text in _FULL_TEXTS)
    return False


def free_text(folder: str | os.PathLike[str]) -> str:
    """How much space is free on the disk holding ``folder`` (or its nearest existing parent),
    as ``"12 KB free"``; "" if that cannot be read."""
    path = Path(folder).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return ""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20)):
        if free >= size:
            return f"{free / size:.1f} {unit} free"
    return f"{free // 1024} KB free"


def disk_full_error(
    path: str | os.PathLike[str], run: str | None, where: str = "", *, folder: bool = False
) -> RenderError:
    """The RenderError (code STORAGE) of a render of ``run`` that failed because the disk it
    was written to is full (the caller has removed the partial file).

    Args:
        path: the file that was being written (or, with ``folder=True``, its folder).
        run: the run(s) rendered, as errors name them.
        where: what that folder is (e.g. "the render cache"), if not the output's.
        folder: ``path`` is the folder.
    """
    path = Path(path)
    parent = path if folder else path.parent
    free = free_text(parent)
    what = f"{where} {parent}" if where else f"the folder {parent}"
    head = "cannot render" if folder else f"cannot write {path.name}"
    return RenderError(
        f"{head}: the disk holding {what} is full{f' ({free})' if free else ''}; nothing was "
        "written (the partial file is removed): free some space and render again",
        run=run,
        field="path",
        code=Code.STORAGE,
    )
