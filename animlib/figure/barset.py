"""``BarSet``: horizontal bars redrawn each frame with one renderer call (a lean PolyCollection)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.colors import to_rgba_array
from matplotlib.path import Path
from matplotlib.transforms import IdentityTransform

from .boxes import PanelBox

__all__ = ["BarSet"]

_NO_OFFSETS = np.zeros((1, 2))
_NO_TRANSFORMS = np.zeros((0, 3, 3))
_SOLID = [(0, None)]


class BarSet(Artist):
    """Bars from x = 0 to each bar's width, one per row ``i`` spanning ``i +- half`` (data
    units of ``box``), filled, with an optional outline per bar.

    What ``PolyCollection`` draws for such bars, with the same single
    ``draw_path_collection`` call, but without its per-draw preparation (masked offsets,
    scalar mapping, hatch probing), which cost about ten times the drawing. Paths are made
    once; a new frame only moves their right ends (:meth:`set_widths`).
    """

    zorder = 1  # as a collection: over the grid lines, under texts

    def __init__(self, box: PanelBox, rows: int, half: float, facecolors: Sequence[Any]) -> None:
        super().__init__()
        self._paths = []
        for i in range(rows):
            y0, y1 = i - half, i + half
            corners = [(0.0, y0), (0.0, y0), (0.0, y1), (0.0, y1), (0.0, y0)]
            self._paths.append(Path(corners, closed=True))
        self.set_colors(facecolors, ["none"] * rows, [0.0] * rows)
        box.add_artist(self)

    def set_widths(self, widths: Sequence[float]) -> None:
        """Move each bar's right end to its width."""
        for path, w in zip(self._paths, widths, strict=True):
            path.vertices[1:3, 0] = w
        self.stale = True

    def set_colors(
        self, facecolors: Sequence[Any], edgecolors: Sequence[Any], linewidths: Sequence[float]
    ) -> None:
        """Fill colours, outline colours (``"none"``: no outline) and outline widths (points)."""
        self._face = to_rgba_array(facecolors)
        self._edge = to_rgba_array(edgecolors)
        self._linewidths = np.asarray(linewidths, dtype=float)
        self.stale = True

    def draw(self, renderer: Any) -> None:
        if not self.get_visible():
            return
        gc = renderer.new_gc()
        self._set_gc_clip(gc)
        n = len(self._paths)
        renderer.draw_path_collection(
            gc,
            self.get_transform().frozen(),
            self._paths,
            _NO_TRANSFORMS,
            _NO_OFFSETS,
            IdentityTransform(),
            self._face,
            self._edge,
            self._linewidths,
            _SOLID,
            [True] * n,
            [None] * n,
            "screen",
        )
        gc.restore()
        self.stale = False
