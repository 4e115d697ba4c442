"""What animlib's code files were (names, sizes, change times) when this process imported it."""

from __future__ import annotations

import os


def stamp(folder: str) -> tuple[tuple[str, int, int], ...] | None:
    """``(relative name, size, mtime_ns)`` of the ``.py``/``.pyc`` files below ``folder`` (not
    ``__pycache__``), by name; None where it is no folder (a zip import). ~150 stats: ~1 ms."""
    found: list[tuple[str, int, int]] = []
    try:
        _walk(folder, "", found)
    except OSError:
        return None
    return tuple(found)


def _walk(folder: str, prefix: str, found: list[tuple[str, int, int]]) -> None:
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                _walk(entry.path, prefix + entry.name + "/", found)
        elif entry.name.endswith((".py", ".pyc")):
            st = entry.stat()
            found.append((prefix + entry.name, st.st_size, st.st_mtime_ns))


# taken when ``import animlib`` runs: the render cache's code digest, read later from the files,
# is of the code this process runs only while the files are still these (a ``git pull`` of an
# editable install under a running dashboard made it key old-looking renders as the new code's)
AT_IMPORT = stamp(os.path.dirname(os.path.abspath(__file__)))
