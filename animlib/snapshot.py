"""One still frame of a run (or comparison) at an exact step, as RGB pixels or PNG bytes."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .figure import make_figure
from .options import RenderOptions
from .protocol import RunLike, as_runs

__all__ = ["frame_at", "frame_png"]


def frame_at(
    run_or_runs: RunLike | Sequence[RunLike],
    step: int,
    *,
    options: RenderOptions | Mapping[str, Any] | None = None,
    **kw: Any,
) -> np.ndarray:
    """The (H, W, 3) uint8 frame showing ``step`` exactly, with the video's look.

    Options as for :func:`animlib.render` (an unknown or invalid one raises the same
    ``RenderOptionError``); the stride is ignored: the frame shows ``step`` itself.
    """
    opts = dataclasses.replace(RenderOptions.of(options, **kw), stride=1)
    runs = as_runs(run_or_runs)
    figure = make_figure(runs, opts, axes=False)
    last = max(len(r) for r in runs) - 1
    figure.update(min(max(int(step), 0), last))
    canvas = figure.fig.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def frame_png(
    run_or_runs: RunLike | Sequence[RunLike],
    step: int,
    *,
    options: RenderOptions | Mapping[str, Any] | None = None,
    **kw: Any,
) -> bytes:
    """:func:`frame_at` encoded as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame_at(run_or_runs, step, options=options, **kw)).save(buf, format="PNG")
    return buf.getvalue()
