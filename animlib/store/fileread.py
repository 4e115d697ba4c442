"""Reading a local file without waiting: a FIFO planted as a run's file is an error, not a wait."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable

from ..errors import StoreError

# a FIFO planted as run.json is not waited on (regular files ignore O_NONBLOCK)
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
READ_AHEAD = 128  # files read_ahead opens (and asks the kernel to fetch) at once, at most
_TOO_MANY = (errno.EMFILE, errno.ENFILE)  # too many files open (this process, the system)

Opened = list[tuple[str, int]]
Errors = Callable[[OSError, str], StoreError]  # the StoreError of an OSError on a path


def read_open(fd: int, limit: int | None = None) -> bytes:
    """The content of a file opened with :data:`READ_FLAGS` (its first ``limit`` bytes if
    given); a FIFO whose writer has written nothing yet is an error, not a wait."""
    with open(fd, "rb", closefd=False) as fh:
        # read(limit) allocates ``limit`` bytes first (megabytes of fresh pages for a limit far
        # above the file), so a file known to be smaller is read whole, in one exact buffer
        if limit is None or os.fstat(fd).st_size < limit:
            data = fh.read()
            if data is not None and limit is not None and len(data) > limit:  # it grew meanwhile
                data = data[:limit]
        else:
            data = fh.read(limit)
    if data is None:
        raise BlockingIOError(errno.EAGAIN, "is not a regular file")
    return data


def file_tag(path: str) -> str:
    """``inode:mtime_ns:size:ctime_ns`` of the file ``path`` (not following a last symlink),
    "gone" if it cannot be looked at: what changes when it is written, replaced or put back
    by a copy keeping its mtime (the ctime cannot be set back)."""
    try:
        st = os.lstat(path)
    except OSError:
        return "gone"
    return f"{st.st_ino:x}:{st.st_mtime_ns:x}:{st.st_size:x}:{st.st_ctime_ns:x}"


def files_at_once() -> int:
    """How many files :func:`read_ahead` opens at once: :data:`READ_AHEAD`, or a quarter of
    the process's open-file limit when that is lower (``ulimit -n 64``: 16)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return READ_AHEAD
    if soft == resource.RLIM_INFINITY:
        return READ_AHEAD
    return max(1, min(READ_AHEAD, soft // 4))


def read_ahead(
    paths: list[str], local: Callable[[str], str], error: Errors
) -> dict[str, bytes | StoreError]:
    """Each file of ``paths`` (``local`` gives its path on disk; it may raise StoreError):
    opened :func:`files_at_once` at a time, the kernel told at once that each will be read
    (``posix_fadvise(WILLNEED)``: it fetches them in parallel), then read in turn. When the
    process runs out of file descriptors, those opened are read and closed first and the open
    is tried again: a run.json is never reported unreadable for want of them."""
    out: dict[str, bytes | StoreError] = {}
    step = files_at_once()
    for start in range(0, len(paths), step):
        opened: Opened = []
        try:
            for path in paths[start : start + step]:
                _open_ahead(path, local, opened, out, error)
            _read_opened(opened, out, error)
        finally:
            for _, fd in opened:
                os.close(fd)
    return out


def _open_ahead(
    path: str, local: Callable[[str], str], opened: Opened, out: dict, error: Errors
) -> None:
    """Open ``path`` into ``opened`` (its error into ``out``), reading those opened before
    first when no file descriptor is left."""
    try:
        file = local(path)
        try:
            fd = os.open(file, READ_FLAGS)
        except OSError as exc:
            if exc.errno not in _TOO_MANY or not opened:
                raise
            _read_opened(opened, out, error)  # (closes them: descriptors again)
            fd = os.open(file, READ_FLAGS)
    except OSError as exc:
        out[path] = error(exc, path)
        return
    except StoreError as exc:
        out[path] = exc
        return
    opened.append((path, fd))
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)


def _read_opened(opened: Opened, out: dict, error: Errors) -> None:
    """Read the files of ``opened`` into ``out`` and close them (``opened`` is emptied)."""
    while opened:
        path, fd = opened.pop(0)
        try:
            out[path] = read_open(fd)
        except OSError as exc:
            out[path] = error(exc, path)
        finally:
            os.close(fd)
