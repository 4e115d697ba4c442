"""One row of a figure: header and status, image panels, confidence bars (:class:`RunPanels`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.artist import Artist

from ..options import RenderOptions
from ..protocol import RunLike
from .bars import ConfidenceBars
from .boxes import Host, PanelBox
from .header import RowHeader, StatusLine
from .images import ImagePanels
from .layout import Layout, RunSpec, plan, spec_of
from .regions import RedrawRegion
from .rundata import RunData
from .style import BARS, FONT_TITLE, PLACEHOLDER_TEXT, TOP

__all__ = ["ImageSource", "RunPanels"]

ImageSource = Callable[[int], np.ndarray]  # step -> (H, W, C) image


def placeholder(host: Host, panel: str, rect: list[float]) -> PanelBox:
    """An empty panel saying what this run lacks (in a comparison whose other rows show it)."""
    box = PanelBox(host, rect)
    box.text(
        0.5,
        0.5,
        "no confidences" if panel == BARS else "no original",
        ha="center",
        va="center",
        color=PLACEHOLDER_TEXT,
        fontsize=FONT_TITLE,
        style="italic",
    )
    return box


class RunPanels:
    """One row of panels for one run: original / adversarial / perturbation / confidence bars.

    Artists are created once; :meth:`update` only changes image data, bar widths, texts and
    colours. ``boxes`` maps each panel shown (and ``"header"``) to its
    :class:`~animlib.figure.boxes.PanelBox`. The pieces: ``header`` (with ``status``, the step
    and prediction line), ``images`` (:class:`ImagePanels`) and ``bars``
    (:class:`ConfidenceBars`, None without confidences).
    ``regions`` are the :class:`RedrawRegion` of everything that changes per step.
    """

    def __init__(
        self,
        host: Host,
        run: RunLike,
        options: RenderOptions,
        *,
        row_top: float = TOP,
        layout: Layout | None = None,
        placeholders: bool = False,
        source: ImageSource | None = None,
    ) -> None:
        self.data = RunData.of(run)
        self.run = run
        self.options = options
        self.n_steps = self.data.n_steps
        self.spec: RunSpec = spec_of(run)
        self.layout = layout if layout is not None else plan([self.spec], options)
        self.step: int | None = None  # the step shown (None before the first update)
        self._read_image: ImageSource = source if source is not None else run.images.__getitem__

        self.header = RowHeader(host, self.layout, row_top, self.data)
        bottom = self.layout.panels_bottom(row_top)
        rects = {}
        for panel in self.layout.panels:
            x, w = self.layout.boxes[panel]
            rect = self.layout.rect(x, bottom, w, self.layout.img_h)
            if panel in self.spec.panels:
                rects[panel] = rect
            elif placeholders:
                placeholder(host, panel, rect)
        image_boxes = {k: PanelBox(host, r) for k, r in rects.items() if k != BARS}
        self.images = ImagePanels(image_boxes, self.layout.width, self.data, options)
        self.bars: ConfidenceBars | None = None
        conf = self.data.confidences
        if BARS in rects and conf is not None:
            size = (self.layout.width, self.layout.height)
            self.bars = ConfidenceBars(host, rects[BARS], size, self.data, conf, options)
        self.boxes: dict[str, PanelBox] = {"header": self.header.box, **image_boxes}
        if self.bars is not None:
            self.boxes[BARS] = self.bars.box
        self.regions: list[RedrawRegion] = [
            *self.status.regions,
            *self.images.regions,
            *(self.bars.regions if self.bars is not None else []),
        ]

    @property
    def status(self) -> StatusLine:
        """The status line (step number and prediction) of the header."""
        return self.header.status

    @property
    def amplification(self) -> float | None:
        """The perturbation's amplification (None without an original image)."""
        return self.images.amplification

    @property
    def classes(self) -> list[int]:
        """The classes shown in the bars (empty without confidences)."""
        return list(self.bars.classes) if self.bars is not None else []

    def set_image_source(self, source: ImageSource | None) -> None:
        """Read a step's image with ``source(step)`` (e.g. a prefetching reader of a renderer);
        None goes back to reading ``run.images[step]``."""
        self._read_image = source if source is not None else self.run.images.__getitem__

    @property
    def changed_artists(self) -> list[Artist]:
        """Artists that :meth:`update` may change (for ``FuncAnimation(blit=True)``)."""
        return [a for region in self.regions for a in region.artists]

    def update(self, step: int) -> list[Artist]:
        """Show ``step`` (clamped to the run; shorter runs hold their last frame)."""
        step = self.data.clamp(step)
        if step != self.step:
            self.step = step
            self.images.show(self._read_image(step))
            self.status.show_step(step)
            prediction = self.data.prediction(step)
            if prediction is not None:
                row, pred = prediction
                if self.bars is not None:
                    self.bars.show(row, pred)
                self.status.show_prediction(pred, float(row[pred]))
        return self.changed_artists
