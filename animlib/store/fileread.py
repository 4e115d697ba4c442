"""Reading a local file without waiting: a FIFO planted as a run's file is an error, not a wait."""

from __future__ import annotations

import errno
import os

# a FIFO planted as run.json is not waited on (regular files ignore O_NONBLOCK)
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


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
