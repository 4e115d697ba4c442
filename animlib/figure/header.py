"""The header of a row: the run's name and labels (drawn once) and its status line (per step)."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.text import Text

from ..text import one_line
from .artists import Readout
from .boxes import Host, PanelBox
from .layout import Layout
from .regions import RedrawRegion, box_columns
from .rundata import RunData
from .style import (
    FLIPPED_TEXT,
    FONT_HEADER,
    HEADER_H,
    MARGIN,
    MUTED_TEXT,
    OK_TEXT,
    REF_DPI,
    TEXT_COLOR,
)
from .textmetrics import advance, fit, fit_readout, readout_width, text_width

__all__ = ["RowHeader", "StatusLine"]

_BOLD = "bold"
_NAME_ESTIMATE = 24  # the status field is sized for class names up to this many characters
RUNNING_WORDS = "(running)"  # instead of "of <last step>" while a run is being written
RUNNING_WIDEST = "99999"  # a running run's step field fits five digits (more once it has more)


def _words(size: float = FONT_HEADER) -> dict[str, Any]:
    return {"va": "center", "fontsize": size}


class StatusLine:
    """The right-hand status ``step 57 of 119   pred: cat (53.2%)`` of a row header.

    Fixed words are drawn once with the background; only the step number (in a field as wide as
    the largest one) and the prediction are redrawn, as :class:`Readout` pieces, each in a
    :class:`RedrawRegion` of its own. So a frame draws a few cached characters instead of laying
    out a whole new line, and the line never jitters. Widths are measured at the figure's dpi; a
    class name too long for its field is cut with an ellipsis, never silently. A running run
    reads ``step 57 (running)``: its frames do not depend on how many steps it has so far; a
    failed one ``step 57 of 119 (failed)``.
    """

    def __init__(self, ax: PanelBox, width: float, data: RunData, dpi: float) -> None:
        self.box = ax
        self.data = data
        self._width = width
        self._dpi = dpi
        tw = self._text_width
        space = tw("a a") - tw("aa")
        last = f"{data.n_steps - 1}"
        #: the widest step number the field is sized for; a running run's frames must not depend
        #: on its length so far (a live render appends frames to those made earlier)
        self.widest = last if not data.running else max(last, RUNNING_WIDEST, key=len)
        of_last = f"of {last}" + (" (failed)" if data.failed else "")  # not the attack's end
        words = ("step", RUNNING_WORDS if data.running else of_last, "pred:")
        w_step, w_of, w_pred = (tw(t) for t in words)
        digits = sum(advance(c, FONT_HEADER, _BOLD, dpi) for c in self.widest)
        w_num = digits * REF_DPI / dpi * 1.05 + 2
        total = w_step + w_num + w_of + 2 * space
        self.prediction_width = 0.0  # layout units of the prediction field
        if data.confidences is not None:
            fixed = total + 3 * space + w_pred + space
            self.prediction_width = self._prediction_field(width * 0.6 - 12 - fixed)
            total = fixed + self.prediction_width
        self.width = min(total + 12, width * 0.6)  # what the status line takes from the header

        x = width - total
        kw = {**_words(), "fontweight": _BOLD, "color": TEXT_COLOR, "ha": "left"}
        readout = {"size": FONT_HEADER, "weight": _BOLD, "color": TEXT_COLOR}
        self.texts: list[Text] = [ax.text(x / width, 0.5, words[0], **kw)]  # the fixed words
        x += w_step + space
        num_left, x = x, x + w_num
        # right-aligned in its field: "step   8 of 119", digits keep their places as it counts
        self.step_text = Readout(ax, (x - 1) / width, 0.5, ha="right", **readout)
        self.texts.append(ax.text((x + space) / width, 0.5, words[1], **kw))
        self.step_region = RedrawRegion(
            [self.step_text], box_columns(ax, width, num_left - space / 2, x + space / 2)
        )
        self.prediction_text: Readout | None = None
        self.prediction_region: RedrawRegion | None = None
        self._prediction_left = width
        if data.confidences is not None:
            x += space + w_of + 3 * space
            self.texts.append(ax.text(x / width, 0.5, words[2], **kw))
            x += w_pred + space
            self._prediction_left = x
            self.prediction_text = Readout(ax, x / width, 0.5, **readout)
            right = width + MARGIN / 2
            self.prediction_region = RedrawRegion(
                [self.prediction_text], box_columns(ax, width, x - space / 2, right)
            )

    def _text_width(self, text: str) -> float:
        """Layout units of ``text`` drawn as ``Text`` at the figure's dpi."""
        return text_width(text, FONT_HEADER, _BOLD, self._dpi)

    def _readout_width(self, text: str) -> float:
        """Layout units of ``text`` drawn as a :class:`Readout` at the figure's dpi."""
        return readout_width(text, FONT_HEADER, _BOLD, self._dpi) * REF_DPI / self._dpi

    def _prediction_field(self, room: float) -> float:
        """Width of the prediction field: the widest name (judged among the longest ones, up
        to 24 characters) and the percentage, within ``room``."""
        names = self.data.class_names
        longest = sorted({n[:_NAME_ESTIMATE] for n in names}, key=len)[-16:]
        w_name = max((self._readout_width(n) for n in longest), default=0.0)
        w_pct = self._readout_width(" (100.0%)")
        return max(min(w_name + w_pct + 1, room), w_pct + 8)

    @property
    def regions(self) -> list[RedrawRegion]:
        """The redraw regions of the step number and the prediction."""
        if self.prediction_region is None:
            return [self.step_region]
        return [self.step_region, self.prediction_region]

    def show_step(self, step: int) -> None:
        number = f"{step}"
        if number != self.step_text.get_text():
            self.step_text.set_text(number)
            self.step_region.mark()

    def prediction_status(self, pred: int, p: float) -> str:
        """``cat (53.2%)``: the class name, or when the whole does not fit the field its number
        and name cut in the middle with an ellipsis (``7: Staff…e here (60.0%)``), measured as
        the readout draws it at the figure's current dpi."""
        pct = "nan" if not math.isfinite(p) else f"{100 * p:.1f}%"
        dpi = float(self.box.figure.dpi)
        scale = self.box.bbox.width / self._width if self.box.bbox.width else dpi / REF_DPI
        room_px = (self._width - self._prediction_left) * scale
        name, suffix = self.data.class_names[pred], f" ({pct})"
        shown = fit_readout(name, suffix, room_px, FONT_HEADER, _BOLD, dpi)
        if shown == name + suffix:
            return shown
        # cut, it could read as another class whose name differs in the middle: numbered, as
        # the bars below number the names their cuts make alike
        return fit_readout(f"{pred}: {name}", suffix, room_px, FONT_HEADER, _BOLD, dpi)

    def show_prediction(self, pred: int, p: float) -> None:
        if self.prediction_text is None or self.prediction_region is None:
            return
        true = self.data.true_label
        color = TEXT_COLOR if true is None else OK_TEXT if pred == true else FLIPPED_TEXT
        state = (self.prediction_status(pred, p), color)
        if state != (self.prediction_text.get_text(), self.prediction_text.get_color()):
            self.prediction_text.set_text(state[0])
            self.prediction_text.set_color(state[1])
            self.prediction_region.mark(state)


class RowHeader:
    """The header line of a row: run name (bold), attack, model and labels; then the status.

    ``texts`` are its fixed texts (name, labels, the status line's words), drawn once."""

    def __init__(self, host: Host, layout: Layout, row_top: float, data: RunData) -> None:
        width = layout.width - 2 * MARGIN
        ax = PanelBox(host, layout.rect(MARGIN, row_top + HEADER_H, width, HEADER_H))
        self.box = ax
        self.status = StatusLine(ax, width, data, float(ax.figure.dpi))
        right_w = self.status.width
        run = data.run
        names = data.class_names
        parts = [one_line(p) for p in (run.attack, run.model) if p]
        labels = [
            (role, one_line(names[label]))
            for role, label in (("true", data.true_label), ("target", data.target_label))
            if label is not None
        ]
        name = fit(data.label, (width - right_w) * 0.6, FONT_HEADER, _BOLD)
        name_w = max(  # as drawn: at a low dpi, hinting widens a bold name (it hid "PGD")
            text_width(name, FONT_HEADER, _BOLD),
            text_width(name, FONT_HEADER, _BOLD, ax.figure.dpi),
        )
        rest = fit_labels(parts, labels, max(width - right_w - name_w - 14, 0))
        self.texts: list[Text] = [
            ax.text(0, 0.5, name, ha="left", fontweight=_BOLD, **_words()),
            ax.text((name_w + 10) / width, 0.5, rest, ha="left", color=MUTED_TEXT, **_words()),
            *self.status.texts,
        ]


SEPARATOR = "  ·  "
MIN_NAME = "ab…yz"  # the narrowest class name worth keeping in a header


def fit_labels(parts: list[str], labels: list[tuple[str, str]], room: float) -> str:
    """``attack · model · true: NAME · target: NAME`` within ``room`` layout units: the class
    names cut in their middle, each to its share, so that both labels stay (cutting the whole
    line at its end dropped ``target:`` first: a targeted run read as untargeted)."""

    def line(named: list[tuple[str, str]]) -> str:
        return SEPARATOR.join([*parts, *(f"{role}: {n}" for role, n in named)])

    whole = line(labels)
    if not labels or text_width(whole, FONT_HEADER) <= room:
        return fit(whole, room, FONT_HEADER)
    free = room - text_width(line([(role, "") for role, _ in labels]), FONT_HEADER)
    share = free / len(labels)
    if share < text_width(MIN_NAME, FONT_HEADER):
        return fit(whole, room, FONT_HEADER)  # too narrow for the names: the line's start
    shortest = min(text_width(n, FONT_HEADER) for _, n in labels)
    if shortest < share:  # a short name keeps its width; the other takes the rest
        share = free - shortest
    return line([(role, fit(n, share, FONT_HEADER, middle=True)) for role, n in labels])
