"""Helpers for e2e tests of the browser player: wait for it, read its table and its pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from animlib.player.pixels import display_u8
from animlib.text import unique_names

PLAYER = "[data-testid='animlib-player']"

READ_TABLE = """
(run) => {
  const sel = run === null ? '[data-testid="animlib-step-table"]'
    : `[data-testid="animlib-step-table"][data-run="${CSS.escape(run)}"]`;
  const t = document.querySelector(sel);
  if (!t) return null;
  const rows = [...t.querySelectorAll('tbody tr')].filter((r) => !r.hidden)
    .map((r) => [...r.cells].map((c) => c.textContent));
  return {step: t.dataset.step, rows};
}
"""

READ_PIXELS = """
(sel) => {
  const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  return {step: c.dataset.step, w: c.width, h: c.height, data: Array.from(d)};
}
"""


def open_player(page, url: str, timeout: float = 120_000) -> None:
    """Open ``url`` and wait until the player shows its first frame (or has no images)."""
    page.goto(url)
    page.wait_for_selector(PLAYER, timeout=timeout)
    page.wait_for_function(
        """() => [...document.querySelectorAll('canvas[data-testid="animlib-image"]')]
                 .every((c) => c.dataset.step !== undefined)""",
        timeout=timeout,
    )
    page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=timeout)


def shown_step(page) -> int:
    return int(page.get_attribute(PLAYER, "data-step"))


def table(page, run: str | None = None) -> tuple[int, list[list[str]]]:
    """(step the table shows, rows of [class, confidence, rank, role])."""
    got = page.evaluate(READ_TABLE, run)
    assert got is not None, "no step table"
    return int(got["step"]), got["rows"]


def _role(run: Any, k: int) -> str:
    roles = []
    if k == run.true_label:
        roles.append("true")
    if k == run.target_label:
        roles.append("target")
    return ", ".join(roles)


def step_table(run: Any, step: int, top_k: int = 10) -> pd.DataFrame:
    """The player's step table as the server once drew it (the reference the browser's is
    checked against): top-k classes at ``step`` (plus true/target), confidence, rank, role."""
    conf = run.confidences[step]
    names = unique_names(run.class_names)
    order = list(np.argsort(-conf, kind="stable")[:top_k])
    for label in (run.true_label, run.target_label):
        if label is not None and label not in order:
            order.append(label)
    argmax = int(conf.argmax())
    rows = []
    for k in order:
        role = _role(run, int(k))
        if int(k) == argmax:
            role = ", ".join(filter(None, [role, "argmax"]))
        rows.append(
            {
                "class": str(names[k]),
                "confidence": f"{float(conf[k]):.4f}",
                "rank": int((conf > conf[k]).sum()) + 1,
                "role": role,
            }
        )
    return pd.DataFrame(rows).set_index("class")


def expected_rows(run, step: int, top_k: int = 10) -> list[list[str]]:
    """The rows the old server-side step table showed for ``step`` (same order and text)."""
    frame = step_table(run, step, top_k=top_k)
    return [[name, r["confidence"], str(r["rank"]), r["role"]] for name, r in frame.iterrows()]


def wait_frame(page, step: int, selector: str = "canvas[data-testid='animlib-image']") -> None:
    page.wait_for_function(
        "([sel, s]) => document.querySelector(sel)?.dataset.step === String(s)",
        arg=[selector, step],
        timeout=30_000,
    )


def pixels(page, selector: str = "canvas[data-testid='animlib-image']") -> tuple[int, np.ndarray]:
    """(stored step drawn, RGBA pixels) of a player canvas."""
    got = page.evaluate(READ_PIXELS, selector)
    rgba = np.asarray(got["data"], np.uint8).reshape(got["h"], got["w"], 4)
    return int(got["step"]), rgba


def expected_pixels(image) -> np.ndarray:
    """RGBA the canvas must hold for a stored RGB image."""
    rgb = display_u8(image)
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def status_probe(page) -> None:
    """Start recording whether Streamlit's status widget (a script rerun) ever appears."""
    page.evaluate(
        """() => {
          window.__reruns = 0;
          const seen = () => {
            if (document.querySelector('[data-testid="stStatusWidget"]')) window.__reruns += 1;
          };
          new MutationObserver(seen).observe(document.body, {subtree: true, childList: true});
        }"""
    )


def reruns_seen(page) -> int:
    return int(page.evaluate("() => window.__reruns"))
