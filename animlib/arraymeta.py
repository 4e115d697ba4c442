"""A stored array's ``zarr.json``, checked before Zarr reads anything, and the chunk reads."""

# A run folder is untrusted input, and an array's ``zarr.json`` decides how much memory decoding
# one chunk takes (chunk shape and data type) and how stored bytes become pixels (codecs). So a
# reader never lets Zarr interpret metadata animlib has not checked:
#
# 1. :func:`check_array_meta` reads the document animlib read itself (at most
#    :data:`~animlib.limits.MAX_ARRAY_JSON_BYTES`) and accepts only what animlib's writer
#    produces: Zarr v3, a regular chunk grid whose chunks hold whole steps of the array's own
#    step shape (``original``: chunks no larger than the image), positive chunk sizes, at most
#    :data:`~animlib.limits.MAX_CHUNK_BYTES` decoded per chunk (one step always fits), the data
#    types of that array, the codecs ``bytes`` then ``zstd`` or (``images``) animlib's own
#    ``animlib.steps`` codec (no ``transpose``, sharding, variable-length strings or storage
#    transformers), and the image and class limits. A
#    group's consolidated metadata is never used.
# 2. :class:`~animlib.chunkstore.CheckedStore` wraps the run's Zarr store: Zarr gets exactly the
#    checked document (never a second read), a chunk file that is not stored is an error (Zarr
#    would hand back the fill value, zeros), a chunk file larger than its chunk can compress to
#    is not read past that bound, and a zstd frame must say it decodes to exactly the chunk's
#    size before it is decoded (a few KB can otherwise decompress to gigabytes); an
#    ``animlib.steps`` chunk decodes each frame into a buffer of exactly one step
#    (:mod:`animlib.stepcodec`).

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import Code, RunFormatError
from .limits import MAX_ARRAY_JSON_BYTES, MAX_CHUNK_BYTES, check_classes, check_side

DTYPES = {  # the data types each array may have (what the writer produces)
    "images": ("uint8", "float32"),
    "original": ("uint8", "float32"),
    "confidences": ("float32", "float64"),
    "scalars": ("float64", "float32", "int64", "int32"),  # (counts of other tools: read as float)
}
NDIM = {"images": 4, "original": 3, "confidences": 2, "scalars": 1}
CODECS = ("bytes", "zstd")  # the codec chain animlib's writer produces, in this order
STEPS_CODEC = "animlib.steps"  # images written by the fast path (animlib.stepcodec.CODEC_NAME)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def kind_of(name: str) -> str:
    """``images``, ``original``, ``confidences`` or ``scalars`` for an array path."""
    return "scalars" if name.startswith("scalars/") else name


@dataclass(frozen=True)
class MissingChunk:
    """A chunk file of a complete step (or of ``original``) that is not stored."""

    array: str
    key: str
    steps: tuple[int, int] | None  # first and last step it holds (None for ``original``)

    def describe(self) -> str:
        if self.steps is None:
            where = ""
        elif self.steps[0] == self.steps[1]:
            where = f" (step {self.steps[0]})"
        else:
            where = f" (steps {self.steps[0]}..{self.steps[1]})"
        return f"chunk {self.key}{where} is missing"


@dataclass(frozen=True)
class ChunkRule:
    """What one chunk of a checked array must look like."""

    array: str  # path of the array in the run folder (``images``, ``scalars/loss``)
    nbytes: int  # decoded bytes of one chunk
    rows: int | None  # steps per chunk (None for ``original``)
    separator: str  # of the chunk keys
    codec: str = "zstd"  # "zstd" (bytes + zstd) or STEPS_CODEC

    @property
    def max_stored(self) -> int:
        """The largest a stored chunk of ``nbytes`` can be: zstd's bound, rounded up; for
        ``animlib.steps``, a float step's grid bytes plus a residual of every value (at most
        2.25 times the step) and the frame headers."""
        if self.codec == STEPS_CODEC:
            return 3 * self.nbytes + 64 * (self.rows or 1) + 4096
        return self.nbytes + self.nbytes // 128 + 4096

    def steps_of(self, key: str, steps: int) -> tuple[int, int] | None:
        """First and last step the chunk ``key`` (relative to the array) holds."""
        parts = key.split(self.separator)
        if self.rows is None or len(parts) < 2 or not parts[1].isdigit():
            return None
        first = int(parts[1]) * self.rows
        return first, max(first, min(steps, first + self.rows) - 1)


def parse_array_meta(raw: bytes, run: str, name: str) -> dict[str, Any]:
    """The JSON object of ``name/zarr.json`` (bounded in size), or RunFormatError CORRUPT/LIMIT."""
    where = f"array metadata {name}/zarr.json"
    if len(raw) > MAX_ARRAY_JSON_BYTES:
        raise RunFormatError(
            f"{where} is {len(raw):,} bytes, over the limit of {MAX_ARRAY_JSON_BYTES:,}",
            run=run,
            field=name,
            code=Code.LIMIT,
        )
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise RunFormatError(
            f"{where} cannot be read (not valid JSON: {text})",
            run=run,
            field=name,
            code=Code.CORRUPT,
        ) from None
    if not isinstance(doc, dict):
        raise RunFormatError(
            f"{where} cannot be read (not a JSON object)", run=run, field=name, code=Code.CORRUPT
        )
    return doc


def _ints(value: Any, positive: bool) -> tuple[int, ...] | None:
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return None
    if any(v < (1 if positive else 0) for v in value):
        return None
    return tuple(value)


def _codec_names(codecs: Any) -> list[str] | None:
    if not isinstance(codecs, list) or not all(isinstance(c, dict) for c in codecs):
        return None
    return [str(c.get("name")) for c in codecs]


def _check_codecs(doc: dict[str, Any], kind: str, bad: Any) -> str:
    """The codec of a checked array: ``zstd`` (bytes + zstd) or :data:`STEPS_CODEC`."""
    if doc.get("storage_transformers"):
        raise bad("storage transformers are not supported", Code.UNSUPPORTED)
    names = _codec_names(doc.get("codecs"))
    if kind == "images" and names == [STEPS_CODEC]:
        config = doc["codecs"][0].get("configuration") or {}
        if not isinstance(config, dict) or set(config) - {"level"}:
            raise bad(f"{STEPS_CODEC} configuration {config!r} is not supported", Code.UNSUPPORTED)
        return STEPS_CODEC
    if names != list(CODECS):
        shown = ", ".join(names) if names else repr(doc.get("codecs"))[:80]
        written = ", ".join(CODECS) + (f" or {STEPS_CODEC}" if kind == "images" else "")
        raise bad(f"codecs {shown} are not the ones animlib writes ({written})", Code.UNSUPPORTED)
    config = doc["codecs"][0].get("configuration") or {}
    if not isinstance(config, dict) or config.get("endian", "little") not in ("little", "big"):
        raise bad(f"bytes codec configuration {config!r} is not supported", Code.UNSUPPORTED)
    return "zstd"


def _chunk_key_separator(doc: dict[str, Any], bad: Any) -> str:
    enc = doc.get("chunk_key_encoding")
    config = enc.get("configuration") if isinstance(enc, dict) else None
    sep = (config or {}).get("separator", "/") if isinstance(config, dict | None) else None
    if not isinstance(enc, dict) or enc.get("name") != "default" or sep not in ("/", "."):
        raise bad(f"chunk key encoding {enc!r} is not supported"[:200], Code.UNSUPPORTED)
    return sep


def _shapes(doc: dict[str, Any], kind: str, bad: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = _ints(doc.get("shape"), positive=False)
    ndim = NDIM[kind]
    if shape is None or len(shape) != ndim:
        raise bad(f"shape {doc.get('shape')!r} is not a list of {ndim} sizes"[:200], Code.INVALID)
    grid = doc.get("chunk_grid")
    config = grid.get("configuration") if isinstance(grid, dict) else None
    if not isinstance(grid, dict) or grid.get("name") != "regular" or not isinstance(config, dict):
        raise bad(f"chunk grid {grid!r} is not a regular grid"[:200], Code.UNSUPPORTED)
    raw_chunks = config.get("chunk_shape")
    chunks = _ints(raw_chunks, positive=True)
    if chunks is None or len(chunks) != ndim:
        raise bad(
            f"chunk shape {raw_chunks!r} is not a list of {ndim} positive sizes"[:200],
            Code.INVALID,
        )
    return shape, chunks


def check_array_meta(doc: dict[str, Any], run: str, name: str) -> ChunkRule:
    """Check the zarr.json document of array ``name`` (``images``, ``confidences``,
    ``original`` or ``scalars/<key>``) and return what its chunks must look like; raise
    RunFormatError naming the array otherwise. Nothing but the document is read."""

    def bad(message: str, code: Code) -> RunFormatError:
        return RunFormatError(message, run=run, field=name, code=code)

    kind = kind_of(name)
    if doc.get("zarr_format") != 3 or doc.get("node_type") != "array":
        raise bad("is not a Zarr v3 array", Code.INVALID)
    dtype_name = doc.get("data_type")
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES[kind]:
        allowed = " or ".join(DTYPES[kind])
        raise bad(
            f"data type {dtype_name!r} is not supported (expected {allowed})"[:200], Code.INVALID
        )
    itemsize = np.dtype(dtype_name).itemsize
    shape, chunks = _shapes(doc, kind, bad)
    codec = _check_codecs(doc, kind, bad)
    sep = _chunk_key_separator(doc, bad)
    _check_limits(kind, shape, run, name)
    if kind == "original":  # one image, chunked as Zarr chose: never beyond the image
        if any(c > max(s, 1) for c, s in zip(chunks, shape, strict=True)):
            raise bad(f"chunk shape {chunks} is larger than the image {shape}", Code.MISMATCH)
        return ChunkRule(name, math.prod(chunks) * itemsize, None, sep)
    per_step = shape[1:]
    if chunks[1:] != per_step:
        raise bad(
            f"chunk shape {chunks} does not hold whole steps of shape {per_step}",
            Code.MISMATCH,
        )
    step_bytes = math.prod(per_step) * itemsize
    rows = chunks[0]
    if rows * step_bytes > max(MAX_CHUNK_BYTES, step_bytes):
        raise bad(
            f"chunks of {rows} steps ({rows * step_bytes:,} bytes) exceed the limit of "
            f"{MAX_CHUNK_BYTES:,} bytes per chunk",
            Code.LIMIT,
        )
    nbytes = math.prod(chunks) * itemsize
    return ChunkRule(name, nbytes, rows, sep, codec)


def _check_limits(kind: str, shape: tuple[int, ...], run: str, name: str) -> None:
    if kind in ("images", "original"):
        h, w, c = shape[-3:]
        check_side(h, w, run=run, field=name)
        if c not in (1, 3, 4):
            raise RunFormatError(
                f"images need 1, 3 or 4 channels; shape {shape} has {c}",
                run=run,
                field=name,
                code=Code.INVALID,
            )
    elif kind == "confidences":
        check_classes(shape[1], run=run, field=name)


def zstd_content_size(data: bytes) -> int | None:
    """The decoded size a zstd frame header declares, or None if it declares none (or ``data``
    is not a zstd frame)."""
    if len(data) < 6 or data[:4] != ZSTD_MAGIC:
        return None
    fhd = data[4]
    if fhd & 0x08:  # reserved bit
        return None
    single = (fhd >> 5) & 1
    size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
    if size == 0 or len(data) < pos + size:
        return None
    value = int.from_bytes(data[pos : pos + size], "little")
    return value + 256 if size == 2 else value
