"""Where everything goes: panel columns shared by all rows, sizes in layout units."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ..options import RenderOptions
from ..protocol import RunLike
from .rundata import confidences, has_original
from .style import (
    BAR_MAX_W,
    BAR_MIN_W,
    BARS,
    BOTTOM_H,
    GAP,
    HEADER_H,
    IMAGE_PANELS,
    LABEL_W,
    MARGIN,
    MAX_IMG,
    MIN_IMG,
    PANELS,
    REF_DPI,
    ROW_GAP,
    TITLE_H,
    TOP,
)

__all__ = ["Layout", "RunSpec", "even", "plan", "spec_of"]


def even(x: float) -> int:
    """``x`` rounded to an even number of pixels (video encoders want even sizes)."""
    n = int(round(x))
    return n + (n % 2)


@dataclass(frozen=True)
class RunSpec:
    """What one run needs from the layout."""

    has_original: bool
    has_conf: bool
    aspect: float  # H / W of the images
    width: int  # image width in pixels

    @property
    def panels(self) -> tuple[str, ...]:
        """The panels this run shows, left to right."""
        s = IMAGE_PANELS if self.has_original else ("adversarial",)
        return s + ((BARS,) if self.has_conf else ())


def spec_of(run: RunLike) -> RunSpec:
    shape = tuple(run.image_shape)
    aspect = shape[0] / shape[1] if len(shape) >= 2 and shape[1] else 1.0
    width = int(shape[1]) if len(shape) >= 2 else 0
    return RunSpec(has_original(run), confidences(run) is not None, float(aspect), width)


def _snap(img_w: float, widths: set[int], dpi: float) -> float:
    """Shrink the panel so image pixels are shown at an integer zoom: crisp, and cheap to
    draw. Zooming in, by at most 25%; zooming out (1/2, 1/3, ...: every k-th pixel), by at
    most 10%."""
    if len(widths) != 1:
        return img_w
    (w,) = widths
    px = img_w * dpi / REF_DPI
    if w <= 0:
        return img_w
    if px < w:
        snapped = w / math.ceil(w / px)
        return snapped * REF_DPI / dpi if snapped >= 0.9 * px else img_w
    snapped = math.floor(px / w) * w
    return snapped * REF_DPI / dpi if snapped >= 0.75 * px else img_w


@dataclass(frozen=True)
class Layout:
    """Sizes in layout units (pixels at 100 dpi; the figure scales them with its dpi)."""

    width: float
    height: float
    panels: tuple[str, ...]  # columns shared by every row
    boxes: dict[str, tuple[float, float]]  # panel -> (x, width)
    img_h: float
    row_h: float

    def row_top(self, index: int) -> float:
        """Top of row ``index``, from the top of the figure."""
        return TOP + index * (self.row_h + ROW_GAP)

    def panels_bottom(self, row_top: float) -> float:
        """Bottom of the panels of the row starting at ``row_top``, from the top."""
        return row_top + HEADER_H + TITLE_H + self.img_h

    def rect(self, x: float, bottom_from_top: float, w: float, h: float) -> list[float]:
        """Layout units from the top-left -> figure fraction [left, bottom, width, height]."""
        return [
            x / self.width,
            1.0 - bottom_from_top / self.height,
            w / self.width,
            h / self.height,
        ]

    def size_px(self, dpi: float) -> tuple[int, int]:
        """(width, height) in pixels at ``dpi``, both even."""
        scale = dpi / REF_DPI
        return even(self.width * scale), even(self.height * scale)


def _image_width(
    specs: Sequence[RunSpec], options: RenderOptions, n_img: int, fixed: float
) -> float:
    """Width of an image panel: what fits across, at most MAX_IMG tall, tall rows kept on screen."""
    aspect = min(max(max(spec.aspect for spec in specs), 0.5), 1.5)
    img_w = min((options.width_px - fixed) / n_img, MAX_IMG / max(aspect, 1.0))
    n_rows = len(specs)
    if n_rows > 1:  # keep tall comparisons on screen
        budget = options.max_height_px - TOP - (n_rows - 1) * ROW_GAP
        img_w = min(img_w, (budget / n_rows - (HEADER_H + TITLE_H + BOTTOM_H)) / aspect)
        if img_w < MIN_IMG:  # (a frame that says nothing is worse than a tall one)
            warnings.warn(
                f"max_height_px={options.max_height_px} cannot hold {n_rows} rows: the video "
                f"is taller (images keep {MIN_IMG:g} layout units)",
                stacklevel=2,
            )
    img_w = max(img_w, MIN_IMG)
    return _snap(img_w, {spec.width for spec in specs}, options.dpi)


def plan(specs: Sequence[RunSpec], options: RenderOptions) -> Layout:
    """The layout of one row per spec (one spec: a single run; more: a comparison)."""
    width = float(options.width_px)
    present = {p for spec in specs for p in spec.panels}
    panels = tuple(p for p in PANELS if p in present)
    n_img = sum(p in IMAGE_PANELS for p in panels)
    has_bars = BARS in panels
    fixed = 2 * MARGIN + GAP * (n_img - 1) + (GAP + LABEL_W + BAR_MIN_W if has_bars else 0)
    img_w = _image_width(specs, options, n_img, fixed)
    aspect = min(max(max(spec.aspect for spec in specs), 0.5), 1.5)
    img_h = img_w * aspect

    boxes: dict[str, tuple[float, float]] = {}
    x = MARGIN
    for p in panels:
        if p == BARS:
            bar_w = min(width - MARGIN - (x + LABEL_W), BAR_MAX_W)
            boxes[p] = (x + LABEL_W, bar_w)
            x += LABEL_W + bar_w
        else:
            boxes[p] = (x, img_w)
            x += img_w + GAP
    if not has_bars:
        x -= GAP
    shift = max((width - MARGIN - x) / 2, 0.0)  # centre what is narrower than the figure
    boxes = {k: (v[0] + shift, v[1]) for k, v in boxes.items()}
    row_h = HEADER_H + TITLE_H + BOTTOM_H + img_h
    n_rows = len(specs)
    height = TOP + n_rows * row_h + (n_rows - 1) * ROW_GAP
    return Layout(width, height, panels, boxes, img_h, row_h)
