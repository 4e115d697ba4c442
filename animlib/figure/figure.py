"""Figures of one run (:class:`RunFigure`) or of 2-6 synchronised runs (:class:`CompareFigure`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..errors import RenderError, RenderOptionError
from ..options import RenderOptions
from ..protocol import RunLike, as_runs, check_compare
from .boxes import make_host
from .layout import Layout, plan, spec_of
from .panels import ImageSource, RunPanels
from .pixels import shared_amplification
from .regions import RedrawRegion
from .rundata import check_steps
from .style import MARGIN, ROW_GAP, RULE_COLOR

__all__ = ["CompareFigure", "PanelFigure", "RunFigure", "figure_size", "make_figure"]


def new_figure(layout: Layout, dpi: float, fig: Figure | None) -> Figure:
    """A white figure of the layout's size at ``dpi`` (``fig`` cleared and resized if given)."""
    w_px, h_px = layout.size_px(dpi)
    # a hair over the exact size, so int(inches * dpi) never truncates to an odd pixel count
    size = ((w_px + 0.01) / dpi, (h_px + 0.01) / dpi)
    if fig is None:
        fig = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(fig)
    else:
        fig.clear()
        fig.set_dpi(dpi)
        fig.set_size_inches(*size, forward=True)
    fig.set_facecolor("white")
    return fig


class PanelFigure:
    """A figure of one or more :class:`RunPanels` rows, shown frame by frame."""

    fig: Figure
    rows: list[RunPanels]
    options: RenderOptions
    n_frames: int
    n_steps: int  # of the longest run

    def frame_step(self, frame: int) -> int:
        """The step index (of the longest run) shown at ``frame``."""
        return self.options.frame_step(frame, self.n_steps)

    def update(self, frame: int) -> list[Artist]:
        """Show frame ``frame`` (step ``frame * stride``, the last frame the last step) on every
        row."""
        if not 0 <= int(frame) < self.n_frames:
            raise RenderOptionError(
                f"frame {frame} is out of range 0..{self.n_frames - 1}", field="frame"
            )
        step = self.frame_step(frame)
        out: list[Artist] = []
        for row in self.rows:
            out += row.update(step)
        return out

    @property
    def changed_artists(self) -> list[Artist]:
        return [a for row in self.rows for a in row.changed_artists]

    @property
    def regions(self) -> list[RedrawRegion]:
        """Screen areas of the changing artists, for a renderer that redraws only what changed."""
        return [region for row in self.rows for region in row.regions]

    def mark_all_dirty(self) -> None:
        for region in self.regions:
            region.mark(region.key)

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of a rendered frame in pixels."""
        w, h = self.fig.get_size_inches() * self.fig.dpi
        return int(w), int(h)


class RunFigure(PanelFigure):
    """Figure for a single run (its artists held by an Axes unless ``axes`` is False: see
    :func:`~animlib.figure.boxes.make_host`; its steps read with ``source(step)`` if given,
    else ``run.images[step]``)."""

    def __init__(
        self,
        run: RunLike,
        options: RenderOptions | None = None,
        fig: Figure | None = None,
        *,
        axes: bool = True,
        source: ImageSource | None = None,
    ) -> None:
        check_steps(run)
        self.run = run
        self.options = RenderOptions.of(options)
        layout = plan([spec_of(run)], self.options)
        self.fig = new_figure(layout, self.options.dpi, fig)
        host = make_host(self.fig, axes=axes)
        self.rows = [RunPanels(host, run, self.options, layout=layout, source=source)]
        self.n_steps = len(run)
        self.n_frames = self.options.frames(self.n_steps)
        self.update(0)


class CompareFigure(PanelFigure):
    """Synchronised rows for 2-6 runs: the same step on every row, shorter runs hold their end
    (``axes`` as for :class:`RunFigure`, ``sources`` one per run like its ``source``)."""

    def __init__(
        self,
        runs: Sequence[RunLike],
        options: RenderOptions | None = None,
        fig: Figure | None = None,
        *,
        axes: bool = True,
        sources: Sequence[ImageSource] | None = None,
    ) -> None:
        runs = list(runs)
        check_compare(runs)
        for run in runs:
            check_steps(run)
        self.options = RenderOptions.of(options)
        if self.options.amplification is None:  # one gain: the perturbations read alike
            shared = shared_amplification(runs)
            self.options = dataclasses.replace(self.options, amplification=shared)
        self.runs = runs
        layout = plan([spec_of(r) for r in runs], self.options)
        self.fig = new_figure(layout, self.options.dpi, fig)
        self.rows = []
        host = make_host(self.fig, axes=axes)
        for i, run in enumerate(runs):
            top = layout.row_top(i)
            row = RunPanels(
                host,
                run,
                self.options,
                row_top=top,
                layout=layout,
                placeholders=True,
                source=sources[i] if sources is not None else None,
            )
            self.rows.append(row)
            if i:
                y = 1.0 - (top - ROW_GAP / 2) / layout.height
                self.fig.add_artist(_rule(y, MARGIN / layout.width, 1 - MARGIN / layout.width))
        self.n_steps = max(len(r) for r in runs)
        self.n_frames = self.options.frames(self.n_steps)
        self.update(0)


def _rule(y: float, x0: float, x1: float) -> Artist:
    return Line2D([x0, x1], [y, y], color=RULE_COLOR, linewidth=1.0)


def figure_size(
    run_or_runs: RunLike | Sequence[RunLike], options: RenderOptions | None = None
) -> tuple[int, int]:
    """(width, height) in pixels of the figure :func:`make_figure` builds, without building it."""
    options = RenderOptions.of(options)
    layout = plan([spec_of(r) for r in as_runs(run_or_runs)], options)
    return layout.size_px(options.dpi)


def make_figure(
    run_or_runs: RunLike | Sequence[RunLike],
    options: RenderOptions | None = None,
    fig: Figure | None = None,
    *,
    axes: bool = True,
    sources: Sequence[ImageSource] | None = None,
) -> PanelFigure:
    """A :class:`RunFigure` for one run, a :class:`CompareFigure` for a list/tuple of runs.

    ``axes=False`` leaves out the Axes that ``FuncAnimation(blit=True)`` needs (the same
    pixels, built faster): for figures whose frames animlib draws itself. ``sources``: one
    ``source(step) -> image`` per run to read the steps with (default ``run.images[step]``).
    """
    runs = as_runs(run_or_runs)
    if sources is not None and len(sources) != len(runs):
        raise RenderError(f"{len(sources)} image sources for {len(runs)} runs", field="sources")
    if len(runs) == 1:
        return RunFigure(runs[0], options, fig, axes=axes, source=sources[0] if sources else None)
    return CompareFigure(runs, options, fig, axes=axes, sources=sources)
