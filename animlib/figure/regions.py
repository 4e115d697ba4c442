"""Redraw regions: the screen area a panel's changing artists own, for changed-only drawing."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from matplotlib.artist import Artist

from .boxes import PanelBox

__all__ = ["Extents", "RedrawRegion", "box_columns", "padded"]

Extents = tuple[float, float, float, float]  # (x0, y0, x1, y1) in display pixels, y up


class RedrawRegion:
    """A screen area owned by some changing artists: no other changing artist draws into it.

    The panel that owns the artists marks the region when they change (:meth:`mark`); a
    renderer that redraws only what changed restores the background inside :meth:`region`
    (it may leave out :meth:`covered`), draws :attr:`artists` again and clears :attr:`dirty`.
    ``key`` (hashable, or None) describes what the artists show when that fully decides the
    region's pixels, so a renderer may reuse pixels drawn earlier for the same key; None means
    no reuse.
    """

    __slots__ = ("_covered", "_extents", "artists", "dirty", "key")

    def __init__(
        self,
        artists: Sequence[Artist],
        extents: Callable[[], Extents],
        covered: Callable[[], Extents | None] | None = None,
    ) -> None:
        self.artists: tuple[Artist, ...] = tuple(artists)
        self._extents = extents
        self._covered = covered
        self.dirty = True
        self.key: Hashable | None = None

    def region(self) -> Extents:
        """(x0, y0, x1, y1) in display pixels (y up), as the figure is laid out now."""
        return self._extents()

    def covered(self) -> Extents | None:
        """Whole pixels (x0, y0, x1, y1) (y up) inside the region that drawing the artists
        now overwrites completely (an opaque image), so the background need not be put back
        there first; None if none is known."""
        return self._covered() if self._covered is not None else None

    def mark(self, key: Hashable | None = None) -> None:
        """The artists changed: redraw them (``key`` as described in the class)."""
        self.dirty = True
        self.key = key


def box_columns(ax: PanelBox, width: float, x0: float, x1: float) -> Callable[[], Extents]:
    """The columns [x0, x1] (layout units across ``width``) of the full height of box ``ax``."""

    def extents() -> Extents:
        left, y0, right, y1 = ax.bbox.extents
        scale = (right - left) / width
        return (left + x0 * scale, y0, left + x1 * scale, y1)

    return extents


def padded(ax: PanelBox, pad: float) -> Callable[[], Extents]:
    """The area of box ``ax`` grown by ``pad`` display pixels on every side."""

    def extents() -> Extents:
        x0, y0, x1, y1 = ax.bbox.extents
        return (x0 - pad, y0 - pad, x1 + pad, y1 + pad)

    return extents
