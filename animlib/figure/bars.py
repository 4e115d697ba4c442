"""The confidence bars of a row: a fixed class set, bars and value cells updated per step."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch

from ..options import RenderOptions
from .artists import Readout
from .regions import Extents, RedrawRegion
from .rundata import RunData, choose_classes
from .style import (
    ARGMAX_EDGE,
    ARGMAX_OTHER_COLOR,
    FONT_TICK,
    FONT_TITLE,
    FONT_VALUE,
    GRID_COLOR,
    LABEL_W,
    OTHER_COLOR,
    SPINE_COLOR,
    TARGET_COLOR,
    TRUE_COLOR,
)
from .textmetrics import fit, ink_extent, text_width

__all__ = ["ConfidenceBars"]

_HALF_BAR = 0.36  # half the height of a bar, in rows
_ARGMAX_LINE = 1.4
_VALUE_CHARS = "0123456789.-na"  # every character a value cell shows ("0.43", "-0.00", "nan")


class ConfidenceBars:
    """Horizontal bars of the confidences ``conf`` for the classes ``classes`` (true, target,
    then the top-k by peak confidence, fixed for the whole run), one value cell per bar.

    The bars are one ``PolyCollection`` (one draw call) in a :class:`RedrawRegion` left of
    x = 1; the values are :class:`Readout` cells right of it, a region per cell when a row is
    tall enough to hold its text, else one region for the column.
    """

    def __init__(
        self, ax: Axes, fig_w: float, data: RunData, conf: np.ndarray, options: RenderOptions
    ) -> None:
        self.ax = ax
        self.data = data
        true, target = data.true_label, data.target_label
        self.classes = choose_classes(conf, options.top_k, true, target)
        n = len(self.classes)
        self._base_colors = [
            TRUE_COLOR if c == true else TARGET_COLOR if c == target else OTHER_COLOR
            for c in self.classes
        ]
        # one PolyCollection for all bars: a single draw call per frame
        self._verts = np.zeros((n, 4, 2))
        y = np.arange(n)
        self._verts[:, :, 1] = y[:, None] + np.array([-1, -1, 1, 1]) * _HALF_BAR
        self.bars = PolyCollection(
            list(self._verts),
            facecolors=self._base_colors,
            edgecolors="none",
            linewidths=0.0,
            closed=True,
        )
        ax.add_collection(self.bars, autolim=False)
        self._style_axes(n)
        self._class_labels(y)
        self.values = [Readout(ax, 1.03, i, size=FONT_VALUE) for i in range(n)]
        handles = self._legend()
        self._title(fig_w, handles, options.top_k)
        self._shown: tuple[tuple[float, ...], int] | None = None
        self._value_state: list[tuple[str, str]] = [("", "")] * n
        self.bars_region = RedrawRegion([self.bars], self._bars_extents)
        self.value_regions = self._value_regions()

    # -- building ---------------------------------------------------------------------------------
    def _style_axes(self, n: int) -> None:
        ax = self.ax
        ax.set_xlim(0, 1.2)
        ax.set_ylim(n - 0.5, -0.5)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        # keep the axis line clear of the bars, so bars own their screen area (see
        # RedrawRegion); before the tick labels are styled: moving a spine rebuilds the ticks
        ax.spines["left"].set_position(("outward", 4))
        ax.spines["left"].set_color(SPINE_COLOR)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", ".25", ".5", ".75", "1"])
        ax.tick_params(axis="x", labelsize=FONT_TICK, length=0, pad=3)
        ax.tick_params(axis="y", length=0, pad=3)
        ax.set_axisbelow(True)

    def _class_labels(self, y: np.ndarray) -> None:
        names = self.data.class_names
        labels = [fit(names[c], LABEL_W - 14, FONT_TICK) for c in self.classes]
        self.ax.set_yticks(y, labels, fontsize=FONT_TICK, parse_math=False)
        marked = {self.data.true_label: TRUE_COLOR, self.data.target_label: TARGET_COLOR}
        for tick, c in zip(self.ax.get_yticklabels(), self.classes, strict=True):
            if c in marked:
                tick.set_color(marked[c])
                tick.set_fontweight("bold")
        self.ax.grid(axis="x", color=GRID_COLOR, linewidth=0.8)

    def _legend(self) -> list[Patch]:
        handles = [Patch(color=TRUE_COLOR, label="true")]
        if self.data.target_label is not None:
            handles.append(Patch(color=TARGET_COLOR, label="target"))
        handles.append(
            Patch(facecolor="white", edgecolor=ARGMAX_EDGE, linewidth=_ARGMAX_LINE, label="argmax")
        )
        self.ax.legend(
            handles=handles,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=len(handles),
            fontsize=FONT_TICK,
            frameon=False,
            borderaxespad=0.2,
            handlelength=1.2,
            handleheight=0.8,
            columnspacing=0.9,
            handletextpad=0.4,
        )
        return handles

    def _title(self, fig_w: float, handles: list[Patch], top_k: int) -> None:
        """Title over the class-name column, the legend on the right of the same line."""
        w = self.ax.get_position().width * fig_w
        legend_w = sum(text_width(h.get_label(), FONT_TICK) + 30 for h in handles)
        title = fit(f"confidence (top {top_k})", LABEL_W + w - legend_w, FONT_TITLE)
        self.ax.annotate(
            title,
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(-LABEL_W * 0.72, 5),
            textcoords="offset points",
            ha="left",
            va="baseline",
            fontsize=FONT_TITLE,
            parse_math=False,
        )

    # -- screen areas: bars left of x = 1.0, the values right of it ------------------------------
    def _split_x(self) -> float:
        return float(self.ax.transData.transform((1.0, 0))[0]) + 3.0

    def _bars_extents(self) -> Extents:
        x0, y0, _, y1 = self.ax.bbox.extents
        return (x0 - 3.0, y0, self._split_x(), y1)

    def _cell_extents(self, i: int) -> Callable[[], Extents]:
        def extents() -> Extents:
            _, top = self.ax.transData.transform((0, i - 0.5))
            _, bottom = self.ax.transData.transform((0, i + 0.5))
            return (self._split_x(), round(bottom), self.ax.bbox.x1 + 6.0, round(top))

        return extents

    def _column_extents(self) -> Extents:
        x0, y0, x1, y1 = self.ax.bbox.extents
        return (self._split_x(), y0 - 8.0, x1 + 6.0, y1 + 2.0)

    def _cells_hold_values(self) -> bool:
        """Whether a bar's row holds the ink of any value drawn in it (a pixel to spare above
        and below), measured at the figure's dpi: then each value cell is a region."""
        row_px = self.ax.bbox.height / len(self.values) if self.ax.bbox.height else 0.0
        dpi = float(self.ax.figure.dpi)
        reach = 0.0  # how far ink goes from the line's centre, up or down
        for weight in ("normal", "bold"):
            top, bottom = ink_extent(_VALUE_CHARS, FONT_VALUE, weight, dpi)
            reach = max(reach, top, -bottom)
        return reach + 1.5 <= row_px / 2

    def _value_regions(self) -> list[RedrawRegion]:
        if self._cells_hold_values():
            return [RedrawRegion([t], self._cell_extents(i)) for i, t in enumerate(self.values)]
        return [RedrawRegion(self.values, self._column_extents)]

    @property
    def regions(self) -> list[RedrawRegion]:
        """The redraw regions of the bars and of the value cells."""
        return [self.bars_region, *self.value_regions]

    # -- per step ---------------------------------------------------------------------------------
    def show(self, row: np.ndarray, pred: int) -> None:
        """Show one step's confidences ``row`` (all K classes) with argmax ``pred``."""
        values = tuple(float(row[c]) for c in self.classes)
        if (values, pred) != self._shown:
            recolour = self._shown is None or self._shown[1] != pred  # colours follow the argmax
            self._shown = (values, pred)
            widths = [min(max(p, 0.0), 1.0) if math.isfinite(p) else 0.0 for p in values]
            self._verts[:, 1:3, 0] = np.asarray(widths)[:, None]
            self.bars.set_verts(self._verts)  # an array: matplotlib's fast path, same paths
            if recolour:
                self._recolour(pred)
            self.bars_region.mark()
        self._show_values(values, pred)

    def _recolour(self, pred: int) -> None:
        is_max = [c == pred for c in self.classes]
        self.bars.set_facecolor(
            [
                ARGMAX_OTHER_COLOR if m and base == OTHER_COLOR else base
                for m, base in zip(is_max, self._base_colors, strict=True)
            ]
        )
        self.bars.set_edgecolor([ARGMAX_EDGE if m else "none" for m in is_max])
        self.bars.set_linewidth([_ARGMAX_LINE if m else 0.0 for m in is_max])

    def _show_values(self, values: tuple[float, ...], pred: int) -> None:
        per_cell = len(self.value_regions) == len(self.values)
        for i, (text, c, p) in enumerate(zip(self.values, self.classes, values, strict=True)):
            value = (f"{p:.2f}" if math.isfinite(p) else "nan", "bold" if c == pred else "normal")
            if value != self._value_state[i]:
                self._value_state[i] = value
                text.set_text(value[0])
                text.set_fontweight(value[1])
                if per_cell:
                    self.value_regions[i].mark(value)
                else:
                    self.value_regions[0].mark()
        if not per_cell:
            column = self.value_regions[0]
            if column.dirty:
                column.key = tuple(self._value_state)
