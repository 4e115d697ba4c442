"""ArrayAppender: one appendable Zarr v3 array of a run, whose chunk files it encodes itself."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numcodecs import Zstd

from . import stepcodec, stepsplit
from .errors import Code, RunFormatError
from .stepsplit import Prepared

PLAIN_LEVEL = 1  # zstd level of the plain arrays (confidences, scalars, original)
# chunk keys "c.0.0.0.0" unless the store says otherwise (Store.chunk_separator: flat files on a
# local disk, where creating folders is what costs most; "/" on object storage)
SEPARATOR = "."


def array_meta(
    item_shape: tuple[int, ...],
    rows: int,
    dtype: str,
    fill: Any,
    codecs: list[dict[str, Any]],
    separator: str = SEPARATOR,
) -> dict[str, Any]:
    """The zarr.json of a new array.

    Args:
        item_shape: The shape of one step (``(H, W, C)``, ``(K,)``, ``()``).
        rows: Steps per chunk.
        dtype: Zarr data type name (``uint8``, ``float32``, ``float64``).
        fill: The fill value (``"NaN"`` for NaN).
        codecs: The codec chain.
        separator: Of the chunk keys (the store's :attr:`~animlib.store.Store.chunk_separator`).

    Returns:
        The metadata of an array of shape (0, *item_shape), chunks (rows, *item_shape).
    """
    return {
        "shape": [0, *item_shape],
        "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [rows, *item_shape]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": separator}},
        "fill_value": fill,
        "codecs": codecs,
        "attributes": {},
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }


def plain_codecs(dtype: str) -> list[dict[str, Any]]:
    """The codecs Zarr writes by default: bytes (little endian) + zstd, with zstd's checksum of
    each chunk (a flipped bit read back as other confidences, passing every check, before).

    Args:
        dtype: The array's data type name.

    Returns:
        The codec chain for zarr.json.
    """
    head: dict[str, Any] = {"name": "bytes"}
    if np.dtype(dtype).itemsize > 1:
        head["configuration"] = {"endian": "little"}
    return [head, {"name": "zstd", "configuration": {"level": PLAIN_LEVEL, "checksum": True}}]


STEP_CODECS = [{"name": stepcodec.CODEC_NAME, "configuration": {"level": stepcodec.LEVEL}}]


def encode_plain(data: np.ndarray, codecs: list[dict[str, Any]]) -> bytes:
    """Encode a whole chunk with the plain codecs.

    Args:
        data: The chunk (its full chunk shape).
        codecs: ``bytes`` (little endian), optionally followed by ``zstd``.

    Returns:
        The chunk file's bytes.
    """
    raw = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
    if len(codecs) == 1:
        return raw
    config = codecs[1].get("configuration") or {}
    z = Zstd(level=int(config.get("level", 0)), checksum=bool(config.get("checksum", False)))
    return bytes(z.encode(raw))


def codec_kind(codecs: Any) -> str:
    """Which encoder can append to an array stored with ``codecs``.

    Args:
        codecs: The ``codecs`` list of a zarr.json.

    Returns:
        ``"steps"`` (animlib.steps) or ``"plain"`` (bytes, optionally zstd).

    Raises:
        RunFormatError: (UNSUPPORTED) any other codec chain.
    """
    names = [c.get("name") for c in codecs] if isinstance(codecs, list) else []
    if names == [stepcodec.CODEC_NAME]:
        return "steps"
    if names in (["bytes"], ["bytes", "zstd"]):
        endian = (codecs[0].get("configuration") or {}).get("endian", "little")
        if endian == "little":
            return "plain"
    raise RunFormatError(
        f"cannot append to an array stored with the codecs {names}",
        field="codecs",
        code=Code.UNSUPPORTED,
    )


@dataclass
class Row:
    """One step of an array, with its encoded frame once known (``animlib.steps`` arrays)."""

    value: Any
    frame: bytes | None = None


@dataclass
class ArrayPlan:
    """What a flush writes for one array, and the state the array has once it is written."""

    array: ArrayAppender
    folders: list[str]
    writes: list[tuple[str, bytes]]
    meta: bytes | None
    n: int
    length: int
    open_rows: list[Row]


@dataclass
class ArrayAppender:
    """One array of a run, appended along axis 0 (steps). Chunk files are encoded here and
    written whole (atomically) by the run's flush; ``length`` is the shape in zarr.json (-1
    while zarr.json is not written), which grows a chunk at a time and is trimmed at the end."""

    path: str
    meta: dict[str, Any]
    n: int = 0
    length: int = -1
    open_rows: list[Row] = field(default_factory=list)
    late: bool = False  # created after step 0 (a scalar): earlier chunks are written as fill
    made: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.kind = codec_kind(self.meta.get("codecs"))
        grid = self.meta["chunk_grid"]["configuration"]["chunk_shape"]
        self.rows = int(grid[0])
        self.chunk_shape = tuple(int(s) for s in grid)
        self.dtype = np.dtype(self.meta["data_type"])
        fill = self.meta.get("fill_value", 0)
        self.fill = float("nan") if fill == "NaN" else fill
        encoding = self.meta["chunk_key_encoding"]
        if encoding.get("name") != "default":
            raise RunFormatError(
                f"cannot append with the chunk key encoding {encoding.get('name')!r}",
                field=self.path,
                code=Code.UNSUPPORTED,
            )
        self.sep = (encoding.get("configuration") or {}).get("separator", "/")
        if self.rows < 1:
            raise RunFormatError("chunks of zero steps", field=self.path, code=Code.INVALID)

    # -- keys and metadata -----------------------------------------------------------------
    def key(self, index: int) -> str:
        """The path of chunk ``index`` (along the steps) inside the run folder."""
        coords = [index] + [0] * (len(self.chunk_shape) - 1)
        return f"{self.path}/c{self.sep}" + self.sep.join(map(str, coords))

    def folders_for(self, key: str) -> list[str]:
        """The folders ``key`` needs below the array's own, outermost first."""
        parts = key[len(self.path) + 1 :].split("/")
        return [f"{self.path}/" + "/".join(parts[:i]) for i in range(1, len(parts))]

    def meta_bytes(self, length: int) -> bytes:
        return json.dumps({**self.meta, "shape": [length, *self.chunk_shape[1:]]}).encode()

    # -- encoding --------------------------------------------------------------------------
    def _encode(self, rows: list[Row]) -> bytes:
        if self.kind == "steps":
            frames = []
            for i, row in enumerate(rows):
                if row.frame is None:
                    prev = rows[i - 1].value if i else None
                    row.frame = stepcodec.encode_frame(row.value, prev)
                frames.append(row.frame)
            return stepcodec.pack_chunk(frames)
        data = np.full(self.chunk_shape, self.fill, dtype=self.dtype)
        for i, row in enumerate(rows):
            value = row.value
            data[i] = value.image() if isinstance(value, Prepared) else value
        return encode_plain(data, self.meta["codecs"])

    def row(self, value: Any, *, checked: bool = False) -> Row:
        """A new row; ``animlib.steps`` arrays keep :class:`Prepared` steps, others arrays.
        ``checked``: float images are known to be finite and in [0, 1]."""
        if self.kind == "steps" and not isinstance(value, Prepared):
            value = stepsplit.prepare(np.asarray(value, dtype=self.dtype), checked=checked)
        elif not isinstance(value, Prepared):  # kept while its chunk is open: never the caller's
            value = np.array(value, dtype=self.dtype)
        return Row(value)

    # -- the flush protocol ------------------------------------------------------------------
    def plan(self, values: list[Any], *, final: bool = False) -> ArrayPlan:
        """Encode the chunks holding ``values`` (appended after the ``n`` committed steps;
        images checked by a writer);
        nothing changes until :meth:`commit`. ``final``: the shape becomes exactly the steps
        (the run ends), else it grows ahead of them."""
        rows = self.open_rows + [self.row(v, checked=True) for v in values]
        first = self.n // self.rows
        new_n = self.n + len(values)
        writes: list[tuple[str, bytes]] = []
        if self.late and self.length < 0:
            empty = [Row(np.full(self.chunk_shape[1:], self.fill, self.dtype))] * self.rows
            writes += [(self.key(i), self._encode(empty)) for i in range(first)]
        for start in range(0, len(rows) if values else 0, self.rows):
            index = first + start // self.rows
            writes.append((self.key(index), self._encode(rows[start : start + self.rows])))
        folders = [self.path] if self.length < 0 else []
        for key, _ in writes:
            folders += [f for f in self.folders_for(key) if f not in self.made and f not in folders]
        length = new_n if final else self.length
        if not final and new_n > self.length:  # grow ahead (an eighth), so zarr.json is rare
            length = math.ceil((new_n + new_n // 8) / self.rows) * self.rows
        meta = self.meta_bytes(length) if length != self.length else None
        open_rows = rows[(new_n // self.rows - first) * self.rows :]
        return ArrayPlan(self, folders, writes, meta, new_n, length, open_rows)

    def commit(self, plan: ArrayPlan) -> None:
        """Take the state ``plan`` describes (its writes succeeded)."""
        self.n, self.length, self.open_rows = plan.n, plan.length, plan.open_rows
        self.made.update(plan.folders)
