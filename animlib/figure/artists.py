"""Two lean artists redrawn every frame: :class:`PixelImage` and :class:`Readout`."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from matplotlib import rcParams
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties
from matplotlib.transforms import Bbox

from .. import glyphs
from .boxes import PanelBox
from .textmetrics import font_metrics, readout_pieces

__all__ = ["PixelImage", "PixelSource", "Readout", "Sampling", "zoom"]

WHOLE_ZOOM = 0.8  # an enlarged image is drawn at a whole zoom if that keeps this share of its size


def zoom(source: tuple[int, int], room: tuple[float, float]) -> float:
    """The zoom drawing an (h, w) image in (height, width) pixels of room, aspect kept.

    An image that fits more than once is drawn at a whole zoom (every source pixel the same
    number of drawn pixels, none of them doubled here and there) unless that would shrink it
    below ``WHOLE_ZOOM`` of the room it could take: in 227 pixels, a 224x224 image is drawn at
    224 (1:1), 28x28 at 224 (8x), 100x100 at 200 (2x), 130x130 at 227 (1.75x).
    """
    (h, w), (rh, rw) = source, room
    scale = min(rw / w, rh / h)
    whole = math.floor(scale + 1e-6)  # (room computed in floats)
    return float(whole) if whole >= 1 and whole >= WHOLE_ZOOM * scale else scale


@functools.lru_cache(maxsize=64)
def _index_maps(h: int, w: int, oh: int, ow: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Source rows (bottom row first) and columns (None: no horizontal zoom) of the output."""
    rows = ((np.arange(oh) + 0.5) * (h / oh)).astype(np.intp)[::-1]
    rows = np.ascontiguousarray(np.minimum(rows, h - 1))
    cols = np.minimum(((np.arange(ow) + 0.5) * (w / ow)).astype(np.intp), w - 1)
    same = ow == w and bool((cols == np.arange(w)).all())
    for a in (rows, cols):
        a.flags.writeable = False
    return rows, None if same else cols


def _as_slice(index: np.ndarray | None) -> slice | None:
    """``index`` as an equivalent slice when it steps evenly (a view then picks it, no copy);
    None if it does not (or is None)."""
    if index is None or len(index) < 2:
        return None
    step = int(index[1] - index[0])
    if step == 0 or not bool((np.diff(index) == step).all()):
        return None
    stop = int(index[-1]) + step
    return slice(int(index[0]), None if stop < 0 else stop, step)


class Sampling(NamedTuple):
    """The source pixels a :class:`PixelImage` shows, nearest neighbour: drawn row ``i`` is
    source row ``rows[i]`` (bottom row first, as Agg draws), drawn column ``j`` source column
    ``cols[j]`` (``cols`` None: every column, in order). ``source`` (H, W), ``size`` (oh, ow)."""

    source: tuple[int, int]
    size: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray | None
    row_slice: slice | None = None  # ``rows`` as a slice, when it steps evenly
    col_slice: slice | None = None  # ``cols`` as a slice (None: no zoom or not even steps)

    @classmethod
    def of(cls, source: tuple[int, int], size: tuple[int, int]) -> Sampling:
        return _sampling(source, size)

    @property
    def shrinks(self) -> bool:
        """Whether fewer pixels are drawn than the source has (so picking them first pays)."""
        return self.size[0] * self.size[1] < self.source[0] * self.source[1]

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """The drawn (oh, ow, ...) pixels of a source array (H, W, ...), in drawing order (a
        view of ``pixels`` when the rows and columns step evenly, e.g. at a zoom of 1/2)."""
        if self.row_slice is not None and (self.cols is None or self.col_slice is not None):
            out = pixels[self.row_slice]
            return out if self.col_slice is None else out[:, self.col_slice]
        src = pixels
        rgba = src.ndim == 3 and src.shape[2] == 4 and src.dtype == np.uint8
        if rgba and src.flags.c_contiguous:  # move whole pixels as uint32: 4x less indexing
            src = src.view(np.uint32).reshape(src.shape[:2])
        if src.flags.c_contiguous and src.ndim in (2, 3):  # one gather through a flat index
            inner = src.shape[2] if src.ndim == 3 else 1
            flat = src.reshape(-1).take(_flat_index(self.source, self.size, inner))
            out = flat.reshape(*self.size, *src.shape[2:])
            return out.view(np.uint8).reshape(*self.size, 4) if out.dtype != pixels.dtype else out
        # whole rows first, then columns: far cheaper than one 2-D fancy index
        out = src.take(self.rows, axis=0)
        if self.cols is not None:
            out = out.take(self.cols, axis=1)
        if out.dtype != pixels.dtype:
            out = out.view(np.uint8).reshape(*self.size, 4)
        return out


@functools.lru_cache(maxsize=16)
def _flat_index(source: tuple[int, int], size: tuple[int, int], inner: int) -> np.ndarray:
    """Positions in a C-ordered (H, W, inner) array of the (oh, ow, inner) values drawn."""
    (h, w), (oh, ow) = source, size
    rows, cols = _index_maps(h, w, oh, ow)
    cols = np.arange(w) if cols is None else cols
    across = (cols[:, None] * inner + np.arange(inner)).reshape(-1)
    index = (rows[:, None] * (w * inner) + across[None, :]).reshape(-1)
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=64)
def _sampling(source: tuple[int, int], size: tuple[int, int]) -> Sampling:
    rows, cols = _index_maps(*source, *size)
    return Sampling(source, size, rows, cols, _as_slice(rows), _as_slice(cols))


PixelSource = Callable[[Sampling], np.ndarray]  # sampling -> (oh, ow, 4) uint8, drawing order


class PixelImage(Artist):
    """An image drawn pixel-exact with nearest-neighbour zoom, centred in its panel (aspect kept).

    A lean stand-in for ``imshow(..., interpolation="nearest")``: the RGBA bitmap is scaled with
    a cached index map and handed straight to ``renderer.draw_image`` (no float resampling), so
    redrawing it per frame costs about a millisecond. Given a pixel source instead
    (:meth:`set_source`), the bitmap is made when drawn from only the source pixels shown, so
    an image larger than its panel is converted at the panel's size.
    """

    zorder = 0

    def __init__(self, box: PanelBox, rgba: np.ndarray) -> None:
        super().__init__()
        self.box = box
        self.set_data(rgba)
        box.add_artist(self, box.transAxes)
        self.set_clip_box(box.bbox)

    def set_data(self, rgba: np.ndarray) -> None:
        """Replace the bitmap: (H, W, 4) uint8, row 0 at the top."""
        self._rgba: np.ndarray | None = rgba
        self._source: PixelSource | None = None
        self._shape = (int(rgba.shape[0]), int(rgba.shape[1]))
        self._opaque = False
        self.stale = True

    def set_source(self, shape: tuple[int, ...], pixels: PixelSource, *, opaque: bool) -> None:
        """Show an image of ``shape`` (H, W, ...) whose bitmap ``pixels(sampling)`` makes when
        it is drawn: the (oh, ow, 4) uint8 pixels :class:`Sampling` picks, in drawing order.
        ``opaque``: every pixel it makes has alpha 255 (it may then be copied, not blended)."""
        self._rgba = None
        self._source = pixels
        self._shape = (int(shape[0]), int(shape[1]))
        self._opaque = opaque
        self.stale = True

    def get_array(self) -> np.ndarray:
        """The bitmap shown: (H, W, 4) uint8, row 0 at the top."""
        if self._rgba is not None:
            return self._rgba
        assert self._source is not None
        return self._source(Sampling.of(self._shape, self._shape))[::-1]

    def placement(self) -> tuple[int, int, int, int]:
        """(x0, y0, width, height) in display pixels (y up) where the bitmap is drawn."""
        x0, y0, x1, y1 = self.box.bbox.extents.tolist()  # (rounding numpy floats is slow)
        h, w = self._shape
        scale = zoom((h, w), (y1 - y0, x1 - x0))
        ow, oh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
        return (
            int(round(x0 + ((x1 - x0) - ow) / 2)),
            int(round(y0 + ((y1 - y0) - oh) / 2)),
            ow,
            oh,
        )

    def sampling(self) -> Sampling:
        """The source pixels drawn at the current placement."""
        _, _, ow, oh = self.placement()
        return Sampling.of(self._shape, (oh, ow))

    def _replaces(self) -> bool:
        """Its pixels replace what lies under them (opaque, drawn without an alpha)."""
        return self._opaque and self.get_alpha() is None

    def covered(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) (y up) that the next draw overwrites with opaque pixels (None if
        its pixels may be transparent or it is hidden)."""
        if not (self._replaces() and self.get_visible()):
            return None
        x, y, w, h = self.placement()
        return (x, y, x + w, y + h)

    def get_window_extent(self, renderer: Any = None) -> Bbox:
        x, y, w, h = self.placement()
        return Bbox.from_bounds(x, y, w, h)

    def draw(self, renderer: Any) -> None:
        if not self.get_visible():
            return
        x, y, ow, oh = self.placement()
        sampling = Sampling.of(self._shape, (oh, ow))
        if self._source is not None:
            bitmap = self._source(sampling)
        else:
            assert self._rgba is not None
            bitmap = sampling.apply(self._rgba)
        if not self._copy(renderer, x, y, bitmap):
            gc = renderer.new_gc()
            self._set_gc_clip(gc)
            gc.set_alpha(self.get_alpha())
            renderer.draw_image(gc, x, y, np.ascontiguousarray(bitmap))
            gc.restore()
        self.stale = False

    def _copy(self, renderer: Any, x: int, y: int, bitmap: np.ndarray) -> bool:
        """Copy an opaque bitmap straight into the canvas, if the renderer offers its pixels
        and the bitmap lies inside them (what blending it would give); False if not done."""
        pixel_array = getattr(renderer, "pixel_array", None)
        if pixel_array is None or not self._replaces():
            return False
        canvas = pixel_array()
        h, w = bitmap.shape[:2]
        top = canvas.shape[0] - (y + h)
        if x < 0 or top < 0 or x + w > canvas.shape[1] or y < 0:
            return False
        canvas[top : top + h, x : x + w] = bitmap[::-1]  # drawing order is bottom row first
        return True


class Readout(Artist):
    """A line of text redrawn every frame: the step number, the prediction, a bar's value.

    ``Text`` lays out each new string with FreeType, which costs a fraction of a millisecond
    however short the string, and a render shows hundreds of new ones ("57", "0.43", "dog
    (36.2%)"). This artist places digits and signs one by one at their advance widths (words
    whole) and draws each piece with ``renderer.draw_text``: only single characters and a few
    words are ever laid out, and a glyph-caching renderer reuses them from string to string.
    Lines are centred vertically on the font's ascent and descent, as ``Text`` does. It is
    drawn above the axes' ``Text`` (zorder 3.5), as a renderer that redraws only what changed
    draws it over the background. :func:`~animlib.figure.textmetrics.readout_width` measures
    a string the way this artist draws it.
    """

    zorder = 3.5

    def __init__(
        self,
        box: PanelBox,
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
        self._prop: FontProperties | None = None  # made when drawn (size and weight as now)
        self._prop_key = 0  # hash(self._prop), kept
        self._gc: tuple[tuple[Any, ...], Any] | None = None  # (renderer, colour, aa), its gc
        box.add_artist(self, box.transData if transform is None else transform)
        self.set_clip_on(False)

    @property
    def size(self) -> float:
        """Font size in points."""
        return self._size

    def set_text(self, text: Any) -> None:
        self._text = str(text)
        self.stale = True

    def get_text(self) -> str:
        """The text shown (exactly what is drawn)."""
        return self._text

    def set_color(self, color: Any) -> None:
        self._color = color
        self.stale = True

    def get_color(self) -> Any:
        return self._color

    def set_fontweight(self, weight: str) -> None:
        if weight != self._weight:
            self._prop = None
        self._weight = weight
        self.stale = True

    def get_fontweight(self) -> str:
        return self._weight

    def _origin(self, width: float, dpi: float) -> tuple[float, float]:
        """Where the first piece's baseline starts, in display pixels (y up)."""
        transform = self.get_transform()
        ax, ay = self._xy
        if transform.is_affine:  # its matrix is kept until the layout changes: no arrays made
            m = transform.get_matrix()
            x = m[0, 0] * ax + m[0, 1] * ay + m[0, 2]
            y = m[1, 0] * ax + m[1, 1] * ay + m[1, 2]
        else:
            x, y = transform.transform((ax, ay))
        ascent, descent = font_metrics(self._size, self._weight, dpi)
        x -= width if self._ha == "right" else width / 2 if self._ha == "center" else 0.0
        return float(x), float(y + (descent - ascent) / 2)

    def get_window_extent(self, renderer: Any = None) -> Bbox:
        dpi = self.figure.dpi
        width = sum(w for _, w in readout_pieces(self._text, self._size, self._weight, dpi))
        x, y = self._origin(width, dpi)
        ascent, descent = font_metrics(self._size, self._weight, dpi)
        return Bbox.from_extents(x, y - descent, x + width, y + ascent)

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or not self._text:
            return
        dpi = self.figure.dpi
        pieces = readout_pieces(self._text, self._size, self._weight, dpi)
        x, y = self._origin(sum(w for _, w in pieces), dpi)
        if renderer.flipy():
            y = renderer.get_canvas_width_height()[1] - y
        prop = self._prop
        if prop is None:
            prop = self._prop = FontProperties(size=self._size, weight=self._weight)
            self._prop_key = hash(prop)
        if glyphs.enabled() and isinstance(renderer, RendererAgg):
            # a graphics context per renderer and colour, kept: Agg only reads it
            state = (id(renderer), self._color, rcParams["text.antialiased"])
            kept = self._gc
            if kept is None or kept[0] != state:
                gc = renderer.new_gc()
                gc.set_foreground(to_rgba(self._color), isRGBA=True)
                gc.set_antialiased(state[2])
                self._gc = kept = (state, gc)
            glyphs.draw_line(renderer, kept[1], x, y, pieces, prop, prop_key=self._prop_key)
            self.stale = False
            return
        gc = renderer.new_gc()
        gc.set_foreground(to_rgba(self._color), isRGBA=True)
        gc.set_antialiased(rcParams["text.antialiased"])
        self._set_gc_clip(gc)
        # the same places as draw_line, one draw_text per piece
        places = glyphs.line_origins(renderer, x, y, pieces)
        for (token, _), (px, py) in zip(pieces, places, strict=True):
            if not token.isspace():
                renderer.draw_text(gc, px, py, token, prop, 0.0, ismath=False, mtext=None)
        gc.restore()
        self.stale = False
