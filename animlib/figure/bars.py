"""The confidence bars of a row: a fixed class set, bars and value cells updated per step."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from ..options import RenderOptions
from .artists import Readout
from .barset import BarSet
from .boxes import Host, PanelBox
from .regions import Extents, RedrawRegion
from .rundata import RunData, choose_classes, top_count
from .style import (
    ARGMAX_EDGE,
    ARGMAX_OTHER_COLOR,
    FONT_TICK,
    FONT_TITLE,
    FONT_VALUE,
    GRID_COLOR,
    LABEL_W,
    OTHER_COLOR,
    REF_DPI,
    SPINE_COLOR,
    TARGET_COLOR,
    TRUE_COLOR,
)
from .textmetrics import fit, ink_extent, text_width

__all__ = ["ConfidenceBars"]

_HALF_BAR = 0.36  # half the height of a bar, in rows
_ARGMAX_LINE = 1.4
VALUE_X = 1.03  # where the value text starts, in the bars' data units (a full bar ends at 1)
_VALUE_CHARS = "0123456789.-na"  # every character a value cell shows ("0.43", "-0.00", "nan")
_LABEL_CHARS = "ÅÉgjpqy|()[]0123456789:…"  # the tallest and deepest ink a class name may have


_TICKS = ((0.0, "0"), (0.25, ".25"), (0.5, ".5"), (0.75, ".75"), (1.0, "1"))
_SPINE_OUT = 4.0  # points left of the bars: the axis line keeps clear of them
_PAD = 3.0  # points between the axis line (or the bottom) and the tick labels
_LEGEND_OUT = 0.6  # font sizes between the panel's top-right corner and the legend


def rows_that_fit(height: float) -> int:
    """How many class rows a bar panel ``height`` layout units tall shows: each needs a line of
    its name (at 1,000 classes and ``top_k=40`` the names were drawn over each other)."""
    return max(int(height // (FONT_TICK * REF_DPI / 72)), 1)


def bars_title(shown: int, top_k: int, classes: int, *, short: bool = False) -> str:
    """The bar panel's title: ``confidence`` when every class has a bar, else how many of how
    many (the true and target classes are added to the top ``top_k`` when outside them; the
    top ones are every class that is some step's argmax, then the others by peak confidence).

    Args:
        shown: Bars drawn.
        top_k: The top classes drawn (see :func:`~animlib.figure.rundata.top_count`).
        classes: Classes of the run.
        short: Only the count (``top 9 of 40``), for a panel too narrow for the whole title
            (cut, it read "confidence (top 9 of…").

    Returns:
        The title.
    """
    if shown >= classes:
        return "confidence"
    count = f"top {min(top_k, classes)} of {classes:,}"
    return count if short else f"confidence ({count})"


class ConfidenceBars:
    """Horizontal bars of the confidences ``conf`` for the classes ``classes`` (true, target,
    then every step's argmax and the top-k by peak confidence, fixed for the whole run: see
    :func:`~animlib.figure.rundata.choose_classes`), one value cell per bar.

    The panel is drawn without an Axes: a :class:`~animlib.figure.boxes.PanelBox` with x from 0
    to 1.2 and a row per class, plain lines and texts for the grid, axis line, tick labels
    (``class_labels``), legend and title. The bars are a :class:`BarSet` (one draw call
    per frame) in a :class:`RedrawRegion` left of x = 1; the values are :class:`Readout` cells
    right of it, a region per cell when a row is tall enough to hold its text, else one region
    for the column.
    """

    def __init__(
        self,
        host: Host,
        rect: Sequence[float],
        fig_size: tuple[float, float],
        data: RunData,
        conf: np.ndarray,
        options: RenderOptions,
    ) -> None:
        self.data = data
        true, target = data.true_label, data.target_label
        fig_w, fig_h = fig_size  # layout units
        top = top_count(conf, options.top_k, true, target, rows_that_fit(rect[3] * fig_h))
        self.classes = choose_classes(conf, top, true, target)
        n = len(self.classes)
        # a step's argmax left out of the bars (more leading classes than rows fit) is shown
        # in the last row, the frame's own class there, so the class the header names as
        # predicted always has its bar (a 1,000-class run near its decision boundary read
        # "pred: class-212" over bars none of which was class 212)
        leaders = set(np.argmax(np.nan_to_num(conf, nan=-1.0), axis=1).tolist())
        last = self.classes[-1]
        free = n >= 2 and last not in (true, target) and bool(leaders - set(self.classes))
        self.floating: int | None = n - 1 if free else None
        self.box = PanelBox(host, rect, xlim=(0.0, 1.2), ylim=(n - 0.5, -0.5))
        self._base_colors = [
            TRUE_COLOR if c == true else TARGET_COLOR if c == target else OTHER_COLOR
            for c in self.classes
        ]
        self.bars = BarSet(self.box, n, _HALF_BAR, self._base_colors)  # one draw call per frame
        self._axis_lines(n)
        self.class_labels = self._class_labels()
        self.values = [Readout(self.box, VALUE_X, i, size=FONT_VALUE) for i in range(n)]
        handles = self._legend()
        self._title(fig_w, handles, top, conf.shape[1])
        self._shown: tuple[tuple[float, ...], int] | None = None
        self._value_state: list[tuple[str, str]] = [("", "")] * n
        self.bars_region = RedrawRegion([self.bars], self._bars_extents)
        self.value_regions = self._value_regions()
        self.label_region: RedrawRegion | None = None
        self._floating_text = self._base_text = ""
        if self.floating is not None:
            label = self.class_labels[self.floating]
            self._floating_text = self._base_text = label.get_text()
            self.label_region = RedrawRegion([label], self._label_extents(self.floating))

    # -- building ---------------------------------------------------------------------------------
    def _axis_lines(self, n: int) -> None:
        """Grid lines at the x ticks (below the bars), their labels, the axis line on the left."""
        box = self.box
        for x, label in _TICKS:
            grid = Line2D([x, x], [-0.5, n - 0.5], color=GRID_COLOR, linewidth=0.8, zorder=0.5)
            grid.set_solid_capstyle("butt")
            box.add_artist(grid)
            below = box.offset(box.blended("data", "axes"), 0.0, -_PAD)
            box.text(x, 0.0, label, below, ha="center", va="top", fontsize=FONT_TICK)
        spine = Line2D([0, 0], [0, 1], color=SPINE_COLOR, linewidth=0.8, zorder=2.5)
        spine.set_solid_capstyle("projecting")
        box.add_artist(spine, box.offset(box.transAxes, -_SPINE_OUT, 0.0))

    def _class_labels(self) -> list[Text]:
        """The class names, right-aligned left of the axis line; true and target coloured."""
        box = self.box
        marked = {self.data.true_label: TRUE_COLOR, self.data.target_label: TARGET_COLOR}
        where = box.offset(box.blended("axes", "data"), -_SPINE_OUT - _PAD, 0.0)
        labels = []
        self.labels_width = 0.0  # the widest name, in layout units: the title starts over it
        texts = self._label_texts(marked)
        for i, c in enumerate(self.classes):
            weight = "bold" if c in marked else "normal"
            style = {"color": marked[c], "fontweight": weight} if c in marked else {}
            text = texts[i]
            self.labels_width = max(self.labels_width, text_width(text, FONT_TICK, weight))
            labels.append(
                box.text(
                    0.0,
                    i,
                    text,
                    where,
                    ha="right",
                    va="center_baseline",
                    fontsize=FONT_TICK,
                    **style,
                )  # fmt: skip
            )
        return labels

    def _label_texts(self, marked: dict[Any, str]) -> list[str]:
        """Each bar's class name, cut in the middle to fit; names cut to the same text (long
        names that differ only in their middle, or twice the same name) lead with their class
        number: two bars never read as one class."""
        names = self.data.class_names

        def label(c: int, text: str) -> str:
            weight = "bold" if c in marked else "normal"
            return fit(text, LABEL_W - 14, FONT_TICK, weight, middle=True)

        texts = [label(c, names[c]) for c in self.classes]
        seen = Counter(texts)
        return [
            label(c, f"{c}: {names[c]}") if seen[t] > 1 else t
            for c, t in zip(self.classes, texts, strict=True)
        ]

    def _legend(self) -> list[tuple[str, dict[str, Any]]]:
        """Legend items right-aligned above the panel's top-right corner: (label, patch style);
        "true" and "target" only for a run that has such a class."""
        solid = {"edgecolor": "none", "linewidth": 0.0}
        items: list[tuple[str, dict[str, Any]]] = []
        if self.data.true_label is not None:
            items.append(("true", {"facecolor": TRUE_COLOR, **solid}))
        if self.data.target_label is not None:
            items.append(("target", {"facecolor": TARGET_COLOR, **solid}))
        items.append(
            ("argmax", {"facecolor": "white", "edgecolor": ARGMAX_EDGE, "linewidth": _ARGMAX_LINE})
        )
        fs = FONT_TICK  # the legend's sizes are in font sizes, as matplotlib's are
        corner = self.box.points_from(1.0, 1.0)
        middle = fs * (_LEGEND_OUT + 0.6)  # height of the line's centre above the corner
        x = -fs * _LEGEND_OUT
        for label, style in reversed(items):
            x -= text_width(label, FONT_TICK) * 72 / REF_DPI
            self.box.text(x, middle, label, corner, ha="left", va="center", fontsize=fs)
            x -= fs * (0.4 + 1.2)
            patch = Rectangle((x, middle - 0.4 * fs), 1.2 * fs, 0.8 * fs, zorder=2, **style)
            self.box.add_artist(patch, corner)
            x -= fs * 0.9
        return items

    def _title(
        self, fig_w: float, items: list[tuple[str, dict[str, Any]]], top_k: int, classes: int
    ) -> None:
        """Title over the class-name column (how many of the ``classes`` are shown), the legend
        on the right of the same line. It starts where the widest class name starts (not over
        the empty part of a column of short names), further left only as far as it needs."""
        w = self.box.width_fraction * fig_w
        legend_w = sum(text_width(label, FONT_TICK) + 30 for label, _ in items)
        beside = w - legend_w  # room right of the axis line, left of the legend
        title = bars_title(len(self.classes), top_k, classes)
        if text_width(title, FONT_TITLE) + 8.0 > LABEL_W + beside:  # the count matters most
            title = bars_title(len(self.classes), top_k, classes, short=True)
        column = (_SPINE_OUT + _PAD) / 0.72 + self.labels_width
        needed = text_width(title, FONT_TITLE) + 8.0 - beside
        left = min(max(column, needed), LABEL_W)  # layout units left of the axis line
        title = fit(title, left + beside, FONT_TITLE)
        where = self.box.points_from(0.0, 1.0)
        self.title = self.box.text(
            -left * 0.72, 5.0, title, where, ha="left", va="baseline", fontsize=FONT_TITLE
        )

    # -- screen areas: bars left of x = 1.0, the values right of it ------------------------------
    def _split_x(self) -> float:
        """Where the bars' area ends and the values' begins: 3 px right of a full bar, or
        halfway to the values where they start closer (at a low dpi the 3 px reached into the
        values, and each bar redraw wiped their left edge: "0.00" read "3.00")."""
        bar_end = float(self.box.transData.transform((1.0, 0))[0])
        values_at = float(self.box.transData.transform((VALUE_X, 0))[0])
        return bar_end + min(3.0, (values_at - bar_end) / 2)

    def _bars_extents(self) -> Extents:
        x0, y0, _, y1 = self.box.bbox.extents
        return (x0 - 3.0, y0, self._split_x(), y1)

    def _cell_extents(self, i: int) -> Callable[[], Extents]:
        def extents() -> Extents:
            _, top = self.box.transData.transform((0, i - 0.5))
            _, bottom = self.box.transData.transform((0, i + 0.5))
            return (self._split_x(), round(bottom), self.box.bbox.x1 + 6.0, round(top))

        return extents

    def _column_extents(self) -> Extents:
        x0, y0, x1, y1 = self.box.bbox.extents
        return (self._split_x(), y0 - 8.0, x1 + 6.0, y1 + 2.0)

    def _cells_hold_values(self) -> bool:
        """Whether a bar's row holds the ink of any value drawn in it (a pixel to spare above
        and below), measured at the figure's dpi: then each value cell is a region."""
        row_px = self.box.bbox.height / len(self.values) if self.box.bbox.height else 0.0
        dpi = float(self.box.figure.dpi)
        reach = 0.0  # how far ink goes from the line's centre, up or down
        for weight in ("normal", "bold"):
            top, bottom = ink_extent(_VALUE_CHARS, FONT_VALUE, weight, dpi)
            reach = max(reach, top, -bottom)
        return reach + 1.5 <= row_px / 2

    def _value_regions(self) -> list[RedrawRegion]:
        if self._cells_hold_values():
            return [RedrawRegion([t], self._cell_extents(i)) for i, t in enumerate(self.values)]
        return [RedrawRegion(self.values, self._column_extents)]

    def _label_extents(self, i: int) -> Callable[[], Extents]:
        """The class-name column at row ``i``, left of the axis line: the row, or as far as a
        name's ink reaches from its centre where that is more (a short row), and no further
        (below the last row are the tick labels, then the next run's header)."""

        def extents() -> Extents:
            dpi = float(self.box.figure.dpi)
            right = self.box.bbox.x0 - _SPINE_OUT * dpi / 72.0 - 1.0
            left = right - (LABEL_W + 4.0) * dpi / REF_DPI
            _, top = self.box.transData.transform((0, i - 0.5))
            _, bottom = self.box.transData.transform((0, i + 0.5))
            _, centre = self.box.transData.transform((0, i))
            up, down = ink_extent(_LABEL_CHARS, FONT_TICK, "normal", dpi)
            reach = max(up, -down) + 1.0
            low, high = min(bottom, centre - reach), max(top, centre + reach)
            return (left, round(low), right, round(high))

        return extents

    @property
    def regions(self) -> list[RedrawRegion]:
        """The redraw regions of the bars, of the value cells and, when the last row shows
        each frame's argmax left out of the bars, of its class name."""
        label = [] if self.label_region is None else [self.label_region]
        return [self.bars_region, *self.value_regions, *label]

    def shown_classes(self, pred: int) -> list[int]:
        """The class of each bar at a frame predicting ``pred``: the fixed ones, the last
        row taking ``pred`` when the bars leave it out."""
        if self.floating is None or pred in self.classes:
            return self.classes
        return [*self.classes[: self.floating], int(pred)]

    # -- per step ---------------------------------------------------------------------------------
    def show(self, row: np.ndarray, pred: int) -> None:
        """Show one step's confidences ``row`` (all K classes) with argmax ``pred``."""
        classes = self.shown_classes(pred)
        self._show_floating(classes[-1])
        values = tuple(float(row[c]) for c in classes)
        if (values, pred) != self._shown:
            recolour = self._shown is None or self._shown[1] != pred  # colours follow the argmax
            self._shown = (values, pred)
            widths = [min(max(p, 0.0), 1.0) if math.isfinite(p) else 0.0 for p in values]
            self.bars.set_widths(widths)
            if recolour:
                self._recolour(pred)
            self.bars_region.mark()
        self._show_values(values, pred)

    def _show_floating(self, shown: int) -> None:
        """The last row's class name, when it shows each frame's left-out argmax."""
        if self.floating is None or self.label_region is None:
            return
        if shown == self.classes[self.floating]:
            text = self._base_text
        else:  # (numbered: a class of no fixed bar)
            text = fit(f"{shown}: {self.data.class_names[shown]}", LABEL_W - 14, FONT_TICK,
                       "normal", middle=True)  # fmt: skip
        if text != self._floating_text:
            self._floating_text = text
            self.class_labels[self.floating].set_text(text)
            self.label_region.mark(text)

    def _recolour(self, pred: int) -> None:
        is_max = [c == pred for c in self.shown_classes(pred)]
        self.bars.set_colors(
            [
                ARGMAX_OTHER_COLOR if m and base == OTHER_COLOR else base
                for m, base in zip(is_max, self._base_colors, strict=True)
            ],
            [ARGMAX_EDGE if m else "none" for m in is_max],
            [_ARGMAX_LINE if m else 0.0 for m in is_max],
        )

    def _show_values(self, values: tuple[float, ...], pred: int) -> None:
        per_cell = len(self.value_regions) == len(self.values)
        shown = self.shown_classes(pred)
        for i, (text, c, p) in enumerate(zip(self.values, shown, values, strict=True)):
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
