"""The browser player: scrub, step and play runs in the page with no server round trip.

- :mod:`.payload` (no Streamlit): the binary payload of a run's per-step numbers;
- :mod:`.strips` and :mod:`.pixels` (no Streamlit): the lossless PNG frame strips;
- :mod:`.component`: the Streamlit custom component (imports Streamlit; import it from pages).
"""

from __future__ import annotations

from .payload import build_payload, image_part, pack, unpack
from .strips import StripPlan, plan_for, strip_files

__all__ = [
    "StripPlan",
    "build_payload",
    "image_part",
    "pack",
    "plan_for",
    "strip_files",
    "unpack",
]
