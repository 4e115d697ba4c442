"""A glyph-caching Agg canvas: text layouts and glyph bitmaps reused from frame to frame."""

# This is the only module of animlib that uses private matplotlib internals (``FT2Font._layout``,
# ``FT2Font._render_glyph``, ``FT2Font._set_transform``, ``RendererAgg._prepare_font``,
# ``RendererAgg._renderer.draw_text_image``, ``FontManager._find_fonts_by_props``, and the hook
# ``Text`` calls, ``_get_font_height_metrics``). It is used only on the matplotlib versions it was
# checked against (:data:`TESTED_VERSIONS`) and only when those members exist (:data:`AVAILABLE`);
# otherwise :func:`agg_canvas` returns a plain ``FigureCanvasAgg`` and text is drawn the standard
# way (the same pixels, somewhat slower). :func:`draw_line` draws the lines redrawn every frame.

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.font_manager import FontManager, FontProperties, findfont, fontManager, get_font

from .fontlookup import font_lookup

__all__ = [
    "AVAILABLE",
    "TESTED_VERSIONS",
    "agg_canvas",
    "clear_caches",
    "draw_line",
    "enabled",
    "font_of",
    "line_metrics",
    "line_origins",
    "measuring_renderer",
]

TESTED_VERSIONS = ((3, 11),)  # (major, minor) of matplotlib this module was checked against
_PRIVATE_FONT_API = ("_layout", "_render_glyph", "_set_transform")
_PRIVATE_RENDERER_API = ("_prepare_font",)  # and ``_renderer.draw_text_image`` (an instance's)
_PRIVATE_MANAGER_API = ("_find_fonts_by_props",)


def _version(text: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _detect() -> bool:
    """Whether this matplotlib is a tested version with the private members this module uses."""
    if _version(matplotlib.__version__) not in TESTED_VERSIONS:
        return False
    try:
        from matplotlib.ft2font import FT2Font, RenderMode  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    try:
        drawer = getattr(RendererAgg(1, 1, 72), "_renderer", None)
    except Exception:  # noqa: BLE001 - (a renderer that cannot be made: the plain path)
        return False
    return (
        all(hasattr(FT2Font, a) for a in _PRIVATE_FONT_API)
        and all(hasattr(RendererAgg, a) for a in _PRIVATE_RENDERER_API)
        and all(hasattr(FontManager, a) for a in _PRIVATE_MANAGER_API)
        and hasattr(drawer, "draw_text_image")
    )


AVAILABLE: bool = _detect()  # tests set it to False to check the plain path
_MPL_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"  # the bundled fonts

_IDENTITY = np.array([[0x10000, 0], [0, 0x10000]], dtype=int)
_MAX_CACHED = 50_000
_LAYOUTS: dict[tuple[Any, ...], list[tuple[Any, int, float, float]]] = {}
_GLYPHS: dict[tuple[Any, ...], tuple[np.ndarray, int, int]] = {}
_METRICS: dict[tuple[Any, ...], tuple[float, float, float]] = {}
Piece = tuple[str, float]  # a string and the advance to the next one, in pixels
_Glyph = tuple[np.ndarray, int, int]  # coverage, left column, bottom row (see _piece)
_PIECES: dict[tuple[Any, ...], list[_Glyph]] = {}  # the glyphs of a string at pixel (0, 0)
# a line's glyphs merged into fewer bitmaps (_blends; 5-6 glyphs in ~1.3) from its 2nd drawing:
# most lines (a step number, a value) are drawn once a render, and merging costs more than it
# saves in one drawing. _ONCE: the lines drawn once, their glyphs not merged.
_LINES: dict[tuple[Any, ...], list[_Glyph]] = {}
_ONCE: dict[tuple[Any, ...], list[_Glyph]] = {}
_INK: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = {}  # bitmap -> its inked box


def enabled() -> bool:
    """Whether :func:`agg_canvas` gives the glyph-caching canvas."""
    return AVAILABLE


def font_of(prop: FontProperties) -> Any:
    """The ``FT2Font`` text in ``prop`` is drawn with (matplotlib keeps one per file and thread),
    looked up at :func:`font_lookup`'s size."""
    if not AVAILABLE:
        return get_font(findfont(font_lookup(prop)))
    return get_font(fontManager._find_fonts_by_props(font_lookup(prop)))  # noqa: SLF001


# where ``Text`` reads a line's ascent, descent and gap: (table, gap, ascent, descent)
_HEIGHT_TABLES = (
    ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
    ("hhea", "lineGap", "ascent", "descent"),
)


def line_metrics(prop: FontProperties) -> tuple[int, int, int, int] | None:
    """(ascent, descent, line gap, units per em) of the font text in ``prop`` is drawn with, in
    font units, from the tables ``Text`` lays a line out with; None if it has none of them."""
    font = font_of(prop)
    head = font.get_sfnt_table("head")
    for name, gap, up, down in _HEIGHT_TABLES:
        table = font.get_sfnt_table(name)
        if table is not None and head:
            return table[up], table[down], table[gap], head["unitsPerEm"]
    return None


def clear_caches() -> None:
    """Forget cached layouts, glyphs and text metrics (as in a fresh process; for benchmarks)."""
    for cache in (_LAYOUTS, _GLYPHS, _METRICS, _PIECES, _LINES, _ONCE, _INK):
        cache.clear()


def _remember(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    if len(cache) > _MAX_CACHED:
        cache.clear()
    cache[key] = value


def _layout_key(
    renderer: RendererAgg, s: str, prop: Any, flags: Any, features: Any = None, language: Any = None
) -> tuple[Any, ...]:
    """The key of ``s``'s layout in ``_LAYOUTS`` (plain text: no features, no language)."""
    return (hash(prop), s, renderer.dpi, flags, repr(features), repr(language))


def _layout(
    renderer: RendererAgg, s: str, prop: Any, mtext: Any, flags: Any
) -> list[tuple[Any, int, float, float]]:
    """(font, glyph, x, y) of each glyph of ``s`` laid out by FreeType, cached."""
    features = mtext.get_fontfeatures() if mtext is not None else None
    language = mtext.get_language() if mtext is not None else None
    key = _layout_key(renderer, s, prop, flags, features, language)
    items = _LAYOUTS.get(key)
    if items is None:
        font = renderer._prepare_font(prop)  # noqa: SLF001
        if len(s) == 1 and features is None and language is None:
            items = _layout_of(font, s, _AT_ORIGIN)  # one glyph, at the pen's start
        if items is None:
            laid_out = font._layout(s, flags=flags, features=features, language=language)  # noqa: SLF001
            items = [(i.ft_object, i.glyph_index, i.x, i.y) for i in laid_out]
        _remember(_LAYOUTS, key, items)
    return items


def _glyph(
    dpi: float, ft: Any, size: float, glyph: int, gx: int, gy: int, aa: bool, flags: Any
) -> tuple[np.ndarray, int, int]:
    """(bitmap, left, top) of a glyph at the 1/64-pixel position (gx, gy), cached."""
    key = (ft.fname, size, dpi, glyph, gx & 63, gy & 63, aa, flags)
    entry = _GLYPHS.get(key)
    if entry is None:
        from matplotlib.ft2font import RenderMode

        ft.set_size(size, dpi)
        ft._set_transform(_IDENTITY, [gx, gy])  # noqa: SLF001
        mode = RenderMode.NORMAL if aa else RenderMode.MONO
        bitmap = ft._render_glyph(glyph, flags, mode)  # noqa: SLF001
        buffer = np.array(bitmap.buffer)
        if not aa:
            buffer *= 0xFF
        entry = (buffer, bitmap.left - (gx >> 6), bitmap.top - (gy >> 6))
        _remember(_GLYPHS, key, entry)
    return entry


def _piece(renderer: RendererAgg, s: str, prop: Any, aa: bool, flags: Any) -> list[_Glyph]:
    """The glyphs of string ``s`` with its origin at pixel (0, 0), at their sub-pixel places:
    (coverage, left column, bottom row) each, rows counted down from the baseline and the
    glyph covering rows ``[bottom - height, bottom)``. Empty glyphs are left out."""
    size = prop.get_size_in_points()
    out = []
    for ft, glyph, dx, dy in _layout(renderer, s, prop, None, flags):
        placed = _placed(
            renderer.dpi, ft, size, glyph, round(0x40 * dx), round(0x40 * dy), aa, flags
        )
        if placed[0].size:
            out.append(placed)
    return out


def _placed(
    dpi: float, ft: Any, size: float, glyph: int, gx: int, gy: int, aa: bool, flags: Any
) -> _Glyph:
    """A glyph whose origin is at the 1/64-pixel position (gx, gy) (y counted down from row
    0): its bitmap, its left column and the row below its bottom (as ``draw_text_image``
    takes them, offset by the row of y = 0)."""
    buffer, rel_left, rel_top = _glyph(dpi, ft, size, glyph, gx, gy, aa, flags)
    return buffer, (gx >> 6) + rel_left, buffer.shape[0] - ((gy >> 6) + rel_top)


def line_origins(
    renderer: Any, x: float, y: float, pieces: Sequence[Piece]
) -> list[tuple[int, int]]:
    """Where :func:`draw_line` puts each piece: whole pixels, as ``draw_text`` takes them
    (``y`` counted down). The first piece at (x, y) rounded, the next ones at their advances
    rounded. Drawing each piece there with any renderer's ``draw_text`` gives the same pixels
    as :func:`draw_line` on Agg."""
    left, row = _anchor(x, y, renderer.get_canvas_width_height()[1])
    return [(left + shift, row) for shift in _shifts(pieces)]


def _anchor(x: float, y: float, height: float) -> tuple[int, float]:
    """The whole pixel a line starts at: ``x`` rounded, and the baseline's row (``y`` counted
    down from the top of a canvas ``height`` high) rounded."""
    return round(x), height - round(height - y)


def _shifts(pieces: Sequence[Piece]) -> list[int]:
    """Each piece's distance from the line's start: the advances before it, rounded."""
    shifts, offset = [], 0.0
    for _, advance in pieces:
        shifts.append(round(offset))
        offset += advance
    return shifts


def draw_line(
    renderer: RendererAgg,
    gc: Any,
    x: float,
    y: float,
    pieces: Sequence[Piece],
    prop: Any,
    *,
    prop_key: int | None = None,
) -> None:
    """Draw plain horizontal strings one after the other on an Agg renderer: ``(text,
    advance)`` pieces, the first at ``(x, y)`` (as ``draw_text`` takes them, y counted down),
    each next one ``advance`` pixels further right. Pieces of spaces only are skipped.

    Made for text redrawn every frame (step numbers, values): each piece is put at a whole
    pixel (:func:`line_origins`), so its glyphs always fall at the same sub-pixel places and
    a piece, and a whole line, drawn before cost one lookup. The glyphs are blended as
    ``RendererAgg.draw_text`` blends them, one by one; from a line's second drawing on, glyphs
    whose inks do not touch in one call (:func:`_blends`): the same pixels. ``prop_key`` is
    ``hash(prop)`` when the caller keeps it (hashing a font costs more than a cached line).
    """
    flags = get_hinting_flag()
    aa = gc.get_antialiased()
    font = (hash(prop) if prop_key is None else prop_key, renderer.dpi, aa, flags)
    key = (pieces if isinstance(pieces, tuple) else tuple(pieces), font)
    line = _LINES.get(key)
    if line is None and (line := _ONCE.pop(key, None)) is not None:
        _remember(_LINES, key, line := _blends(line))
    elif line is None:
        glyphs: list[_Glyph] = []
        for (s, _), shift in zip(pieces, _shifts(pieces), strict=True):
            if not s.isspace():
                piece = _PIECES.get((s, font))
                if piece is None:
                    piece = _piece(renderer, s, prop, aa, flags)
                    _remember(_PIECES, (s, font), piece)
                glyphs += [(buffer, left + shift, bottom) for buffer, left, bottom in piece]
        line = glyphs
        _remember(_ONCE, key, line)
    left0, top = _anchor(x, y, renderer.height)
    top = int(top)  # the baseline's row
    draw = renderer._renderer.draw_text_image  # noqa: SLF001
    for buffer, left, bottom in line:
        draw(buffer, left0 + left, top + bottom, 0, gc)


def _blends(glyphs: list[_Glyph]) -> list[_Glyph]:
    """``glyphs`` (in drawing order) as fewer bitmaps, each to blend in one call: runs of
    consecutive glyphs no two of which ink the same pixel, merged. Blending a pixel with
    coverage 0 leaves it as it was, so blending such a merged bitmap changes every pixel
    exactly as blending its glyphs one by one would."""
    out: list[_Glyph] = []
    group: list[_Glyph] = []
    inks: list[tuple[int, int, int, int]] = []
    box = (0, 0, 0, 0)  # the group's inked pixels lie in this box
    for glyph in glyphs:
        ink = _ink(glyph)
        if group and _meet(box, ink) and _touches(group, inks, glyph, ink):
            out.append(_merge(group))
            group, inks = [], []
        if group:
            box = (
                min(box[0], ink[0]),
                min(box[1], ink[1]),
                max(box[2], ink[2]),
                max(box[3], ink[3]),
            )
        else:
            box = ink
        group.append(glyph)
        inks.append(ink)
    if group:
        out.append(_merge(group))
    return out


def _meet(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two (x0, y0, x1, y1) boxes share a pixel."""
    return max(a[0], b[0]) < min(a[2], b[2]) and max(a[1], b[1]) < min(a[3], b[3])


def _span(glyph: _Glyph) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixels the glyph's bitmap covers (rows counted down)."""
    coverage, left, bottom = glyph
    h, w = coverage.shape
    return left, bottom - h, left + w, bottom


def _ink(glyph: _Glyph) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixels holding the glyph's nonzero coverage (rows counted down; an
    empty box if none), measured once per bitmap."""
    coverage, left, bottom = glyph
    kept = _INK.get(id(coverage))
    if kept is None or kept[0] is not coverage:
        rows, cols = np.nonzero(coverage.any(axis=1))[0], np.nonzero(coverage.any(axis=0))[0]
        box = (0, 0, 0, 0)
        if len(rows):
            box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        if len(_INK) > _MAX_CACHED:
            _INK.clear()
        kept = _INK[id(coverage)] = (coverage, box)  # the bitmap kept: its id stays its own
    x0, y0, x1, y1 = kept[1]
    top = bottom - coverage.shape[0]
    return left + x0, top + y0, left + x1, top + y1


def _touches(
    group: list[_Glyph], inks: list[tuple[int, int, int, int]], glyph: _Glyph, ink: tuple[int, ...]
) -> bool:
    """Whether ``glyph`` (inked in the box ``ink``) inks a pixel some glyph of ``group`` (inked
    in the boxes ``inks``) inks."""
    gx0, gy0, gx1, gy1 = _span(glyph)
    for other, other_ink in zip(group, inks, strict=True):
        if not _meet(ink, other_ink):
            continue  # their inked boxes do not meet
        ox0, oy0, ox1, oy1 = _span(other)
        x0, y0, x1, y1 = max(gx0, ox0), max(gy0, oy0), min(gx1, ox1), min(gy1, oy1)
        if x0 < x1 and y0 < y1:
            mine = glyph[0][y0 - gy0 : y1 - gy0, x0 - gx0 : x1 - gx0]
            theirs = other[0][y0 - oy0 : y1 - oy0, x0 - ox0 : x1 - ox0]
            if np.any((mine != 0) & (theirs != 0)):
                return True
    return False


def _merge(group: list[_Glyph]) -> _Glyph:
    """One bitmap holding the glyphs of ``group`` (which ink no pixel twice)."""
    if len(group) == 1:
        return group[0]
    spans = [_span(g) for g in group]
    x0, y0 = min(s[0] for s in spans), min(s[1] for s in spans)
    x1, y1 = max(s[2] for s in spans), max(s[3] for s in spans)
    image = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for (coverage, _, _), (gx0, gy0, gx1, gy1) in zip(group, spans, strict=True):
        area = image[gy0 - y0 : gy1 - y0, gx0 - x0 : gx1 - x0]
        np.maximum(area, coverage, out=area)
    return image, x0, y1


class _GlyphCachingRenderer(RendererAgg):
    """``RendererAgg`` that reuses text layouts and glyph bitmaps between frames.

    It does exactly what ``RendererAgg.draw_text`` does for plain horizontal text, but a glyph
    rendered at a given 1/64-pixel offset is kept and reused, so the pixels are identical.
    Fonts are looked up once per family, style and weight, not once per size as well.
    """

    def _prepare_font(self, font_prop):
        font = font_of(font_prop)
        font.clear()
        font.set_size(font_prop.get_size_in_points(), self.dpi)
        return font

    def _get_font_height_metrics(self, font_prop):
        # ``Text`` asks a renderer that has this method for a line's (ascent, descent, gap)
        # before looking the font up itself; the same tables and arithmetic as its own code
        # (in its order of operations: with 1000 units per em another order can differ by a bit)
        found = line_metrics(font_prop)
        if found is None:
            return None, None, None
        up, down, gap, units_per_em = found
        scale = 1 / units_per_em * font_prop.get_size_in_points() * self.dpi / 72
        return up * scale, -down * scale, gap * scale

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath or angle != 0:
            return super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        flags = get_hinting_flag()
        size = prop.get_size_in_points()
        aa = gc.get_antialiased()
        height = self.height
        top_of = int(height)
        draw = self._renderer.draw_text_image
        for ft, glyph, dx, dy in _layout(self, s, prop, mtext, flags):
            gx = round(0x40 * (x + dx))
            gy = round(0x40 * (height - y + dy))  # counted down from the canvas top
            buffer, left, bottom = _placed(self.dpi, ft, size, glyph, gx, gy, aa, flags)
            draw(buffer, left, top_of + bottom, 0, gc)
        return None

    def pixel_array(self) -> np.ndarray:
        """The canvas as a writable (height, width, 4) uint8 array (rows top down): an opaque
        bitmap can be copied in instead of blended (see ``PixelImage``)."""
        pixels = self.__dict__.get("_pixel_array")
        if pixels is None:
            pixels = self._pixel_array = np.asarray(self.buffer_rgba())
        return pixels

    def get_text_width_height_descent(self, s, prop, ismath):
        key = (s, hash(prop), self.dpi, ismath)
        m = _METRICS.get(key)
        if m is None:
            if ismath is False:
                m = _measure(self, s, prop)
            else:
                m = super().get_text_width_height_descent(s, prop, ismath)
            _remember(_METRICS, key, m)
        return m


def _measure(renderer: RendererAgg, s: str, prop: Any) -> tuple[float, float, float]:
    """``RendererAgg.get_text_width_height_descent`` of plain text, keeping the layout it
    made for drawing the same string (see :func:`_layout_of`)."""
    flags = get_hinting_flag()
    font = renderer._prepare_font(prop)  # noqa: SLF001
    xys = font.set_text(s, 0.0, flags=flags)
    w, h = font.get_width_height()  # width and height of unrotated string
    d = font.get_descent()
    items = _layout_of(font, s, xys)
    if items is not None:
        _remember(_LAYOUTS, _layout_key(renderer, s, prop, flags), items)
    return w / 64.0, h / 64.0, d / 64.0


# Laying a string out with FreeType costs ~20 us a glyph (each glyph is loaded and hinted), and
# a label is laid out twice: measured (``set_text``, which gives its glyphs' positions), then
# drawn (``_layout``, which gives the same positions with each glyph's font and index). For the
# bundled DejaVu fonts and these characters, whose shaping maps each character to its own glyph
# (checked against ``_layout`` by the tests), the measurement's positions give the layout.
_SHAPED_ONE_TO_ONE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~×±Δ·…"
)
_DEJAVU = frozenset({"DejaVuSans.ttf", "DejaVuSans-Bold.ttf"})
_AT_ORIGIN = np.zeros((1, 2))


def _layout_of(font: Any, s: str, xys: Any) -> list[tuple[Any, int, float, float]] | None:
    """The ``_layout`` items of ``s`` from the glyph positions ``set_text`` returned, when
    those are known to be the same (see above); None otherwise."""
    if len(xys) != len(s) or not _SHAPED_ONE_TO_ONE.issuperset(s):
        return None
    path = Path(font.fname)
    if path.name not in _DEJAVU or path.parent != _MPL_FONTS:
        return None
    items = []
    for c, (x, y) in zip(s, xys.tolist(), strict=True):
        index = font.get_char_index(ord(c))
        if not index:
            return None
        items.append((font, index, x / 64.0, y / 64.0))
    return items


class _GlyphCachingCanvas(FigureCanvasAgg):
    """Agg canvas whose renderer caches glyphs (see :class:`_GlyphCachingRenderer`)."""

    def get_renderer(self):
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = _GlyphCachingRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer


def agg_canvas(fig: Figure) -> FigureCanvasAgg:
    """An Agg canvas for ``fig``: glyph-caching when :func:`enabled`, else the plain one."""
    if enabled():
        return _GlyphCachingCanvas(fig)
    return FigureCanvasAgg(fig)


def measuring_renderer(dpi: float) -> RendererAgg:
    """A tiny renderer that only measures text at ``dpi``: the glyph-caching one when
    :func:`enabled` (its measurements are then shared with the canvases that draw the same
    strings), else plain Agg. Both measure alike."""
    if enabled():
        return _GlyphCachingRenderer(8, 8, dpi)
    return RendererAgg(8, 8, dpi)
