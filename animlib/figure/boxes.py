"""Panel boxes: a panel's rectangle on the figure and its coordinates, without a matplotlib Axes."""

# An Axes costs 15-20 ms to create (its two axes build ticks, spines, titles) and more to draw
# its tick machinery; a comparison figure had 30 of them. A figure here has a :class:`PanelBox`
# per panel: the panel's bbox and the transforms an Axes would give (``transAxes``;
# ``transData`` for fixed limits), and the few helpers the panels use. The artists are held by
# one *host*: the figure itself when frames are drawn by animlib, or one Axes (axis off,
# covering the figure) for ``FuncAnimation(blit=True)``, which needs every artist's ``axes``.
# The Axes still costs ~5 ms and ~1,300 Python objects per figure (a quarter of a render's,
# which the garbage collector then scans): renders and snapshots go without it.

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import (
    Affine2D,
    Bbox,
    BboxTransformFrom,
    BboxTransformTo,
    ScaledTranslation,
    Transform,
    TransformedBbox,
    blended_transform_factory,
)

__all__ = ["Host", "PanelBox", "host_axes", "make_host"]

Host = Axes | Figure  # what holds the artists of a figure's panels (see above)


def host_axes(fig: Figure) -> Axes:
    """The one Axes of a figure: covers it, draws nothing itself, holds every panel's artists."""
    host = fig.add_axes((0.0, 0.0, 1.0, 1.0), frameon=False)
    host.set_axis_off()
    host.set_xlim(0.0, 1.0)
    host.set_ylim(0.0, 1.0)
    return host


def make_host(fig: Figure, *, axes: bool) -> Host:
    """The host of a figure's artists: a :func:`host_axes` if ``axes``, else ``fig`` itself
    (the same pixels: the Axes draws nothing of its own and its artists are unclipped)."""
    return host_axes(fig) if axes else fig


class PanelBox:
    """The rectangle ``rect`` ([left, bottom, width, height], figure fraction) of a panel.

    ``transAxes`` maps (0, 0)-(1, 1) onto the box, ``transData`` maps ``xlim`` x ``ylim`` onto
    it (a limit pair may run backwards, e.g. rows listed top down). Artists are added to the
    figure's host (:func:`make_host`) with the transform given (``transData`` if none) and
    no clip path, so drawing them costs what the artist costs, nothing more.
    """

    def __init__(
        self,
        host: Host,
        rect: Sequence[float],
        xlim: tuple[float, float] = (0.0, 1.0),
        ylim: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        fig = host.get_figure(root=False)
        assert fig is not None
        self.host = host
        self.figure: Any = fig
        self.position = Bbox.from_bounds(*rect)  # figure fraction
        self.bbox = TransformedBbox(self.position, fig.transFigure)
        self.transAxes: Transform = BboxTransformTo(self.bbox)  # noqa: N815 -- as on an Axes
        limits = Bbox.from_extents(xlim[0], ylim[0], xlim[1], ylim[1])
        self.transData: Transform = BboxTransformFrom(limits) + self.transAxes  # noqa: N815

    @property
    def width_fraction(self) -> float:
        """The box's width as a fraction of the figure's."""
        return float(self.position.width)

    def offset(self, transform: Transform, dx_pt: float = 0.0, dy_pt: float = 0.0) -> Transform:
        """``transform`` shifted by (dx, dy) points (as tick pads and title offsets are)."""
        return transform + ScaledTranslation(dx_pt / 72, dy_pt / 72, self.figure.dpi_scale_trans)

    def points_from(self, x: float, y: float) -> Transform:
        """Points (1/72 inch) measured from the box point (x, y) (fractions of the box), as
        offsets for legends and titles are given."""
        to_pixels = Affine2D().scale(1 / 72) + self.figure.dpi_scale_trans
        return to_pixels + ScaledTranslation(x, y, self.transAxes)

    def blended(self, x: str, y: str) -> Transform:
        """x and y each in ``"data"`` units or ``"axes"`` fractions (for tick labels)."""
        pick = {"data": self.transData, "axes": self.transAxes}
        return blended_transform_factory(pick[x], pick[y])

    def add_artist(self, artist: Artist, transform: Transform | None = None) -> Artist:
        """Add ``artist`` to the host, in ``transform`` (default ``transData``), unclipped."""
        if transform is not None or not artist.is_transform_set():
            artist.set_transform(transform if transform is not None else self.transData)
        self.host.add_artist(artist)
        artist.set_clip_path(None)
        return artist

    def text(
        self, x: float, y: float, s: str, transform: Transform | None = None, **kw: Any
    ) -> Text:
        """A :class:`~matplotlib.text.Text` at (x, y) (``transData`` unless ``transform``);
        ``parse_math`` is off unless asked for: labels are shown literally."""
        kw.setdefault("parse_math", False)
        text = Text(x, y, s, **kw)
        self.add_artist(text, transform)
        text.set_clip_on(False)
        return text
