"""Matplotlib figures for runs: artists are built once, then updated in place for each step."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch

__all__ = [
    "CompareFigure",
    "FigureOptions",
    "PanelFigure",
    "RunFigure",
    "RunPanels",
    "auto_amplification",
    "make_figure",
]

# Colours of the confidence bars.
TRUE_COLOR = "#2e8540"
TARGET_COLOR = "#d9480f"
OTHER_COLOR = "#a9b4c2"
ARGMAX_OTHER_COLOR = "#3b6fb6"
ARGMAX_EDGE = "#111111"
OK_TEXT = "#1d6b2f"
FLIPPED_TEXT = "#c0262d"

# Layout, in pixels at 100 dpi ("layout units"); the output scales with the dpi.
_REF_DPI = 100.0
_MARGIN = 10  # left / right
_TOP = 4
_HEADER_H = 28  # row header: run name (static) and step / prediction (dynamic)
_TITLE_H = 22  # panel titles
_BOTTOM_H = 30  # below the panels: x tick labels of the confidence bars
_ROW_GAP = 10
_GAP = 16  # between panels
_LABEL_W = 132  # class-name tick labels of the bar panel
_BAR_MIN_W = 230
_BAR_MAX_W = 560
_MAX_IMG = 360
_MIN_IMG = 96

_FONT_HEADER = 11.0
_FONT_TITLE = 10.0
_FONT_TICK = 8.5
_FONT_VALUE = 8.0

_IMAGE_SLOTS = ("original", "adversarial", "perturbation")
_MAX_COMPARE = 6


@dataclass(frozen=True)
class FigureOptions:
    """Look of a run figure.

    ``width_px`` is the figure width at 100 dpi; the pixel size scales with ``dpi`` (so a higher dpi
    gives a sharper, larger video with the same layout). Pixel sizes are always even.
    ``amplification`` multiplies the perturbation (in [0, 1] image units) before colour mapping;
    ``None`` picks it from the final step so that its largest change fills the colour range.
    """

    dpi: float = 100.0
    top_k: int = 10
    amplification: float | None = None
    stride: int = 1
    width_px: int = 1280
    max_height_px: int = 1440

    def __post_init__(self) -> None:
        if not (isinstance(self.dpi, (int, float)) and math.isfinite(self.dpi) and self.dpi > 0):
            raise ValueError(f"dpi must be a positive number, got {self.dpi!r}")
        if not isinstance(self.top_k, (int, np.integer)) or self.top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1, got {self.top_k!r}")
        if not isinstance(self.stride, (int, np.integer)) or self.stride < 1:
            raise ValueError(f"stride must be an integer >= 1, got {self.stride!r}")
        if self.amplification is not None and not (
            isinstance(self.amplification, (int, float))
            and math.isfinite(self.amplification)
            and self.amplification > 0
        ):
            raise ValueError(
                f"amplification must be a positive number or None, got {self.amplification!r}"
            )
        if not isinstance(self.width_px, (int, np.integer)) or not 480 <= self.width_px <= 4096:
            raise ValueError(f"width_px must be an integer in [480, 4096], got {self.width_px!r}")


# --------------------------------------------------------------------------------------- helpers


def _run_label(run: Any) -> str:
    return str(getattr(run, "name", None) or getattr(run, "id", None) or "run")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _clean(value: object) -> str:
    """Single-line text for matplotlib (callers pass ``parse_math=False``, so ``$`` is literal)."""
    return _CONTROL.sub(" ", str(value)).strip()


@functools.lru_cache(maxsize=8)
def _measure_renderer(dpi: float) -> RendererAgg:
    return RendererAgg(8, 8, dpi)


def _text_width(text: str, size: float, weight: str = "normal") -> float:
    """Width of ``text`` in layout units (pixels at 100 dpi)."""
    if not text:
        return 0.0
    prop = FontProperties(size=size, weight=weight)
    w, _, _ = _measure_renderer(_REF_DPI).get_text_width_height_descent(text, prop, ismath=False)
    return float(w)


def _fit(text: str, max_width: float, size: float, weight: str = "normal") -> str:
    """Truncate ``text`` with an ellipsis until it is at most ``max_width`` layout units wide."""
    text = _clean(text)
    if _text_width(text, size, weight) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits together with the ellipsis
        mid = (lo + hi + 1) // 2
        if _text_width(text[:mid].rstrip() + "…", size, weight) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…" if lo else "…"


def _even(x: float) -> int:
    n = int(round(x))
    return n + (n % 2)


def _as_float01(img: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 in [0, 1]."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1.0 / 255.0)
    a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(a, 0.0, 1.0)


def _as_display(img: np.ndarray) -> np.ndarray:
    """uint8 array for imshow: (H, W) for gray, (H, W, 3|4) otherwise."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.dtype != np.uint8:
        a = (_as_float01(a) * 255.0 + 0.5).astype(np.uint8)
    if a.shape[2] == 1:
        return a[:, :, 0]
    return a


def _delta(img: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Channel-mean perturbation ``image - original`` (alpha ignored), (H, W) float32."""
    a = _as_float01(img)
    b = _as_float01(original)
    c = min(a.shape[-1], 3)
    return (a[..., :c] - b[..., :c]).mean(axis=-1)


def _nice_floor(x: float) -> float:
    """``x`` rounded down to two significant digits (so the auto range never clips the final step)."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    e = math.floor(math.log10(x)) - 1
    return max(math.floor(x / 10**e) * 10**e, 1e-12)


def _fmt_amp(amp: float) -> str:
    return f"{amp:.3g}"


def auto_amplification(run: Any) -> float:
    """Amplification that maps the final step's largest |perturbation| to the edge of the colours."""
    original = run.original
    if original is None or len(run) == 0:
        return 1.0
    m = float(np.max(np.abs(_delta(run.images[len(run) - 1], original))))
    if not math.isfinite(m) or m <= 0:
        return 1.0
    return _nice_floor(1.0 / m)


@functools.lru_cache(maxsize=4)
def _lut(name: str) -> np.ndarray:
    return (colormaps[name](np.linspace(0.0, 1.0, 256)) * 255.0 + 0.5).astype(np.uint8)


def _perturbation_rgba(delta: np.ndarray, amplification: float) -> np.ndarray:
    """Diverging colours for ``delta * amplification`` in [-1, 1]; 0 is the white centre."""
    idx = np.clip(np.rint((delta * amplification + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return _lut("RdBu_r")[idx]


def _confidences(run: Any) -> np.ndarray | None:
    conf = run.confidences
    if conf is None:
        return None
    conf = np.asarray(conf, dtype=np.float32)
    if conf.ndim != 2 or conf.shape[0] == 0 or conf.shape[1] == 0:
        return None
    return conf


def _label(run: Any, attr: str, k: int) -> int | None:
    v = getattr(run, attr, None)
    if v is None or isinstance(v, bool):
        return None
    try:
        v = int(v)
    except (TypeError, ValueError):
        return None
    return v if 0 <= v < k else None


def _class_names(run: Any, k: int) -> list[str]:
    names = getattr(run, "class_names", None)
    names = list(names) if names is not None else []
    return [_clean(names[i]) if i < len(names) else str(i) for i in range(k)]


def choose_classes(
    conf: np.ndarray, top_k: int, true_label: int | None, target_label: int | None
) -> list[int]:
    """Fixed class set for a run: true, target, then the top-k classes by peak confidence."""
    peak = np.nan_to_num(conf, nan=0.0).max(axis=0)
    order = np.argsort(-peak, kind="stable")[: min(top_k, conf.shape[1])]
    chosen: list[int] = []
    for c in (true_label, target_label, *order.tolist()):
        if c is not None and c not in chosen:
            chosen.append(int(c))
    return chosen


# ---------------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _RunSpec:
    has_original: bool
    has_conf: bool
    aspect: float  # H / W of the images

    @property
    def slots(self) -> tuple[str, ...]:
        s = ("original", "adversarial", "perturbation") if self.has_original else ("adversarial",)
        return s + (("bars",) if self.has_conf else ())


def _spec(run: Any) -> _RunSpec:
    shape = tuple(run.image_shape)
    original = run.original
    has_original = original is not None and tuple(np.shape(original)) == shape
    aspect = shape[0] / shape[1] if len(shape) >= 2 and shape[1] else 1.0
    return _RunSpec(has_original, _confidences(run) is not None, float(aspect))


@dataclass(frozen=True)
class _Layout:
    width: float  # layout units
    height: float
    slots: tuple[str, ...]  # columns shared by every row
    boxes: dict[str, tuple[float, float]]  # slot -> (x, width), layout units
    img_h: float
    row_h: float


def _layout(specs: Sequence[_RunSpec], options: FigureOptions, compare: bool) -> _Layout:
    width = float(options.width_px)
    present = {s for spec in specs for s in spec.slots}
    slots = tuple(s for s in (*_IMAGE_SLOTS, "bars") if s in present)
    n_img = sum(s in _IMAGE_SLOTS for s in slots)
    has_bars = "bars" in slots
    aspect = min(max(max(spec.aspect for spec in specs), 0.5), 1.5)
    n_rows = len(specs)

    fixed = 2 * _MARGIN + _GAP * (n_img - 1) + (_GAP + _LABEL_W + _BAR_MIN_W if has_bars else 0)
    img_w = min((width - fixed) / n_img, _MAX_IMG / max(aspect, 1.0))
    overhead = _HEADER_H + _TITLE_H + _BOTTOM_H
    if compare:  # keep tall comparisons on screen
        budget = options.max_height_px - _TOP - (n_rows - 1) * _ROW_GAP
        img_w = min(img_w, (budget / n_rows - overhead) / aspect)
    img_w = max(img_w, _MIN_IMG)
    img_h = img_w * aspect

    boxes: dict[str, tuple[float, float]] = {}
    x = _MARGIN
    for s in slots:
        if s == "bars":
            bar_w = min(width - _MARGIN - (x + _LABEL_W), _BAR_MAX_W)
            boxes[s] = (x + _LABEL_W, bar_w)
            x += _LABEL_W + bar_w
        else:
            boxes[s] = (x, img_w)
            x += img_w + _GAP
    if not has_bars:
        x -= _GAP
    shift = max((width - _MARGIN - x) / 2, 0.0)  # centre what is narrower than the figure
    boxes = {k: (v[0] + shift, v[1]) for k, v in boxes.items()}
    row_h = overhead + img_h
    height = _TOP + n_rows * row_h + (n_rows - 1) * _ROW_GAP
    return _Layout(width, height, slots, boxes, img_h, row_h)


# ---------------------------------------------------------------------------------------- panels


class RunPanels:
    """One row of panels for one run: original / adversarial / perturbation / confidence bars.

    Artists are created once; :meth:`update` only changes image data, bar widths, texts and colours.
    """

    def __init__(
        self,
        fig: Figure,
        run: Any,
        options: FigureOptions,
        *,
        row_top: float | None = None,
        layout: _Layout | None = None,
        placeholders: bool = False,
    ) -> None:
        self.run = run
        self.options = options
        self.n_steps = len(run)
        if self.n_steps == 0:
            raise ValueError(f"run {_run_label(run)!r} has no steps to show")
        spec = _spec(run)
        self.spec = spec
        if layout is None:
            layout = _layout([spec], options, compare=False)
        if row_top is None:
            row_top = _TOP
        self.layout = layout
        self._fig_w, self._fig_h = layout.width, layout.height

        self._original = run.original if spec.has_original else None
        self._conf = _confidences(run) if spec.has_conf else None
        self.amplification: float | None = None
        if self._original is not None:
            self.amplification = (
                float(options.amplification)
                if options.amplification is not None
                else auto_amplification(run)
            )

        self.axes: dict[str, Axes] = {}
        self._changed: list[Artist] = []  # what update() touches
        self._draw_order: list[Artist] = []  # what a blitting renderer must draw, in z-order
        self._step: int | None = None

        self._build_header(fig, row_top)
        panels_top = row_top + _HEADER_H + _TITLE_H
        for slot in layout.slots:
            x, w = layout.boxes[slot]
            rect = self._rect(x, panels_top + layout.img_h, w, layout.img_h)
            if slot not in spec.slots:
                if placeholders:
                    self._placeholder(fig, slot, rect)
                continue
            if slot == "bars":
                self._build_bars(fig, rect)
            else:
                self._build_image(fig, slot, rect)

    # -- geometry ---------------------------------------------------------------------------------
    def _rect(self, x: float, bottom_from_top: float, w: float, h: float) -> list[float]:
        """Layout units measured from the top-left -> figure fraction [left, bottom, width, height]."""
        return [
            x / self._fig_w,
            1.0 - bottom_from_top / self._fig_h,
            w / self._fig_w,
            h / self._fig_h,
        ]

    # -- builders ---------------------------------------------------------------------------------
    def _build_header(self, fig: Figure, row_top: float) -> None:
        run = self.run
        width = self.layout.width - 2 * _MARGIN
        ax = fig.add_axes(self._rect(_MARGIN, row_top + _HEADER_H, width, _HEADER_H))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        self.axes["header"] = ax

        k = self._conf.shape[1] if self._conf is not None else 0
        self._names = _class_names(run, k)
        self._true = _label(run, "true_label", k)
        self._target = _label(run, "target_label", k)

        # Room for the dynamic right-hand text, measured on its widest possible content.
        longest = max(self._names, key=lambda s: _text_width(s[:24], _FONT_HEADER), default="")
        widest = self._status_text(self.n_steps - 1, 0, longest, 1.0)
        right_w = min(_text_width(widest, _FONT_HEADER, "bold") + 8, width * 0.6)
        parts = [p for p in (run.attack, run.model) if p]
        if self._true is not None:
            parts.append(f"true: {self._names[self._true]}")
        if self._target is not None:
            parts.append(f"target: {self._names[self._target]}")
        name = _fit(_run_label(run), (width - right_w) * 0.6, _FONT_HEADER, "bold")
        rest_w = width - right_w - _text_width(name + "   ", _FONT_HEADER, "bold") - 12
        rest = _fit("  ·  ".join(_clean(p) for p in parts), max(rest_w, 0), _FONT_HEADER)
        kw: dict[str, Any] = {"va": "center", "fontsize": _FONT_HEADER, "parse_math": False}
        name_t = ax.text(0, 0.5, name, ha="left", fontweight="bold", **kw)
        self._rest_text = ax.annotate(
            rest,
            xy=(1, 0.5),
            xycoords=name_t,
            xytext=(8, 0),
            textcoords="offset points",
            ha="left",
            color="#444444",
            **kw,
        )
        self._step_text = ax.text(1, 0.5, "", ha="right", fontweight="bold", **kw)
        self._changed.append(self._step_text)
        self._draw_order.append(self._step_text)

    def _status_text(self, step: int, pred: int | None, pred_name: str, p: float) -> str:
        s = f"step {step + 1}/{self.n_steps}"
        if pred is not None:
            p_text = "nan" if not math.isfinite(p) else f"{100 * p:.1f}%"
            s += f"   pred: {_clean(pred_name)[:24]} ({p_text})"
        return s

    def _title(self, ax: Axes, text: str) -> None:
        w = ax.get_position().width * self._fig_w
        ax.set_title(_fit(text, w, _FONT_TITLE), fontsize=_FONT_TITLE, pad=5, parse_math=False)

    def _build_image(self, fig: Figure, slot: str, rect: list[float]) -> None:
        ax = fig.add_axes(rect)
        ax.set_axis_off()
        self.axes[slot] = ax
        first = self.run.images[0]
        gray = np.ndim(first) == 2 or np.shape(first)[-1] == 1
        kw: dict[str, Any] = {"interpolation": "nearest", "aspect": "equal"}
        if slot == "perturbation":
            amp = self.amplification or 1.0
            data = _perturbation_rgba(np.zeros(np.shape(first)[:2], np.float32), amp)
            self._title(ax, f"perturbation ×{_fmt_amp(amp)}   (±{1 / amp:.3g} = full colour)")
        else:
            src = self._original if slot == "original" else first
            data = _as_display(src)
            if gray:
                kw.update(cmap="gray", vmin=0, vmax=255)
            self._title(ax, "original" if slot == "original" else "adversarial")
        im = ax.imshow(data, **kw)
        if slot != "original":
            self._changed.append(im)
            self._draw_order.append(im)
            setattr(self, f"_{slot}_im", im)

    def _build_bars(self, fig: Figure, rect: list[float]) -> None:
        conf = self._conf
        assert conf is not None
        ax = fig.add_axes(rect)
        self.axes["bars"] = ax
        self.classes = choose_classes(conf, self.options.top_k, self._true, self._target)
        n = len(self.classes)
        y = np.arange(n)
        self._base_colors = [
            TRUE_COLOR if c == self._true else TARGET_COLOR if c == self._target else OTHER_COLOR
            for c in self.classes
        ]
        bars = ax.barh(y, np.zeros(n), height=0.72, color=self._base_colors, linewidth=0)
        self._bars = list(bars.patches)
        ax.set_xlim(0, 1.2)
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", ".25", ".5", ".75", "1"])
        ax.tick_params(axis="x", labelsize=_FONT_TICK, length=3, pad=2)
        ax.tick_params(axis="y", length=0, pad=4)
        labels = [_fit(self._names[c], _LABEL_W - 10, _FONT_TICK) for c in self.classes]
        ax.set_yticks(y, labels, fontsize=_FONT_TICK, parse_math=False)
        for tick, c in zip(ax.get_yticklabels(), self.classes, strict=True):
            if c == self._true:
                tick.set_color(TRUE_COLOR)
                tick.set_fontweight("bold")
            elif c == self._target:
                tick.set_color(TARGET_COLOR)
                tick.set_fontweight("bold")
        ax.set_axisbelow(True)
        ax.grid(axis="x", color="#e4e7eb", linewidth=0.8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        self._values = [
            ax.text(0, i, "", va="center", ha="left", fontsize=_FONT_VALUE, clip_on=False)
            for i in range(n)
        ]
        handles = [Patch(color=TRUE_COLOR, label="true")]
        if self._target is not None:
            handles.append(Patch(color=TARGET_COLOR, label="target"))
        handles.append(
            Patch(facecolor="white", edgecolor=ARGMAX_EDGE, linewidth=1.4, label="argmax")
        )
        ax.legend(
            handles=handles,
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            ncols=len(handles),
            fontsize=_FONT_TICK,
            frameon=False,
            borderaxespad=0.2,
            handlelength=1.2,
            handleheight=0.8,
            columnspacing=0.9,
            handletextpad=0.4,
        )
        w = ax.get_position().width * self._fig_w
        title = _fit(f"confidence (top {self.options.top_k})", max(w - 200, 40), _FONT_TITLE)
        ax.set_title(title, loc="left", fontsize=_FONT_TITLE, pad=5, parse_math=False)
        self._changed += [*self._bars, *self._values]
        spines = [s for s in ax.spines.values() if s.get_visible()]
        # z-order of a full draw: bars (1) < spines (2.5) < texts (3)
        self._draw_order += [*self._bars, *spines, *self._values]

    def _placeholder(self, fig: Figure, slot: str, rect: list[float]) -> None:
        ax = fig.add_axes(rect)
        ax.set_axis_off()
        text = "no confidences" if slot == "bars" else "no original"
        ax.text(
            0.5,
            0.5,
            text,
            ha="center",
            va="center",
            color="#8a8f98",
            fontsize=_FONT_TITLE,
            style="italic",
            transform=ax.transAxes,
        )

    # -- per step ---------------------------------------------------------------------------------
    @property
    def changed_artists(self) -> list[Artist]:
        """Artists that :meth:`update` may change (for ``FuncAnimation(blit=True)``)."""
        return list(self._changed)

    @property
    def draw_artists(self) -> list[Artist]:
        """Artists a blitting renderer redraws over the static background, in z-order."""
        return list(self._draw_order)

    def update(self, step: int) -> list[Artist]:
        """Show ``step`` (clamped to the run; shorter runs hold their last frame)."""
        step = min(max(int(step), 0), self.n_steps - 1)
        if step == self._step:
            return self.changed_artists
        self._step = step
        image = self.run.images[step]
        adv = getattr(self, "_adversarial_im", None)
        if adv is not None:
            adv.set_data(_as_display(image))
        pert = getattr(self, "_perturbation_im", None)
        if pert is not None:
            pert.set_data(_perturbation_rgba(_delta(image, self._original), self.amplification))

        pred = None
        pred_name = ""
        p_pred = float("nan")
        if self._conf is not None:
            row = self._conf[min(step, self._conf.shape[0] - 1)]
            finite = np.nan_to_num(row, nan=-1.0)
            pred = int(np.argmax(finite))
            pred_name = self._names[pred]
            p_pred = float(row[pred])
            for bar, text, c, base in zip(
                self._bars, self._values, self.classes, self._base_colors, strict=True
            ):
                p = float(row[c])
                ok = math.isfinite(p)
                w = min(max(p, 0.0), 1.0) if ok else 0.0
                bar.set_width(w)
                is_max = c == pred
                bar.set_facecolor(ARGMAX_OTHER_COLOR if is_max and base == OTHER_COLOR else base)
                bar.set_edgecolor(ARGMAX_EDGE if is_max else "none")
                bar.set_linewidth(1.4 if is_max else 0.0)
                text.set_text(f"{p:.2f}" if ok else "nan")
                text.set_x(w + 0.015)
                text.set_fontweight("bold" if is_max else "normal")
        self._step_text.set_text(self._status_text(step, pred, pred_name, p_pred))
        if pred is None or self._true is None:
            color = "#222222"
        else:
            color = OK_TEXT if pred == self._true else FLIPPED_TEXT
        self._step_text.set_color(color)
        return self.changed_artists


# ---------------------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float, dpi: float, fig: Figure | None) -> Figure:
    w_px, h_px = _even(width * dpi / _REF_DPI), _even(height * dpi / _REF_DPI)
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
    options: FigureOptions
    n_frames: int

    def frame_step(self, frame: int) -> int:
        """The step index (of the longest run) shown at ``frame``."""
        return int(frame) * self.options.stride

    def update(self, frame: int) -> list[Artist]:
        """Show frame ``frame`` (step ``frame * stride``) on every row."""
        if not 0 <= int(frame) < self.n_frames:
            raise IndexError(f"frame {frame} out of range 0..{self.n_frames - 1}")
        step = self.frame_step(frame)
        out: list[Artist] = []
        for row in self.rows:
            out += row.update(step)
        return out

    @property
    def changed_artists(self) -> list[Artist]:
        return [a for row in self.rows for a in row.changed_artists]

    @property
    def draw_artists(self) -> list[Artist]:
        # figure.draw draws axes in creation order, so rows (created in order) keep z-order
        return [a for row in self.rows for a in row.draw_artists]

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of a rendered frame in pixels."""
        w, h = self.fig.get_size_inches() * self.fig.dpi
        return int(w), int(h)


class RunFigure(PanelFigure):
    """Figure for a single run."""

    def __init__(
        self, run: Any, options: FigureOptions | None = None, fig: Figure | None = None
    ) -> None:
        self.options = options or FigureOptions()
        self.run = run
        if len(run) == 0:
            raise ValueError(f"run {_run_label(run)!r} has no steps to show")
        layout = _layout([_spec(run)], self.options, compare=False)
        self.fig = _new_figure(layout.width, layout.height, self.options.dpi, fig)
        self.rows = [RunPanels(self.fig, run, self.options, row_top=_TOP, layout=layout)]
        self.n_frames = math.ceil(len(run) / self.options.stride)
        self.update(0)


class CompareFigure(PanelFigure):
    """Synchronised rows for 2-6 runs: the same step on every row, shorter runs hold their end."""

    def __init__(
        self, runs: Sequence[Any], options: FigureOptions | None = None, fig: Figure | None = None
    ) -> None:
        runs = list(runs)
        if not 2 <= len(runs) <= _MAX_COMPARE:
            raise ValueError(f"compare needs 2 to {_MAX_COMPARE} runs, got {len(runs)}")
        for run in runs:
            if len(run) == 0:
                raise ValueError(f"run {_run_label(run)!r} has no steps to show")
        self.options = options or FigureOptions()
        self.runs = runs
        layout = _layout([_spec(r) for r in runs], self.options, compare=True)
        self.fig = _new_figure(layout.width, layout.height, self.options.dpi, fig)
        self.rows = []
        for i, run in enumerate(runs):
            top = _TOP + i * (layout.row_h + _ROW_GAP)
            self.rows.append(
                RunPanels(
                    self.fig, run, self.options, row_top=top, layout=layout, placeholders=True
                )
            )
            if i:
                y = 1.0 - (top - _ROW_GAP / 2) / layout.height
                self.fig.add_artist(_hline(y, _MARGIN / layout.width, 1 - _MARGIN / layout.width))
        self.n_frames = math.ceil(max(len(r) for r in runs) / self.options.stride)
        self.update(0)


def _hline(y: float, x0: float, x1: float) -> Artist:
    from matplotlib.lines import Line2D

    return Line2D([x0, x1], [y, y], color="#d0d4da", linewidth=1.0)


def make_figure(
    run_or_runs: Any, options: FigureOptions | None = None, fig: Figure | None = None
) -> PanelFigure:
    """A :class:`RunFigure` for one run, a :class:`CompareFigure` for a list/tuple of runs."""
    if isinstance(run_or_runs, (list, tuple)):
        if len(run_or_runs) == 1:
            return RunFigure(run_or_runs[0], options, fig)
        return CompareFigure(run_or_runs, options, fig)
    return RunFigure(run_or_runs, options, fig)
