"""Size limits a run and a render must respect, overridable through environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what a run may contain and what a render may ask for."""

    max_side: int = 1024
    max_steps: int = 100_000
    max_classes: int = 10_000
    max_dpi: int = 400
    max_frame_pixels: int = 4096 * 4096
    max_gif_frames: int = 3000

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, with ``ANIMLIB_MAX_SIDE``/``_STEPS``/``_CLASSES``/``_DPI`` overrides."""
        base = cls()
        return cls(
            max_side=_env_int("ANIMLIB_MAX_SIDE", base.max_side),
            max_steps=_env_int("ANIMLIB_MAX_STEPS", base.max_steps),
            max_classes=_env_int("ANIMLIB_MAX_CLASSES", base.max_classes),
            max_dpi=_env_int("ANIMLIB_MAX_DPI", base.max_dpi),
            max_frame_pixels=base.max_frame_pixels,
            max_gif_frames=_env_int("ANIMLIB_MAX_GIF_FRAMES", base.max_gif_frames),
        )


def limits() -> Limits:
    """The limits in force now (read from the environment on every call)."""
    return Limits.from_env()
