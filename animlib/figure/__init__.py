"""Matplotlib figures of runs: artists built once, then updated in place for each step."""

# Modules, by job: ``style`` (colours, fonts, the layout grid), ``boxes`` (:class:`PanelBox`:
# a panel's place and coordinates; one host Axes per figure, none per panel), ``pixels``
# (images -> display bitmaps), ``textmetrics`` (measuring and fitting text), ``artists``
# (:class:`PixelImage`, :class:`Readout`), ``rundata`` (what a row reads from a run), ``layout``
# (where panels go), ``regions`` (:class:`RedrawRegion`, the public interface of changed-only
# drawing), ``header``, ``images`` and ``bars`` (the pieces of a row), ``panels``
# (:class:`RunPanels`, one row) and ``figure`` (:class:`RunFigure`, :class:`CompareFigure`,
# :func:`make_figure`).

from __future__ import annotations

from .artists import PixelImage, Readout
from .bars import ConfidenceBars
from .boxes import PanelBox
from .figure import CompareFigure, PanelFigure, RunFigure, figure_size, make_figure
from .header import RowHeader, StatusLine
from .images import ImagePanels
from .panels import ImageSource, RunPanels
from .pixels import auto_amplification
from .regions import RedrawRegion
from .rundata import RunData, choose_classes

__all__ = [
    "CompareFigure",
    "ConfidenceBars",
    "ImagePanels",
    "ImageSource",
    "PanelBox",
    "PanelFigure",
    "PixelImage",
    "Readout",
    "RedrawRegion",
    "RowHeader",
    "RunData",
    "RunFigure",
    "RunPanels",
    "StatusLine",
    "auto_amplification",
    "choose_classes",
    "figure_size",
    "make_figure",
]
