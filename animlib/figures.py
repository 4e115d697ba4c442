"""Matplotlib figures for runs: artists are built once, then updated in place for each step."""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps, rcParams
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "CompareFigure",
    "FigureOptions",
    "PanelFigure",
    "PixelImage",
    "RunFigure",
    "RunPanels",
    "auto_amplification",
    "choose_classes",
    "figure_size",
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
        def real(name: str, value: Any, low: float, high: float) -> float:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or not low < value <= high:
                raise ValueError(f"{name} must be a number in ({low:g}, {high:g}], got {value!r}")
            return float(value)

        def integer(name: str, value: Any, low: int, high: int) -> int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if not ok or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
            return int(value)

        set_ = object.__setattr__
        set_(self, "dpi", real("dpi", self.dpi, 0, 1000))
        set_(self, "top_k", integer("top_k", self.top_k, 1, 1000))
        set_(self, "stride", integer("stride", self.stride, 1, 1_000_000))
        set_(self, "width_px", integer("width_px", self.width_px, 480, 4096))
        set_(self, "max_height_px", integer("max_height_px", self.max_height_px, 200, 8192))
        if self.amplification is not None:
            set_(self, "amplification", real("amplification", self.amplification, 0, 1e6))


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


@functools.lru_cache(maxsize=4096)
def _text_width(text: str, size: float, weight: str = "normal") -> float:
    """Width of ``text`` in layout units (pixels at 100 dpi)."""
    if not text:
        return 0.0
    prop = FontProperties(size=size, weight=weight)
    w, _, _ = _measure_renderer(_REF_DPI).get_text_width_height_descent(text, prop, ismath=False)
    return float(w)


@functools.lru_cache(maxsize=4096)
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
    """(H, W, C) float32 in [0, 1] (NaN -> 0, +inf -> 1)."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1.0 / 255.0)
    a = np.clip(a, 0.0, 1.0, dtype=np.float32)
    if not np.isfinite(a).all():
        np.nan_to_num(a, copy=False, nan=0.0)
    return a


def _as_display(img: np.ndarray) -> np.ndarray:
    """uint8 array for display: (H, W) for gray, (H, W, 3|4) otherwise."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.dtype != np.uint8:
        a = _float_to_u8(_as_float01(a))
    if a.shape[2] == 1:
        return a[:, :, 0]
    return a


def _float_to_u8(f: np.ndarray) -> np.ndarray:
    """Clean float32 in [0, 1] -> uint8 (rounded)."""
    x = f * np.float32(255.0)
    x += np.float32(0.5)
    return x.astype(np.uint8)


def _channel_mean(img: np.ndarray, clean: bool = False) -> np.ndarray:
    """Mean of the colour channels (alpha ignored), (H, W) float32 in [0, 1]."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    c = min(a.shape[2], 3)
    if a.dtype == np.uint8:
        total = a[..., 0].astype(np.float32)
        for i in range(1, c):
            total += a[..., i]
        total *= np.float32(1.0 / (255.0 * c))
        return total
    f = a if clean else _as_float01(a)
    total = f[..., 0].copy()
    for i in range(1, c):
        total += f[..., i]
    if c > 1:
        total *= np.float32(1.0 / c)
    return total


def _delta(img: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Channel-mean perturbation ``image - original`` (alpha ignored), (H, W) float32."""
    return _channel_mean(img) - _channel_mean(original)


def _nice_floor(x: float) -> float:
    """``x`` rounded down to two significant digits (so the auto range never clips the end)."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    e = math.floor(math.log10(x)) - 1
    return max(math.floor(x / 10**e) * 10**e, 1e-12)


def _fmt_amp(amp: float) -> str:
    return f"{amp:.3g}"


def auto_amplification(run: Any) -> float:
    """Amplification mapping the final step's largest |perturbation| to the end of the colours."""
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
    x = np.multiply(delta, np.float32(amplification * 127.5), dtype=np.float32)
    x += np.float32(127.5)
    np.rint(x, out=x)
    np.clip(x, 0, 255, out=x)
    return _lut("RdBu_r")[x.astype(np.uint8)]


@functools.lru_cache(maxsize=4)
def _lut32(name: str) -> np.ndarray:
    """:func:`_lut` with each RGBA entry packed in one uint32 (one gather per pixel)."""
    return np.ascontiguousarray(_lut(name)).view(np.uint32).reshape(256)


class _StepImages:
    """One step's image -> the adversarial and perturbation bitmaps, reusing buffers.

    The arithmetic is exactly that of :func:`_to_rgba` and :func:`_perturbation_rgba` (the
    pixels are identical), but no megabyte-sized array is allocated per frame (fresh pages
    cost more than the arithmetic), channels are copied one at a time (interleaved numpy writes
    are slow) and colours are looked up as packed uint32.
    """

    def __init__(self, orig_mean: np.ndarray | None) -> None:
        self.orig_mean = orig_mean
        self._bufs: dict[str, np.ndarray] = {}

    def _buf(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        buf = self._bufs.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._bufs[name] = np.empty(shape, dtype)
            if name == "rgba":
                buf[..., 3] = 255
        return buf

    def prepare(self, image: Any) -> np.ndarray:
        """The image as (H, W, C) uint8, or float32 clipped to [0, 1] with NaN -> 0."""
        a = np.asarray(image)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.dtype == np.uint8:
            return a
        f = self._buf("float", a.shape, np.float32)
        np.clip(a, 0.0, 1.0, out=f, casting="unsafe")
        if math.isnan(float(f.sum(dtype=np.float64))):  # clip keeps NaN only
            np.nan_to_num(f, copy=False, nan=0.0)
        return f

    def rgba(self, a: np.ndarray) -> np.ndarray:
        """Display RGBA (H, W, 4) uint8 of a prepared image (a reused buffer)."""
        h, w, c = a.shape
        if a.dtype != np.uint8:  # _float_to_u8
            x = self._buf("scaled", a.shape, np.float32)
            np.multiply(a, np.float32(255.0), out=x)
            x += np.float32(0.5)
            u8 = self._buf("u8", a.shape, np.uint8)
            np.copyto(u8, x, casting="unsafe")
            a = u8
        out = self._buf("rgba", (h, w, 4), np.uint8)
        if c == 1:
            np.take(_lut32("gray"), a[:, :, 0], out=out.view(np.uint32).reshape(h, w))
            return out
        for i in range(c):
            out[..., i] = a[..., i]
        if c != 4:
            out[..., 3] = 255
        return out

    def perturbation(self, a: np.ndarray, amplification: float) -> np.ndarray:
        """Perturbation colours (H, W, 4) uint8 of a prepared image (a reused buffer)."""
        h, w, c = a.shape
        c = min(c, 3)
        d = self._buf("delta", (h, w), np.float32)
        if a.dtype == np.uint8:  # _channel_mean
            np.copyto(d, a[..., 0])
            for i in range(1, c):
                d += a[..., i]
            d *= np.float32(1.0 / (255.0 * c))
        else:
            np.copyto(d, a[..., 0])
            for i in range(1, c):
                d += a[..., i]
            if c > 1:
                d *= np.float32(1.0 / c)
        if self.orig_mean is not None:
            d -= self.orig_mean
        d *= np.float32(amplification * 127.5)  # _perturbation_rgba
        d += np.float32(127.5)
        np.rint(d, out=d)
        np.clip(d, 0, 255, out=d)
        idx = self._buf("index", (h, w), np.intp)
        np.copyto(idx, d, casting="unsafe")
        out = self._buf("pert", (h, w, 4), np.uint8)
        np.take(_lut32("RdBu_r"), idx, out=out.view(np.uint32).reshape(h, w), mode="clip")
        return out


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
    width: int  # image width in pixels

    @property
    def slots(self) -> tuple[str, ...]:
        s = ("original", "adversarial", "perturbation") if self.has_original else ("adversarial",)
        return s + (("bars",) if self.has_conf else ())


def _spec(run: Any) -> _RunSpec:
    shape = tuple(run.image_shape)
    original = run.original
    has_original = original is not None and tuple(np.shape(original)) == shape
    aspect = shape[0] / shape[1] if len(shape) >= 2 and shape[1] else 1.0
    width = int(shape[1]) if len(shape) >= 2 else 0
    return _RunSpec(has_original, _confidences(run) is not None, float(aspect), width)


def _snap(img_w: float, widths: set[int], dpi: float) -> float:
    """Shrink the panel (by at most 25%) so image pixels are shown at an integer zoom: crisp."""
    if len(widths) != 1:
        return img_w
    (w,) = widths
    px = img_w * dpi / _REF_DPI
    if w <= 0 or px < w:
        return img_w
    snapped = math.floor(px / w) * w
    return snapped * _REF_DPI / dpi if snapped >= 0.75 * px else img_w


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
    img_w = _snap(img_w, {spec.width for spec in specs}, options.dpi)
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


class PixelImage(Artist):
    """An image drawn pixel-exact with nearest-neighbour zoom, centred in its Axes (aspect kept).

    A lean stand-in for ``imshow(..., interpolation="nearest")``: the RGBA bitmap is scaled with
    a cached index map and handed straight to ``renderer.draw_image`` (no float resampling), so
    redrawing it per frame costs about a millisecond.
    """

    zorder = 0

    def __init__(self, ax: Axes, rgba: np.ndarray) -> None:
        super().__init__()
        self.axes = ax
        self.set_figure(ax.figure)
        self.set_clip_box(ax.bbox)
        self._rgba = rgba
        self._maps: dict[tuple[int, int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        ax.add_artist(self)

    def set_data(self, rgba: np.ndarray) -> None:
        """Replace the bitmap: (H, W, 4) uint8, row 0 at the top."""
        self._rgba = rgba
        self.stale = True

    def get_array(self) -> np.ndarray:
        return self._rgba

    def placement(self) -> tuple[int, int, int, int]:
        """(x0, y0, width, height) in display pixels (y up) where the bitmap is drawn."""
        x0, y0, x1, y1 = self.axes.bbox.extents
        h, w = self._rgba.shape[:2]
        scale = min((x1 - x0) / w, (y1 - y0) / h)
        ow, oh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
        return (
            int(round(x0 + ((x1 - x0) - ow) / 2)),
            int(round(y0 + ((y1 - y0) - oh) / 2)),
            ow,
            oh,
        )

    def get_window_extent(self, renderer: Any = None) -> Any:
        from matplotlib.transforms import Bbox

        x, y, w, h = self.placement()
        return Bbox.from_bounds(x, y, w, h)

    def draw(self, renderer: Any) -> None:
        if not self.get_visible():
            return
        x, y, ow, oh = self.placement()
        h, w = self._rgba.shape[:2]
        key = (h, w, oh, ow)
        maps = self._maps.get(key)
        if maps is None:
            rows = ((np.arange(oh) + 0.5) * (h / oh)).astype(np.intp)[::-1]  # bottom row first
            cols = ((np.arange(ow) + 0.5) * (w / ow)).astype(np.intp)
            cols = np.minimum(cols, w - 1)
            same = ow == w and bool((cols == np.arange(w)).all())  # no horizontal zoom
            maps = self._maps[key] = (np.minimum(rows, h - 1), None if same else cols)
        rows, cols = maps
        src = self._rgba
        if src.flags.c_contiguous:  # move whole pixels as uint32: 4x less indexing work
            packed = src.view(np.uint32).reshape(h, w)
        else:
            packed = src
        # whole rows first, then columns: far cheaper than one 2-D fancy index
        bitmap = packed[rows]
        if cols is not None:
            bitmap = bitmap.take(cols, axis=1)
        if bitmap.dtype == np.uint32:
            bitmap = bitmap.view(np.uint8).reshape(oh, ow, 4)
        gc = renderer.new_gc()
        self._set_gc_clip(gc)
        gc.set_alpha(self.get_alpha())
        renderer.draw_image(gc, x, y, bitmap)
        gc.restore()
        self.stale = False


_READOUT_TOKENS = re.compile(r"[0-9.,:%()+\-]| +|[^0-9.,:%()+\- ]+")


@functools.lru_cache(maxsize=64)
def _font_metrics(size: float, weight: str, dpi: float) -> tuple[float, float]:
    """(ascent, descent) of a line of text in pixels: the font's typographic metrics, which is
    what ``Text`` centres a line of plain text on."""
    prop = FontProperties(size=size, weight=weight)
    font = get_font(findfont(prop))  # matplotlib keeps one per thread: not cached here
    head = font.get_sfnt_table("head")
    for name, up, down in (
        ("OS/2", "sTypoAscender", "sTypoDescender"),
        ("hhea", "ascent", "descent"),
    ):
        table = font.get_sfnt_table(name)
        if table is not None and head:
            scale = size * dpi / 72.0 / head["unitsPerEm"]
            return table[up] * scale, -table[down] * scale
    _, h, d = _measure_renderer(dpi).get_text_width_height_descent("lp", prop, ismath=False)
    return h - d, d


@functools.lru_cache(maxsize=8192)
def _advance(token: str, size: float, weight: str, dpi: float) -> float:
    """Horizontal room of a token in pixels: the font's advance for one character (or a run of
    spaces), the measured width for a word."""
    prop = FontProperties(size=size, weight=weight)
    if len(token) == 1 or token.isspace():
        font = get_font(findfont(prop))
        font.set_size(size, dpi)
        glyph = font.load_char(ord(token[0]), flags=get_hinting_flag())
        return len(token) * glyph.horiAdvance / 64.0
    w, _, _ = _measure_renderer(dpi).get_text_width_height_descent(token, prop, ismath=False)
    return float(w)


class _Readout(Artist):
    """A line of text redrawn every frame: the step number, the prediction, a bar's value.

    ``Text`` lays out each new string with FreeType, which costs a fraction of a millisecond
    however short the string, and a render shows hundreds of new ones ("57", "0.43", "dog
    (36.2%)"). This artist places digits and signs one by one at their advance widths (words
    whole) and draws each piece with ``renderer.draw_text``: only single characters and a few
    words are ever laid out, and a glyph-caching renderer reuses them from string to string.
    Lines are centred vertically on the font's ascent and descent, as ``Text`` does. It is
    drawn above the axes' ``Text`` (zorder 3.5), as a renderer that redraws only what changed
    draws it over the background.
    """

    zorder = 3.5

    def __init__(
        self,
        ax: Axes,
        x: float,
        y: float,
        *,
        ha: str = "left",
        size: float,
        weight: str = "normal",
        color: Any = "#222222",
        transform: Any = None,
    ) -> None:
        super().__init__()
        self._xy = (x, y)
        self._ha = ha
        self._size = float(size)
        self._weight = weight
        self._color = color
        self._text = ""
        self.set_transform(ax.transData if transform is None else transform)
        self.set_clip_on(False)
        ax.add_artist(self)

    def set_text(self, text: Any) -> None:
        self._text = str(text)
        self.stale = True

    def get_text(self) -> str:
        return self._text

    def set_color(self, color: Any) -> None:
        self._color = color
        self.stale = True

    def get_color(self) -> Any:
        return self._color

    def set_fontweight(self, weight: str) -> None:
        self._weight = weight
        self.stale = True

    def _pieces(self, dpi: float) -> tuple[list[tuple[str, float]], float]:
        pieces = [
            (t, _advance(t, self._size, self._weight, dpi))
            for t in _READOUT_TOKENS.findall(self._text)
        ]
        return pieces, sum(w for _, w in pieces)

    def _origin(self, width: float, dpi: float) -> tuple[float, float]:
        """Where the first piece's baseline starts, in display pixels (y up)."""
        x, y = self.get_transform().transform(self._xy)
        ascent, descent = _font_metrics(self._size, self._weight, dpi)
        x -= width if self._ha == "right" else width / 2 if self._ha == "center" else 0.0
        return float(x), float(y + (descent - ascent) / 2)

    def get_window_extent(self, renderer: Any = None) -> Any:
        from matplotlib.transforms import Bbox

        dpi = self.figure.dpi
        pieces, width = self._pieces(dpi)
        x, y = self._origin(width, dpi)
        ascent, descent = _font_metrics(self._size, self._weight, dpi)
        return Bbox.from_extents(x, y - descent, x + width, y + ascent)

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or not self._text:
            return
        dpi = self.figure.dpi
        pieces, width = self._pieces(dpi)
        x, y = self._origin(width, dpi)
        if renderer.flipy():
            y = renderer.get_canvas_width_height()[1] - y
        prop = FontProperties(size=self._size, weight=self._weight)
        gc = renderer.new_gc()
        gc.set_foreground(to_rgba(self._color), isRGBA=True)
        gc.set_antialiased(rcParams["text.antialiased"])
        self._set_gc_clip(gc)
        for token, advance in pieces:
            if not token.isspace():
                renderer.draw_text(gc, x, y, token, prop, 0.0, ismath=False, mtext=None)
            x += advance
        gc.restore()
        self.stale = False


@functools.lru_cache(maxsize=1)
def _gray_lut() -> np.ndarray:
    return _lut("gray")


def _to_rgba(img: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, C) image (uint8 or float in [0, 1]) -> (H, W, 4) uint8; gray via the gray colormap."""
    d = _as_display(img)
    if d.ndim == 2:
        return _gray_lut()[d]
    h, w, c = d.shape
    if out is None or out.shape != (h, w, 4):
        out = np.empty((h, w, 4), np.uint8)
    out[..., :c] = d
    if c == 3:
        out[..., 3] = 255
    return out


class _Slot:
    """Screen area owned by some dynamic artists (no other dynamic artist draws into it).

    ``region()`` gives (x0, y0, x1, y1) in display pixels (y up); ``dirty`` says the artists
    changed since they were last drawn.
    """

    __slots__ = ("artists", "dirty", "key", "region")

    def __init__(self, artists: list[Artist], region: Any) -> None:
        self.artists = artists
        self.region = region
        self.dirty = True
        # Hashable description of what the artists show now, when it fully determines the slot's
        # pixels (so a renderer may reuse pixels drawn earlier for the same key); None: no reuse.
        self.key: Any = None


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
            self._orig_mean = _channel_mean(self._original)

        self.axes: dict[str, Axes] = {}
        self.slots: list[_Slot] = []
        self._step: int | None = None
        self._images = _StepImages(self._orig_mean if self._original is not None else None)
        # how a step's image is read; a renderer may swap in a prefetching reader
        self.read_image: Any = run.images.__getitem__

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
        """Layout units from the top-left -> figure fraction [left, bottom, width, height]."""
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

        right_w = self._build_status(ax, width)
        parts = [p for p in (getattr(run, "attack", None), getattr(run, "model", None)) if p]
        if self._true is not None:
            parts.append(f"true: {self._names[self._true]}")
        if self._target is not None:
            parts.append(f"target: {self._names[self._target]}")
        name = _fit(_run_label(run), (width - right_w) * 0.6, _FONT_HEADER, "bold")
        name_w = _text_width(name, _FONT_HEADER, "bold")
        rest_w = width - right_w - name_w - 14
        rest = _fit("  ·  ".join(_clean(p) for p in parts), max(rest_w, 0), _FONT_HEADER)
        kw: dict[str, Any] = {"va": "center", "fontsize": _FONT_HEADER, "parse_math": False}
        ax.text(0, 0.5, name, ha="left", fontweight="bold", **kw)
        ax.text((name_w + 10) / width, 0.5, rest, ha="left", color="#444444", **kw)

    def _build_status(self, ax: Axes, width: float) -> float:
        """The right-hand status ``step 57 of 119   pred: cat (53.2%)``; returns its width.

        Fixed words are drawn once with the background; only the step number (in a field as
        wide as the largest one) and the prediction are redrawn, as :class:`_Readout` pieces,
        each in a screen area of its own. So a frame draws a few cached characters instead of
        laying out a whole new line, and the line never jitters.
        """
        bold = {"va": "center", "fontsize": _FONT_HEADER, "parse_math": False}
        bold["fontweight"] = "bold"
        color = "#222222"
        readout = {"size": _FONT_HEADER, "weight": "bold", "color": color}
        space = _text_width("a a", _FONT_HEADER, "bold") - _text_width("aa", _FONT_HEADER, "bold")
        last = f"{self.n_steps - 1}"
        words = ("step", f"of {last}", "pred:")
        w_step, w_of, w_pred = (_text_width(t, _FONT_HEADER, "bold") for t in words)
        w_num = sum(_advance(c, _FONT_HEADER, "bold", _REF_DPI) for c in last) * 1.05 + 2
        total = w_step + w_num + w_of + 2 * space
        self._pred_w = 0.0
        if self._conf is not None:
            # the widest class name (at most 24 characters), judged among the longest ones
            longest = sorted({n[:24] for n in self._names}, key=len)[-16:]
            w_name = max((_text_width(n, _FONT_HEADER, "bold") for n in longest), default=0.0)
            w_pct = _text_width(" (100.0%)", _FONT_HEADER, "bold")
            fixed = total + 3 * space + w_pred + space
            self._pred_w = max(min(w_name + w_pct, width * 0.6 - 12 - fixed), w_pct + 8)
            self._name_room = self._pred_w - w_pct
            total = fixed + self._pred_w
        x = width - total
        ax.text(x / width, 0.5, words[0], ha="left", color=color, **bold)
        x += w_step + space
        self._num_text = _Readout(ax, x / width, 0.5, **readout)
        num_left, x = x, x + w_num
        ax.text((x + space) / width, 0.5, words[1], ha="left", color=color, **bold)
        self._num_state = ""
        num_area = _span(ax, width, num_left - space / 2, x + space / 2)
        self.slots.append(_Slot([self._num_text], num_area))
        self._pred_text = None
        if self._conf is not None:
            x += space + w_of + 3 * space
            ax.text(x / width, 0.5, words[2], ha="left", color=color, **bold)
            x += w_pred + space
            self._pred_text = _Readout(ax, x / width, 0.5, **readout)
            self._pred_state: tuple[str, str] = ("", "")
            right = width + _MARGIN / 2
            self.slots.append(_Slot([self._pred_text], _span(ax, width, x - space / 2, right)))
        return min(total + 12, width * 0.6)

    def _pred_status(self, pred: int, p: float) -> str:
        """``cat (53.2%)``, the class name cut to fit the status field."""
        p_text = "nan" if not math.isfinite(p) else f"{100 * p:.1f}%"
        name = _fit(self._names[pred][:24], self._name_room, _FONT_HEADER, "bold")
        return f"{name} ({p_text})"

    def _title(self, ax: Axes, *candidates: str) -> None:
        """Panel title: the first candidate that fits the panel width (else the last, cut)."""
        w = ax.get_position().width * self._fig_w
        text = next((c for c in candidates if _text_width(c, _FONT_TITLE) <= w), candidates[-1])
        # y given: matplotlib then skips placing the title above tick labels (these axes show
        # none), which would create every tick of both axes (~10 ms per panel)
        title = _fit(text, w, _FONT_TITLE)
        ax.set_title(title, fontsize=_FONT_TITLE, pad=5, parse_math=False, y=1.0)

    def _build_image(self, fig: Figure, slot: str, rect: list[float]) -> None:
        ax = fig.add_axes(rect)
        ax.set_axis_off()
        self.axes[slot] = ax
        first = self.run.images[0]
        if slot == "perturbation":
            amp = self.amplification or 1.0
            data = _perturbation_rgba(np.zeros(np.shape(first)[:2], np.float32), amp)
            a = _fmt_amp(amp)
            self._title(ax, f"perturbation ×{a}  (±{1 / amp:.2g})", f"perturbation ×{a}", f"Δ ×{a}")
        elif slot == "original":
            data = _to_rgba(self._original)
            self._title(ax, "original")
        else:
            data = _to_rgba(first)
            self._title(ax, "adversarial")
        im = PixelImage(ax, data)
        if slot != "original":
            setattr(self, f"_{slot}_im", im)
            self.slots.append(_Slot([im], _padded(ax, 1)))

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
        # one PolyCollection for all bars: a single draw call per frame
        self._bar_verts = np.zeros((n, 4, 2))
        self._bar_verts[:, :, 1] = y[:, None] + np.array([-0.36, -0.36, 0.36, 0.36])
        self._bars = PolyCollection(
            list(self._bar_verts),
            facecolors=self._base_colors,
            edgecolors="none",
            linewidths=0.0,
            closed=True,
        )
        ax.add_collection(self._bars, autolim=False)
        ax.set_xlim(0, 1.2)
        ax.set_ylim(n - 0.5, -0.5)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        # keep the axis line clear of the bars, so bars own their screen area (see _Slot);
        # before the tick labels are styled: moving a spine rebuilds the ticks
        ax.spines["left"].set_position(("outward", 4))
        ax.spines["left"].set_color("#555555")
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", ".25", ".5", ".75", "1"])
        ax.tick_params(axis="x", labelsize=_FONT_TICK, length=0, pad=3)
        ax.tick_params(axis="y", length=0, pad=3)
        labels = [_fit(self._names[c], _LABEL_W - 14, _FONT_TICK) for c in self.classes]
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
        self._values = [_Readout(ax, 1.03, i, size=_FONT_VALUE) for i in range(n)]
        self._bar_state: tuple[Any, ...] = ()
        self._value_state: list[tuple[str, str]] = [("", "")] * n

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
        # Title over the class-name column, legend on the right of the same line.
        w = ax.get_position().width * self._fig_w
        legend_w = sum(_text_width(h.get_label(), _FONT_TICK) + 30 for h in handles)
        title = _fit(f"confidence (top {self.options.top_k})", _LABEL_W + w - legend_w, _FONT_TITLE)
        ax.annotate(
            title,
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(-_LABEL_W * 0.72, 5),
            textcoords="offset points",
            ha="left",
            va="baseline",
            fontsize=_FONT_TITLE,
            parse_math=False,
        )

        # Screen areas: bars left of x = 1.0, one value cell per row right of it.
        def split_x() -> float:
            return float(ax.transData.transform((1.0, 0))[0]) + 3.0

        def bars_region() -> tuple[float, float, float, float]:
            x0, y0, _, y1 = ax.bbox.extents
            return (x0 - 3.0, y0, split_x(), y1)

        def value_region(i: int) -> Any:
            def region() -> tuple[float, float, float, float]:
                _, top = ax.transData.transform((0, i - 0.5))
                _, bottom = ax.transData.transform((0, i + 0.5))
                return (split_x(), round(bottom), ax.bbox.x1 + 6.0, round(top))

            return region

        self.slots.append(_Slot([self._bars], bars_region))
        row_px = ax.bbox.height / n if ax.bbox.height else 0
        if row_px >= _text_width("0", _FONT_VALUE) * 2.2:  # one row always holds its text
            self._value_slots = [_Slot([t], value_region(i)) for i, t in enumerate(self._values)]
        else:

            def column() -> tuple[float, float, float, float]:
                x0, y0, x1, y1 = ax.bbox.extents
                return (split_x(), y0 - 8.0, x1 + 6.0, y1 + 2.0)

            self._value_slots = [_Slot(list(self._values), column)]
        self.slots += self._value_slots

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
        return [a for slot in self.slots for a in slot.artists]

    def update(self, step: int) -> list[Artist]:
        """Show ``step`` (clamped to the run; shorter runs hold their last frame)."""
        step = min(max(int(step), 0), self.n_steps - 1)
        if step == self._step:
            return self.changed_artists
        self._step = step
        image = self._images.prepare(self.read_image(step))  # converted once, for both panels
        adv = getattr(self, "_adversarial_im", None)
        if adv is not None:
            adv.set_data(self._images.rgba(image))
            self._mark(adv)
        pert = getattr(self, "_perturbation_im", None)
        if pert is not None:
            pert.set_data(self._images.perturbation(image, self.amplification))
            self._mark(pert)

        number = f"{step}"
        if number != self._num_state:
            self._num_state = number
            self._num_text.set_text(number)
            self._mark(self._num_text)
        if self._conf is not None and self._pred_text is not None:
            row = self._conf[min(step, self._conf.shape[0] - 1)]
            pred = int(np.argmax(np.nan_to_num(row, nan=-1.0)))
            self._update_bars(row, pred)
            if self._true is None:
                color = "#222222"
            else:
                color = OK_TEXT if pred == self._true else FLIPPED_TEXT
            state = (self._pred_status(pred, float(row[pred])), color)
            if state != self._pred_state:
                self._pred_state = state
                self._pred_text.set_text(state[0])
                self._pred_text.set_color(state[1])
                self._mark(self._pred_text, state)
        return self.changed_artists

    def _update_bars(self, row: np.ndarray, pred: int) -> None:
        values = [float(row[c]) for c in self.classes]
        state = (tuple(values), pred)
        if state != self._bar_state:
            recolour = self._bar_state[1:] != (pred,)  # the colours follow the argmax only
            self._bar_state = state
            widths = [min(max(p, 0.0), 1.0) if math.isfinite(p) else 0.0 for p in values]
            self._bar_verts[:, 1:3, 0] = np.asarray(widths)[:, None]
            self._bars.set_verts(list(self._bar_verts))
            if recolour:
                is_max = [c == pred for c in self.classes]
                self._bars.set_facecolor(
                    [
                        ARGMAX_OTHER_COLOR if m and base == OTHER_COLOR else base
                        for m, base in zip(is_max, self._base_colors, strict=True)
                    ]
                )
                self._bars.set_edgecolor([ARGMAX_EDGE if m else "none" for m in is_max])
                self._bars.set_linewidth([1.4 if m else 0.0 for m in is_max])
            self._mark(self._bars)
        self._update_values(values, pred)

    def _update_values(self, values: list[float], pred: int) -> None:
        for i, (text, c, p) in enumerate(zip(self._values, self.classes, values, strict=True)):
            value = (f"{p:.2f}" if math.isfinite(p) else "nan", "bold" if c == pred else "normal")
            if value != self._value_state[i]:
                self._value_state[i] = value
                text.set_text(value[0])
                text.set_fontweight(value[1])
                self._mark(text, value)
        if len(self._value_slots) == 1:
            self._value_slots[0].key = tuple(self._value_state)

    def _mark(self, artist: Artist, key: Any = None) -> None:
        for slot in self.slots:
            if artist in slot.artists:
                slot.dirty = True
                slot.key = key
                return


def _span(ax: Axes, width: float, x0: float, x1: float) -> Any:
    """Screen area of the layout-unit columns [x0, x1] of the full-width axes ``ax``."""

    def region() -> tuple[float, float, float, float]:
        left, y0, right, y1 = ax.bbox.extents
        scale = (right - left) / width
        return (left + x0 * scale, y0, left + x1 * scale, y1)

    return region


def _padded(ax: Axes, pad: float) -> Any:
    def region() -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = ax.bbox.extents
        return (x0 - pad, y0 - pad, x1 + pad, y1 + pad)

    return region


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
    def slots(self) -> list[_Slot]:
        """Screen areas of the dynamic artists, for a renderer that redraws only what changed."""
        return [slot for row in self.rows for slot in row.slots]

    def mark_all_dirty(self) -> None:
        for slot in self.slots:
            slot.dirty = True

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
    return Line2D([x0, x1], [y, y], color="#d0d4da", linewidth=1.0)


def figure_size(run_or_runs: Any, options: FigureOptions | None = None) -> tuple[int, int]:
    """(width, height) in pixels of the figure :func:`make_figure` builds, without building it."""
    options = options or FigureOptions()
    runs = list(run_or_runs) if isinstance(run_or_runs, (list, tuple)) else [run_or_runs]
    layout = _layout([_spec(r) for r in runs], options, compare=len(runs) > 1)
    scale = options.dpi / _REF_DPI
    return _even(layout.width * scale), _even(layout.height * scale)


def make_figure(
    run_or_runs: Any, options: FigureOptions | None = None, fig: Figure | None = None
) -> PanelFigure:
    """A :class:`RunFigure` for one run, a :class:`CompareFigure` for a list/tuple of runs."""
    if isinstance(run_or_runs, (list, tuple)):
        if len(run_or_runs) == 1:
            return RunFigure(run_or_runs[0], options, fig)
        return CompareFigure(run_or_runs, options, fig)
    return RunFigure(run_or_runs, options, fig)
