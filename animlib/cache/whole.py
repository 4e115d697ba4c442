"""Whether a cached file (a render, a strip) is whole: not cut short or emptied (a crash)."""

# Entries are written to a hidden name and renamed into place, so a torn one comes from outside
# animlib: a machine that lost power before the file reached the disk, a disk that filled while a
# shared entry was copied down, a file edited by hand. Serving it would hand the user a broken
# video as if it were the render; :meth:`CacheFolder.get` drops an entry that is not whole, and the
# video is rendered again. The checks read a few bytes (box headers, the last bytes): a hit stays
# cheap. A format without a check here (a writer registered by the user) only has to be non-empty.

from __future__ import annotations

import os
from pathlib import Path

_BOX = 8  # an ISO-BMFF box header: a 32-bit big-endian size and a 4-letter type
_MAX_BOXES = 4096  # a movie ffmpeg writes has a handful of top-level boxes
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # a PNG's last chunk, always the same 12 bytes


def is_whole(path: Path) -> bool:
    """Whether the render file ``path`` is complete for its format (named by its suffix).

    Args:
        path: a cache entry's local file.

    Returns:
        False if it is empty, cut short, or cannot be read.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return False
            suffix = path.suffix.lower()
            if suffix in (".mp4", ".m4v", ".mov"):
                return _boxes_whole(f, size)
            if suffix == ".png":  # (the player's strips)
                return f.read(8) == b"\x89PNG\r\n\x1a\n" and _tail(f, size, 12) == PNG_END
            if suffix == ".gif":
                return f.read(4) == b"GIF8" and _tail(f, size, 1) == b";"
            if suffix in (".html", ".htm"):
                return _tail(f, size, 64).rstrip().lower().endswith(b"</html>")
            if suffix == ".webm":
                return _matroska_whole(f.read(1024), size)
            return True
    except OSError:
        return False


def _tail(f, size: int, n: int) -> bytes:  # noqa: ANN001 (a binary file)
    f.seek(max(0, size - n))
    return f.read(n)


def _boxes_whole(f, size: int) -> bool:  # noqa: ANN001 (a binary file)
    """The top-level boxes of an MP4 tile the file exactly, and hold the movie's header
    (``moov``) and its data (``mdat``)."""
    seen, at = set(), 0
    for _ in range(_MAX_BOXES):
        if at == size:
            return {b"moov", b"mdat"} <= seen
        f.seek(at)
        head = f.read(_BOX)
        if len(head) < _BOX:
            return False
        length, kind = int.from_bytes(head[:4], "big"), head[4:]
        if length == 1:  # a 64-bit size follows the type
            wide = f.read(8)
            if len(wide) < 8:
                return False
            length = int.from_bytes(wide, "big")
        elif length == 0:  # the box runs to the end of the file
            length = size - at
        if length < _BOX or at + length > size:
            return False
        seen.add(kind)
        at += length
    return False


def _vint(data: bytes, at: int) -> tuple[int, int, bool] | None:
    """The EBML variable-length integer at ``at``: (value, its length, whether all its value
    bits are set: a size left unknown); None if cut short."""
    if at >= len(data) or data[at] == 0:
        return None
    width = 8 - data[at].bit_length() + 1
    if at + width > len(data):
        return None
    value = data[at] & (0xFF >> width)
    for byte in data[at + 1 : at + width]:
        value = (value << 8) | byte
    return value, width, value == (1 << (7 * width)) - 1


def _matroska_whole(head: bytes, size: int) -> bool:
    """A WebM file (its first bytes ``head``) whose Segment, after the EBML header, ends where
    the file does (ffmpeg writes the Segment's size when it finishes a file)."""
    if head[:4] != b"\x1a\x45\xdf\xa3":
        return False
    header = _vint(head, 4)
    if header is None:
        return False
    at = 4 + header[1] + header[0]
    if head[at : at + 4] != b"\x18\x53\x80\x67":
        return False
    segment = _vint(head, at + 4)
    if segment is None:
        return False
    length, width, unknown = segment
    return unknown or at + 4 + width + length == size
