"""The Zarr side of the ``animlib.steps`` codec: its ArrayBytesCodec class and its registration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr.registry
from zarr.abc.codec import ArrayBytesCodec

from . import stepcodec

CODEC_NAME = stepcodec.CODEC_NAME
_registered = False


@dataclass(frozen=True)
class StepCodec(ArrayBytesCodec):
    """Zarr v3 array-to-bytes codec for (steps, H, W, C) uint8/float32 image chunks (see
    :mod:`animlib.stepcodec`); lossless, so reads give back exactly what was written."""

    is_fixed_size = False
    level: int

    def __init__(self, *, level: int = stepcodec.LEVEL) -> None:
        object.__setattr__(self, "level", int(level))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepCodec:
        config = data.get("configuration") or {}
        if data.get("name") != CODEC_NAME or set(config) - {"level"}:
            raise ValueError(f"not a valid {CODEC_NAME} codec: {data!r}")
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        return {"name": CODEC_NAME, "configuration": {"level": self.level}}

    def validate(self, *, shape: Any, dtype: Any, chunk_grid: Any) -> None:
        native = np.dtype(dtype.to_native_dtype())
        if native not in (np.uint8, np.float32) or len(shape) < 2:
            raise ValueError(f"{CODEC_NAME} stores (steps, ...) uint8 or float32 arrays")

    def _decode_sync(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
        dtype = np.dtype(chunk_spec.dtype.to_native_dtype())
        fill = chunk_spec.fill_value
        data = stepcodec.decode_chunk(chunk_bytes.to_bytes(), chunk_spec.shape, dtype, fill)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(data)

    async def _decode_single(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
        return self._decode_sync(chunk_bytes, chunk_spec)

    def _encode_sync(self, chunk_array: Any, chunk_spec: Any) -> Any:
        data = np.ascontiguousarray(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(stepcodec.encode_chunk(data))

    async def _encode_single(self, chunk_array: Any, chunk_spec: Any) -> Any:
        return self._encode_sync(chunk_array, chunk_spec)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: Any) -> int:
        raise NotImplementedError(f"{CODEC_NAME} output has no fixed size")


def register() -> None:
    """Make Zarr know the codec (idempotent; animlib's reader calls it before opening arrays).

    Returns:
        None.
    """
    global _registered
    if not _registered:
        zarr.registry.register_codec(CODEC_NAME, StepCodec)
        _registered = True


register()
