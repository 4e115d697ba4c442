"""Measuring and fitting text: widths in layout units, font metrics, readout advances."""

# Widths are measured the way the text is drawn: :func:`text_width` as ``Text`` lays a string out,
# :func:`readout_width` as :class:`~animlib.figure.artists.Readout` places its pieces. A string cut
# to fit always ends in an ellipsis, so a cut label never reads as another one.

from __future__ import annotations

import functools
import re

from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
from matplotlib.font_manager import FontProperties

from ..glyphs import font_of, line_metrics, measuring_renderer
from ..text import one_line
from .style import REF_DPI

__all__ = [
    "ELLIPSIS",
    "advance",
    "clear_caches",
    "cut",
    "fit",
    "fit_readout",
    "font_metrics",
    "ink_extent",
    "readout_pieces",
    "readout_width",
    "text_width",
]

ELLIPSIS = "…"
# how a readout splits its text: digits and signs one by one, runs of spaces, words whole
READOUT_TOKENS = re.compile(r"[0-9.,:%()+\-]| +|[^0-9.,:%()+\- ]+")


@functools.lru_cache(maxsize=8)
def measure_renderer(dpi: float) -> RendererAgg:
    """A tiny Agg renderer used only to measure text at ``dpi`` (see
    :func:`~animlib.glyphs.measuring_renderer`)."""
    return measuring_renderer(dpi)


@functools.lru_cache(maxsize=4096)
def text_width(text: str, size: float, weight: str = "normal", dpi: float = REF_DPI) -> float:
    """Width of ``text`` as ``Text`` draws it at ``dpi``, in layout units (pixels at 100 dpi)."""
    if not text:
        return 0.0
    prop = FontProperties(size=size, weight=weight)
    w, _, _ = measure_renderer(dpi).get_text_width_height_descent(text, prop, ismath=False)
    return float(w) * REF_DPI / dpi


def cut(text: str, keep: int, middle: bool = False) -> str:
    """``text`` with ``keep`` of its characters and an ellipsis: its start, or with ``middle``
    its start and its end (class names that share a long prefix stay told apart)."""
    if len(text) <= keep:
        return text
    head = (keep + 1) // 2 if middle else keep
    tail = text[len(text) - (keep - head) :].lstrip() if keep > head else ""
    return text[:head].rstrip() + ELLIPSIS + tail


@functools.lru_cache(maxsize=4096)
def fit(
    text: str, max_width: float, size: float, weight: str = "normal", middle: bool = False
) -> str:
    """``text`` on one line, cut with an ellipsis (at its end, or with ``middle`` in its
    middle: see :func:`cut`) until at most ``max_width`` layout units wide."""
    text = one_line(text)
    if text_width(text, size, weight) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the most characters that fit together with the ellipsis
        mid = (lo + hi + 1) // 2
        if text_width(cut(text, mid, middle), size, weight) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return cut(text, lo, middle) if lo else ELLIPSIS


@functools.lru_cache(maxsize=64)
def font_metrics(size: float, weight: str, dpi: float) -> tuple[float, float]:
    """(ascent, descent) of a line of text in pixels: the font's typographic metrics, which is
    what ``Text`` centres a line of plain text on."""
    prop = FontProperties(size=size, weight=weight)
    found = line_metrics(prop)
    if found is not None:
        up, down, _, units_per_em = found
        scale = size * dpi / 72.0 / units_per_em
        return up * scale, -down * scale
    _, h, d = measure_renderer(dpi).get_text_width_height_descent("lp", prop, ismath=False)
    return h - d, d


@functools.lru_cache(maxsize=64)
def ink_extent(text: str, size: float, weight: str, dpi: float) -> tuple[float, float]:
    """(top, bottom) in pixels (y up) of the ink of ``text`` drawn as a
    :class:`~animlib.figure.artists.Readout` draws a line centred on y = 0."""
    ascent, descent = font_metrics(size, weight, dpi)
    baseline = (descent - ascent) / 2
    prop = FontProperties(size=size, weight=weight)
    _, h, d = measure_renderer(dpi).get_text_width_height_descent(text, prop, ismath=False)
    return float(baseline + h - d), float(baseline - d)


@functools.lru_cache(maxsize=8192)
def advance(token: str, size: float, weight: str, dpi: float) -> float:
    """Horizontal room of a token in pixels: the font's advance for one character it has (or a
    run of spaces), the measured width for a word or a character it lacks."""
    prop = FontProperties(size=size, weight=weight)
    if len(token) == 1 or token.isspace():
        font = font_of(prop)
        if font.get_char_index(ord(token[0])):
            font.set_size(size, dpi)
            glyph = font.load_char(ord(token[0]), flags=get_hinting_flag())
            return len(token) * glyph.horiAdvance / 64.0
    # a word, or a character the font lacks (CJK, emoji: drawn from a fallback font or as a
    # box, as the measurement says)
    w, _, _ = measure_renderer(dpi).get_text_width_height_descent(token, prop, ismath=False)
    return float(w)


@functools.lru_cache(maxsize=8192)
def readout_pieces(
    text: str, size: float, weight: str, dpi: float
) -> tuple[tuple[str, float], ...]:
    """The pieces a readout draws for ``text``, each with its advance in pixels."""
    return tuple((t, advance(t, size, weight, dpi)) for t in READOUT_TOKENS.findall(text))


def readout_width(text: str, size: float, weight: str, dpi: float) -> float:
    """Width in pixels of ``text`` as a readout draws it at ``dpi``."""
    return sum(w for _, w in readout_pieces(text, size, weight, dpi))


@functools.lru_cache(maxsize=8192)
def fit_readout(name: str, suffix: str, max_px: float, size: float, weight: str, dpi: float) -> str:
    """``name + suffix`` as a readout draws it, the name (a class name) cut in its middle with
    an ellipsis until the whole is at most ``max_px`` pixels wide (measured on the real text
    at the real dpi)."""
    name = one_line(name)
    if readout_width(name + suffix, size, weight, dpi) <= max_px:
        return name + suffix
    lo, hi = 0, len(name)
    while lo < hi:  # the most characters that fit together with the ellipsis and the suffix
        mid = (lo + hi + 1) // 2
        if readout_width(cut(name, mid, True) + suffix, size, weight, dpi) <= max_px:
            lo = mid
        else:
            hi = mid - 1
    return cut(name, lo, True) + suffix if lo else ELLIPSIS + suffix


def clear_caches() -> None:
    """Forget every measured width (as in a fresh process; for benchmarks)."""
    for cached in (
        measure_renderer,
        text_width,
        fit,
        font_metrics,
        ink_extent,
        advance,
        readout_pieces,
        fit_readout,
    ):
        cached.cache_clear()
