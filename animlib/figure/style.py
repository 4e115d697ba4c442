"""The look of a run figure: colours, fonts and the layout grid (in pixels at 100 dpi)."""

from __future__ import annotations

# Colours of the confidence bars and the prediction.
TRUE_COLOR = "#2e8540"
TARGET_COLOR = "#d9480f"
OTHER_COLOR = "#a9b4c2"
ARGMAX_OTHER_COLOR = "#3b6fb6"
ARGMAX_EDGE = "#111111"
OK_TEXT = "#1d6b2f"
FLIPPED_TEXT = "#c0262d"
TEXT_COLOR = "#222222"
MUTED_TEXT = "#444444"
PLACEHOLDER_TEXT = "#8a8f98"
GRID_COLOR = "#e4e7eb"
SPINE_COLOR = "#555555"
RULE_COLOR = "#d0d4da"  # the line between the rows of a comparison

# Layout, in pixels at 100 dpi ("layout units"); the output scales with the dpi.
REF_DPI = 100.0
MARGIN = 10  # left / right
TOP = 4
HEADER_H = 28  # row header: run name (static) and step / prediction (dynamic)
TITLE_H = 22  # panel titles
BOTTOM_H = 30  # below the panels: x tick labels of the confidence bars
ROW_GAP = 10
GAP = 16  # between panels
LABEL_W = 132  # class-name tick labels of the bar panel
BAR_MIN_W = 230
BAR_MAX_W = 560
MAX_IMG = 360
MIN_IMG = 96

FONT_HEADER = 11.0
FONT_TITLE = 10.0
FONT_TICK = 8.5
FONT_VALUE = 8.0

# The panels of a row, left to right; a row shows those its run has data for.
IMAGE_PANELS = ("original", "adversarial", "perturbation")
BARS = "bars"
PANELS = (*IMAGE_PANELS, BARS)
