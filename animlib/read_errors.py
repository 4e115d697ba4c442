"""Why a stored chunk could not be decoded, in words a user can act on (one line)."""

from __future__ import annotations

import math
import os
import re

from .stepcodec import ChunkShapeError

__all__ = ["describe_read_error"]

_RESHAPE = re.compile(r"cannot reshape array of size (\d+) into shape \(([\d, ]+)\)")


def _shape_mismatch(exc: BaseException) -> tuple[int, tuple[int, ...]] | None:
    """(values held, shape) of a chunk of another image shape (animlib's codec says so with
    its error; numpy, under Zarr's own codecs, only in its message)."""
    if isinstance(exc, ChunkShapeError):
        return exc.values, exc.shape
    m = _RESHAPE.search(" ".join(str(exc).split()))
    if m is None:
        return None
    return int(m.group(1)), tuple(int(d) for d in m.group(2).replace(" ", "").split(",") if d)


def describe_read_error(exc: BaseException) -> str:
    """Why a stored chunk could not be decoded, in words a user can act on (one line)."""
    text = " ".join(str(exc).split())
    if (found := _shape_mismatch(exc)) is not None:
        values, dims = found
        return (
            f"a stored chunk holds {values} values where shape {dims} needs "
            f"{math.prod(dims)}: the image shape changed between steps, or the chunk comes "
            "from another run"
        )
    if any(word in text.lower() for word in ("decompress", "zstd", "blosc", "corrupt")):
        return f"a chunk file is truncated or corrupt: {text[:200]}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:  # not the server's path
        name = os.path.basename(str(exc.filename))
        return f"{type(exc).__name__}: chunk {name}: {exc.strerror}"
    return f"{type(exc).__name__}: {text[:300]}"
