"""One still frame of a run (or comparison) at an exact step, as RGB pixels or PNG bytes."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .figures import FigureOptions, make_figure


def frame_at(run_or_runs: Any, step: int, **options: Any) -> np.ndarray:
    """The (H, W, 3) uint8 frame showing ``step`` exactly, with the video's look (no stride)."""
    options = {k: v for k, v in options.items() if k in FigureOptions.__dataclass_fields__}
    options["stride"] = 1
    figure = make_figure(run_or_runs, FigureOptions(**options))
    runs = run_or_runs if isinstance(run_or_runs, (list, tuple)) else [run_or_runs]
    last = max(len(r) for r in runs) - 1
    figure.update(min(max(int(step), 0), last))
    canvas = figure.fig.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def frame_png(run_or_runs: Any, step: int, **options: Any) -> bytes:
    """:func:`frame_at` encoded as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame_at(run_or_runs, step, **options)).save(buf, format="PNG")
    return buf.getvalue()
