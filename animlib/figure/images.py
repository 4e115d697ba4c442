"""The image panels of a row: original (static), adversarial and amplified perturbation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.text import Text

from .. import kernels
from ..options import RenderOptions
from .artists import PixelImage, Sampling
from .boxes import PanelBox
from .pixels import StepImages, auto_amplification, colour_planes, lut32, to_rgba
from .regions import RedrawRegion, padded
from .rundata import RunData
from .style import FONT_TITLE
from .textmetrics import fit, text_width

__all__ = ["ImagePanels", "panel_title"]


def panel_title(box: PanelBox, fig_w: float, *candidates: str) -> Text:
    """Title of a panel, centred 5 points above it: the first candidate that fits its width
    (else the last, cut with an ellipsis). ``fig_w`` is the figure width in layout units."""
    w = box.width_fraction * fig_w
    text = next((c for c in candidates if text_width(c, FONT_TITLE) <= w), candidates[-1])
    return box.text(
        0.5,
        1.0,
        fit(text, w, FONT_TITLE),
        box.offset(box.transAxes, 0.0, 5.0),
        ha="center",
        va="baseline",
        fontsize=FONT_TITLE,
    )


_Key = tuple[tuple[int, int], tuple[int, int]]  # a sampling's (source, size)


def _amp_text(amp: float) -> str:
    """3 significant digits, as the player writes them (1000, not 1e+03)."""
    value = float(f"{amp:.3g}")
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"


class ImagePanels:
    """The image panels of one row, given the boxes of those the row shows (``titles`` holds
    each one's title).

    ``adversarial_image`` and ``perturbation_image`` change every step, each in a
    :class:`RedrawRegion` of its own; ``original_image`` is drawn once. An image attribute is
    None when its panel is not shown; ``amplification`` is None without an original image.

    A step's image is converted when its panels are drawn, once for both, and only at the
    pixels they show: an image larger than its panel is picked down to the panel's size
    before any arithmetic (nearest neighbour, so the pixels are those of a full conversion).
    RGB steps are converted for both panels in one compiled pass once
    :func:`animlib.kernels.display_rgb` is loaded (the same pixels), with numpy until then.
    """

    def __init__(
        self, boxes: Mapping[str, PanelBox], fig_w: float, data: RunData, options: RenderOptions
    ) -> None:
        self.data = data
        self.boxes = dict(boxes)
        self.titles: dict[str, Text] = {}  # panel -> its title
        self.original_image: PixelImage | None = None
        self.adversarial_image: PixelImage | None = None
        self.perturbation_image: PixelImage | None = None
        self.amplification: float | None = None
        self.adversarial_region: RedrawRegion | None = None
        self.perturbation_region: RedrawRegion | None = None
        self._reference: np.ndarray | None = None  # the original's colour_planes
        if data.original is not None:
            amp = options.amplification
            self.amplification = float(amp) if amp is not None else auto_amplification(data.run)
            self._reference = colour_planes(data.original)
        self._images = StepImages()
        self._step: np.ndarray | None = None  # the step shown, as read
        self._prepared: dict[_Key | None, np.ndarray] = {}  # of the step shown, by sampling
        self._references: dict[_Key, np.ndarray] = {}  # the original's planes, sampled
        self._fused: dict[_Key, tuple[np.ndarray, np.ndarray]] = {}  # of the step shown
        self._kernel_args: dict[_Key, tuple[np.ndarray, ...]] = {}  # see _kernel_inputs
        shape = tuple(data.run.image_shape)[:2]
        blank = np.zeros((*shape, 4), np.uint8)  # until the first step is shown
        if "original" in self.boxes and data.original is not None:
            ax = self.boxes["original"]
            self.titles["original"] = panel_title(ax, fig_w, "original")
            self.original_image = PixelImage(ax, to_rgba(data.original))
        if "adversarial" in self.boxes:
            ax = self.boxes["adversarial"]
            # an attack's image; without a classifier (an image edit, say) nothing was attacked
            attacked = data.confidences is not None or data.run.true_label is not None
            name = "adversarial" if attacked else "edited" if data.original is not None else "image"
            self.titles["adversarial"] = panel_title(ax, fig_w, name)
            self.adversarial_image = PixelImage(ax, blank)
            self.adversarial_region = RedrawRegion(
                [self.adversarial_image], padded(ax, 1), self.adversarial_image.covered
            )
        if "perturbation" in self.boxes:
            ax = self.boxes["perturbation"]
            amp = self.amplification or 1.0
            a = _amp_text(amp)
            full = f"perturbation ×{a}  (colours ±{1 / amp:.2g})"  # (the range, not a budget)
            titles = (full, f"perturbation ×{a}  (±{1 / amp:.2g})", f"perturbation ×{a}", f"Δ ×{a}")
            self.titles["perturbation"] = panel_title(ax, fig_w, *titles)
            self.perturbation_image = PixelImage(ax, blank)
            self.perturbation_region = RedrawRegion(
                [self.perturbation_image], padded(ax, 1), self.perturbation_image.covered
            )

    @property
    def regions(self) -> list[RedrawRegion]:
        """Redraw regions of the changing panels (adversarial, perturbation)."""
        return [r for r in (self.adversarial_region, self.perturbation_region) if r is not None]

    def show(self, image: Any) -> None:
        """Show one step's image (converted when drawn, once for both panels)."""
        self._step = np.asarray(image)
        self._prepared.clear()
        self._fused.clear()
        shape = self._step.shape
        opaque = len(shape) == 2 or shape[-1] != 4  # RGBA steps carry their own alpha
        if self.adversarial_image is not None and self.adversarial_region is not None:
            self.adversarial_image.set_source(shape, self._adversarial_pixels, opaque=opaque)
            self.adversarial_region.mark()
        if self.perturbation_image is not None and self.perturbation_region is not None:
            self.perturbation_image.set_source(shape, self._perturbation_pixels, opaque=True)
            self.perturbation_region.mark()

    def _prepare(self, sampling: Sampling) -> tuple[np.ndarray, bool]:
        """The step prepared for display (see :meth:`StepImages.prepare`): only the sampled
        pixels when that shrinks it (then True), else all of them."""
        key = (sampling.source, sampling.size) if sampling.shrinks else None
        prepared = self._prepared.get(key)
        if prepared is None:
            assert self._step is not None
            step = self._step if key is None else sampling.apply(self._step)
            prepared = self._prepared[key] = self._images.prepare(step)
        return prepared, key is not None

    def _both(self, sampling: Sampling) -> tuple[np.ndarray, np.ndarray] | None:
        """Both panels' pixels from one compiled pass (RGB steps, once the kernel is loaded;
        None otherwise: numpy then gives the same pixels)."""
        key = (sampling.source, sampling.size)
        done = self._fused.get(key)
        if done is not None:
            return done
        step = self._step
        assert step is not None
        if step.ndim != 3 or step.shape[2] != 3 or step.dtype not in (np.float32, np.uint8):
            return None
        kernel = kernels.display_rgb(start=False)
        ref_shape = (*step.shape[:2], 3) if self._reference is None else self._reference.shape
        if kernel is None or not step.flags.c_contiguous or ref_shape != (*step.shape[:2], 3):
            return None
        rows, cols, orig, img, pert = self._kernel_inputs(sampling, key)
        gain = self.amplification or 1.0
        kernels.display_step(kernel, step, rows, cols, orig, gain, lut32("RdBu_r"), img, pert)
        done = self._fused[key] = (img, pert.view(np.uint8).reshape(*pert.shape, 4))
        return done

    def _kernel_inputs(self, sampling: Sampling, key: _Key) -> tuple[np.ndarray, ...]:
        """What the compiled pass takes for a sampling: its rows and columns (int64), the
        original's colour planes at the drawn pixels (zeros without an original), and the two
        bitmaps it writes (reused from step to step)."""
        got = self._kernel_args.get(key)
        if got is None:
            oh, ow = sampling.size
            cols = np.arange(sampling.source[1]) if sampling.cols is None else sampling.cols
            orig = self._orig_at(sampling)
            got = self._kernel_args[key] = (
                np.array(sampling.rows, np.int64, order="C"),
                np.array(cols, np.int64, order="C"),
                np.zeros((3, oh, ow), np.float32) if orig is None else kernels.planar(orig),
                np.empty((oh, ow, 4), np.uint8),
                np.empty((oh, ow), np.uint32),
            )
        return got

    def _orig_at(self, sampling: Sampling) -> np.ndarray | None:
        """The original's colour planes at the pixels ``sampling`` draws (float32, C-ordered,
        kept per sampling); None without an original."""
        if self._reference is None:
            return None
        key = (sampling.source, sampling.size)
        orig = self._references.get(key)
        if orig is None:
            orig = sampling.apply(self._reference)
            orig = self._references[key] = np.array(orig, np.float32, order="C")
        return orig

    def _adversarial_pixels(self, sampling: Sampling) -> np.ndarray:
        both = self._both(sampling)
        if both is not None:
            return both[0]
        prepared, sampled = self._prepare(sampling)
        rgba = self._images.rgba(prepared)
        return rgba if sampled else sampling.apply(rgba)

    def _perturbation_pixels(self, sampling: Sampling) -> np.ndarray:
        both = self._both(sampling)
        if both is not None:
            return both[1]
        prepared, sampled = self._prepare(sampling)
        amp = self.amplification or 1.0
        orig = self._orig_at(sampling) if sampled else self._reference
        colours = self._images.perturbation(prepared, amp, orig)
        return colours if sampled else sampling.apply(colours)
