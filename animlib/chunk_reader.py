"""Whole chunks of a run's images read straight from its store, for the renderer."""

# Zarr reads a chunk through an asyncio loop, a codec pipeline and a copy into the result: about
# half a millisecond of Python per chunk, under the GIL, whatever its size. A run stored the plain
# way (Zarr v3, whole steps per chunk, the ``bytes`` codec optionally followed by ``zstd``, as
# runs have always been written) needs none of it: :class:`ChunkReader` reads the chunk's bytes
# with the run's :class:`~animlib.store.Store` and decompresses them in one call, which releases
# the GIL. Any other layout or codec (a newer image encoding, a sharded array) gets no reader,
# and a chunk that is missing or does not decode gives None: the caller then reads through
# Zarr, which fills or reports it as usual. A chunk file larger than its chunk can compress to,
# or whose zstd frame does not declare exactly the chunk's size, is never decompressed here (a
# few KB can decompress to gigabytes): it gives None too, and the checked read through Zarr
# (:mod:`animlib.chunkstore`) refuses it.

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .arraymeta import ChunkRule, zstd_content_size
from .protocol import RunLike
from .reader import Run
from .store import Store

__all__ = ["ChunkReader"]

_ARRAY = "images"


def _plain_codecs(codecs: Any, dtype: np.dtype) -> bool | None:
    """True for ``bytes`` + ``zstd``, False for ``bytes`` alone, None for anything else."""
    if not isinstance(codecs, list) or not codecs or not isinstance(codecs[0], dict):
        return None
    first = codecs[0]
    endian = (first.get("configuration") or {}).get("endian", "little")
    if first.get("name") != "bytes" or (endian != "little" and dtype.itemsize > 1):
        return None
    if len(codecs) == 1:
        return False
    if len(codecs) == 2 and isinstance(codecs[1], dict) and codecs[1].get("name") == "zstd":
        return True
    return None


class ChunkReader:
    """Reads chunk ``i`` of a plainly stored ``images`` array as ``(steps per chunk, ...)``."""

    def __init__(
        self, store: Store, dtype: np.dtype, chunk: tuple[int, ...], sep: str, zstd: bool
    ) -> None:
        self.store = store
        self.dtype = dtype
        self.chunk = chunk
        self.steps_per_chunk = chunk[0]
        self._tail = sep.join("0" for _ in chunk[1:])
        self._sep = sep
        self._rule = ChunkRule(_ARRAY, math.prod(chunk) * dtype.itemsize, chunk[0], sep)
        self._decoder: Any = None
        if zstd:
            from numcodecs import Zstd

            self._decoder = Zstd()

    @classmethod
    def of(cls, run: RunLike) -> ChunkReader | None:
        """A reader for ``run``'s images, or None when they are not stored the plain way or
        ``run`` is not a stored :class:`~animlib.reader.Run` (a wrapper may change its steps)."""
        return cls.at(run.store) if isinstance(run, Run) else None

    @classmethod
    def at(cls, store: Store) -> ChunkReader | None:
        """A reader for the ``images`` array of the run stored at ``store`` (None as above)."""
        try:
            meta = json.loads(store.read(f"{_ARRAY}/zarr.json"))
            dtype = np.dtype(str(meta["data_type"]))
            shape = tuple(int(s) for s in meta["shape"])
            grid = meta["chunk_grid"]
            chunk = tuple(int(s) for s in grid["configuration"]["chunk_shape"])
            encoding = meta["chunk_key_encoding"]
            sep = (encoding.get("configuration") or {}).get("separator", "/")
            plain = (
                meta.get("zarr_format") == 3
                and grid.get("name") == "regular"
                and encoding.get("name") == "default"
                and sep in ("/", ".")
                and not meta.get("storage_transformers")
                and dtype.kind in "biuf"
                and len(chunk) == len(shape) >= 2
                and chunk[1:] == shape[1:]  # whole steps in every chunk
                and chunk[0] >= 1
            )
            zstd = _plain_codecs(meta.get("codecs"), dtype)
        except Exception:  # unreadable or unexpected metadata: leave it to zarr
            return None
        if not plain or zstd is None:
            return None
        return cls(store, dtype, chunk, sep, zstd)

    def read(self, index: int) -> np.ndarray | None:
        """The steps of chunk ``index`` (read-only), or None if it is not stored or does not
        decode to a whole chunk."""
        key = f"{_ARRAY}/c{self._sep}{index}{self._sep}{self._tail}"
        nbytes = self._rule.nbytes
        try:
            data = self.store.read(key)
            if self._decoder is not None:
                if len(data) > self._rule.max_stored or zstd_content_size(data[:32]) != nbytes:
                    return None  # never inflated here: the checked read reports it
                out = np.empty(nbytes, np.uint8)
                self._decoder.decode(data, out=out)
                data = out.data
            if len(data) != nbytes:
                return None
            steps = np.frombuffer(data, self.dtype).reshape(self.chunk)
            steps.flags.writeable = False
            return steps
        except Exception:
            return None

    def steps(self, start: int, stop: int, wanted: range) -> dict[int, np.ndarray] | None:
        """Steps ``wanted`` (all in [start, stop)) from the chunks holding them, or None if
        any of those chunks cannot be read here."""
        k = self.steps_per_chunk
        out: dict[int, np.ndarray] = {}
        for index in range(start // k, (stop - 1) // k + 1):
            first = index * k
            mine = [s for s in wanted if first <= s < first + k]
            if not mine:
                continue
            data = self.read(index)
            if data is None:
                return None
            for s in mine:
                out[s] = data[s - first]
        return out
