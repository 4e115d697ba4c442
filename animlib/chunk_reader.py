"""Whole chunks of a run's images read straight from its store, for the renderer."""

# Zarr reads a chunk through an asyncio loop, a codec pipeline and a copy into the result: about
# half a millisecond of Python per chunk, under the GIL, whatever its size. A run stored with
# whole steps per chunk (Zarr v3) and either the plain codecs (``bytes``, optionally followed by
# ``zstd``, as runs were written before) or animlib's own ``animlib.steps`` codec needs none of
# it: :class:`ChunkReader` reads the chunk's bytes with the run's :class:`~animlib.store.Store`
# and decodes them itself (decompression releases the GIL). Any other layout or codec (a
# sharded array, say) gets no reader, and a chunk that is missing or does not decode gives
# None: the caller then reads through Zarr, which fills or reports it as usual. What the checked
# read through Zarr (:mod:`animlib.chunkstore`) refuses gives None here too, so that read
# reports it: a chunk file larger than its chunk can be stored in, a zstd frame not declaring
# exactly the chunk's size (a few KB can decompress to gigabytes; never decompressed here), an
# ``animlib.steps`` chunk without its magic or holding fewer frames than the run counts steps
# in it (those steps would otherwise read as zeros). An ``animlib.steps`` chunk decodes each
# frame into a buffer of exactly one step (:func:`~animlib.stepcodec.decode_chunk`).
#
# Float steps are checked as they decode (finite, in [0, 1], as the writers store them): a run
# damaged on disk raises a RunFormatError naming the run, ``images`` and the step, as
# ``validate`` does, rather than becoming a figure. Only what can be out of range is looked at
# (raw float frames, residuals; every value of a plain zstd chunk): the grid values cannot be.
#
# Decoded chunks go into arrays the reader reuses (:class:`_Buffers`) once nothing refers to
# them any more: a 512x512 float32 step is 3 MB, and fresh pages for each cost the kernel about
# as much as a third of its decoding.

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Container, Sequence
from typing import Any

import numpy as np

from .arraymeta import STEPS_CODEC, ChunkRule, zstd_content_size
from .errors import Code, RunFormatError
from .protocol import RunLike
from .reader import Run
from .run_reads import RunReads
from .store import Store

__all__ = ["ChunkReader"]

_ARRAY = "images"
_STEPS_MAGIC = b"AST1"  # animlib.stepcodec.MAGIC
_KEEP_BYTES = 64 * 1024 * 1024  # most bytes of decoded chunks a reader keeps for reuse


def _codec(codecs: Any, dtype: np.dtype) -> str | None:
    """``zstd`` for ``bytes`` + ``zstd``, ``bytes`` for ``bytes`` alone, ``animlib.steps`` for
    animlib's codec, None for anything else."""
    if not isinstance(codecs, list) or not codecs or not isinstance(codecs[0], dict):
        return None
    first = codecs[0]
    config = first.get("configuration") or {}
    if first.get("name") == STEPS_CODEC:
        plain = len(codecs) == 1 and isinstance(config, dict) and not set(config) - {"level"}
        return STEPS_CODEC if plain and dtype in (np.uint8, np.float32) else None
    endian = config.get("endian", "little") if isinstance(config, dict) else None
    if first.get("name") != "bytes" or (endian != "little" and dtype.itemsize > 1):
        return None
    if len(codecs) == 1:
        return "bytes"
    if len(codecs) == 2 and isinstance(codecs[1], dict) and codecs[1].get("name") == "zstd":
        return "zstd"
    return None


def _refs(arrays: list[np.ndarray], i: int) -> int:
    """The reference count of ``arrays[i]`` (as this interpreter counts it here)."""
    return sys.getrefcount(arrays[i])


# what ``_refs`` counts for an array that only its list refers to (measured, not assumed: how
# many references the call itself adds differs between Python versions)
_ONLY_LISTED = _refs([np.empty(0)], 0)


class _Buffers:
    """Arrays of one chunk's shape, handed out again once nothing refers to them any more.

    A chunk handed out is a read-only view of one of these arrays; the steps taken from it
    (and any view of those) refer to the array too, so its reference count tells whether
    anything still uses it. Up to ``keep`` arrays are kept; past that, new ones are left to
    the garbage collector. Thread-safe (a prefetching reader decodes in a worker thread).
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, keep: int) -> None:
        self.shape = shape
        self.dtype = dtype
        self.keep = keep
        self._arrays: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self) -> np.ndarray:
        """An array of the chunk's shape that nothing else refers to (contents undefined)."""
        with self._lock:
            for i in range(len(self._arrays)):
                if _refs(self._arrays, i) <= _ONLY_LISTED:
                    return self._arrays[i]
            array = np.empty(self.shape, self.dtype)
            if len(self._arrays) < self.keep:
                self._arrays.append(array)
            return array

    def clear(self) -> None:
        """Let the kept arrays go (those still in use live on with their users)."""
        with self._lock:
            self._arrays = []


class ChunkReader:
    """Reads chunk ``i`` of a run's ``images`` array as ``(steps per chunk, ...)``.

    ``steps`` is the run's step count (run.json): an ``animlib.steps`` chunk must hold a frame
    for each of those steps it covers (None: for every step of the chunk).
    """

    def __init__(
        self,
        store: Store,
        dtype: np.dtype,
        chunk: tuple[int, ...],
        sep: str,
        codec: str,
        steps: int | None = None,
    ) -> None:
        self.store = store
        self.dtype = dtype
        self.chunk = chunk
        self.steps_per_chunk = chunk[0]
        self.n_steps = steps
        self.run_id = str(store.name)  # (``of`` sets the run's id) named by a values error
        self._tail = sep.join("0" for _ in chunk[1:])
        self._sep = sep
        self._codec = codec
        rule_codec = STEPS_CODEC if codec == STEPS_CODEC else "zstd"
        self._rule = ChunkRule(_ARRAY, math.prod(chunk) * dtype.itemsize, chunk[0], sep, rule_codec)
        nbytes = self._rule.nbytes
        self._buffers = _Buffers(chunk, dtype, max(_KEEP_BYTES // max(nbytes, 1), 2))
        self._decoder: Any = None
        self.reads: RunReads | None = None  # (``of`` sets the run's: chunks read before)
        if codec == "zstd":
            from numcodecs import Zstd

            self._decoder = Zstd()

    @classmethod
    def of(cls, run: RunLike) -> ChunkReader | None:
        """A reader for ``run``'s images, or None when they are not stored in a way read here
        or ``run`` is not a stored :class:`~animlib.reader.Run` (a wrapper may change its
        steps)."""
        if not isinstance(run, Run):
            return None
        try:
            raw = run.array_json(_ARRAY)  # (the run's own read: one request per run)
        except Exception:  # unreadable: leave it to zarr
            return None
        reader = cls.at(run.store, len(run), raw)
        if reader is not None:
            reader.run_id, reader.reads = run.id, run.reads
        return reader

    @classmethod
    def at(
        cls, store: Store, steps: int | None = None, raw: bytes | None = None
    ) -> ChunkReader | None:
        """A reader for the ``images`` array of the run stored at ``store`` (None as above);
        ``steps``: the run's step count, as in the class; ``raw``: the array's zarr.json
        already read (else it is read here)."""
        try:
            meta = json.loads(raw if raw is not None else store.read(f"{_ARRAY}/zarr.json"))
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
            codec = _codec(meta.get("codecs"), dtype)
        except Exception:  # unreadable or unexpected metadata: leave it to zarr
            return None
        if not plain or codec is None:
            return None
        return cls(store, dtype, chunk, sep, codec, steps)

    def read(self, index: int, wanted: Container[int] | None = None) -> np.ndarray | None:
        """The steps of chunk ``index`` (read-only), or None if it is not stored or does not
        decode to a whole chunk.

        Raises:
            RunFormatError: a float step of ``wanted`` (its places in the chunk; None: any)
                holds NaN/inf or values outside [0, 1] (INVALID)."""
        steps, problems = self._decoded(index)
        if problems:
            self._refuse(index, problems, problems if wanted is None else wanted)
        return steps

    def _refuse(self, index: int, problems: dict[int, str], wanted: Container[int]) -> None:
        """Raise the RunFormatError of the first step in ``wanted`` (steps in chunk ``index``)
        that has a problem, if any."""
        for i in sorted(problems):
            if i in wanted:
                raise RunFormatError(
                    f"{problems[i]} at step {index * self.steps_per_chunk + i}",
                    run=self.run_id,
                    field=_ARRAY,
                    code=Code.INVALID,
                )

    def _decoded(self, index: int) -> tuple[np.ndarray | None, dict[int, str]]:
        """Chunk ``index`` as :meth:`read` gives it, and its float steps' problems."""
        from .stepcodec import chunk_problems

        key = f"{_ARRAY}/c{self._sep}{index}{self._sep}{self._tail}"
        problems: dict[int, str] = {}
        try:
            data = self.reads.chunk(key) if self.reads is not None else None
            if data is None:
                data = self.store.read(key, limit=self._rule.max_stored + 1)
            if len(data) > self._rule.max_stored:
                return None, {}  # never decoded here: the checked read reports it
            if self._codec == STEPS_CODEC:
                steps = self._decode_steps(index, data, problems)
            else:
                steps = self._decode_plain(data)
                if steps is not None and steps.dtype == np.float32:
                    problems = chunk_problems(steps)
        except Exception:
            return None, {}
        if steps is None:
            return None, {}
        if self.reads is not None:  # (decoded whole: the checked read would take it too)
            self.reads.keep_chunk(key, data)
        steps = steps.view()  # the buffer stays writable for the next chunk decoded into it
        steps.flags.writeable = False
        return steps, problems

    def release(self) -> None:
        """Let the arrays kept for reuse go (reading again makes new ones)."""
        self._buffers.clear()

    def _decode_plain(self, data: bytes) -> np.ndarray | None:
        nbytes = self._rule.nbytes
        if self._decoder is not None:
            if zstd_content_size(data[:32]) != nbytes:
                return None  # never inflated here: the checked read reports it
            out = self._buffers.take()
            self._decoder.decode(data, out=out.reshape(-1).view(np.uint8))
            return out
        if len(data) != nbytes:
            return None
        return np.frombuffer(data, self.dtype).reshape(self.chunk)

    def _decode_steps(self, index: int, data: bytes, problems: dict[int, str]) -> np.ndarray | None:
        """An ``animlib.steps`` chunk, or None if the checked read refuses it (see above)."""
        if len(data) < 8 or data[:4] != _STEPS_MAGIC:
            return None
        k = self.steps_per_chunk
        first = index * k
        covered = k if self.n_steps is None else min(self.n_steps, first + k) - first
        if int.from_bytes(data[4:8], "little") < covered:
            return None  # cut short: its missing steps must not read as the fill value
        from .stepcodec import decode_chunk

        return decode_chunk(
            data, self.chunk, self.dtype, out=self._buffers.take(), problems=problems
        )

    def steps(self, start: int, stop: int, wanted: Sequence[int]) -> dict[int, np.ndarray] | None:
        """Steps ``wanted`` (all in [start, stop)) from the chunks holding them, or None if
        any of those chunks cannot be read here."""
        k = self.steps_per_chunk
        out: dict[int, np.ndarray] = {}
        for index in range(start // k, (stop - 1) // k + 1):
            first = index * k
            mine = [s for s in wanted if first <= s < first + k]
            if not mine:
                continue
            data = self.read(index, {s - first for s in mine})
            if data is None:
                return None
            for s in mine:
                out[s] = data[s - first]
        return out
