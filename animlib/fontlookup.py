"""The font properties matplotlib's font lookup is asked with: one size for scalable fonts."""

from __future__ import annotations

from matplotlib.font_manager import FontProperties, fontManager

__all__ = ["LOOKUP_SIZE", "font_lookup"]

LOOKUP_SIZE = 10.0  # the size a lookup is asked at when it plays no part in the match


def font_lookup(prop: FontProperties) -> FontProperties:
    """``prop`` as matplotlib's font lookup (``findfont``) needs it: at one fixed size when every
    installed TrueType font is scalable, since the size then plays no part in which file is
    picked; else ``prop`` itself. matplotlib caches lookups by every property, the size too,
    and each miss scores every installed font (~4 ms here): a figure's labels at five sizes
    and two weights cost ten misses instead of two."""
    if prop.get_size() == LOOKUP_SIZE or prop.get_file() is not None:
        return prop
    if any(entry.size != "scalable" for entry in fontManager.ttflist):
        return prop
    lookup = prop.copy()
    lookup.set_size(LOOKUP_SIZE)
    return lookup
