"""The player as a Streamlit custom component (components v2: plain JS and CSS, no Node build)."""

# How data reaches the browser, once per run and never per step:
# - the numbers (top-k classes, confidences, ranks, curves) travel in one binary payload
#   (:mod:`animlib.player.payload`, 146 KB for 1,000 steps x top-10 of 1,000 classes) as the
#   component's ``data``: components v2 hand ``bytes`` to the JS as a ``Uint8Array`` over the app's
#   own WebSocket, and Streamlit's message cache re-sends only a reference on a rerun;
# - the images are PNG strips (:mod:`animlib.player.strips`) in the render cache's local folder
#   (:func:`animlib.cache.cache_dir`: the cache itself, or with a shared cache on object storage the
#   machine's own folder beside it: strips are cheap to rebuild and the media store needs local
#   files, so they are not shared), registered with Streamlit's media file manager (the store behind
#   ``st.image``), so the browser fetches each strip over HTTP from the dashboard's own ``/media/``
#   route when it is about to be shown. The media store keeps a registered file in memory while a
#   session shows it (shared by all sessions showing the same run): 136 MB for a 1,000-step 224x224
#   RGB run with +-1/255 noise per step (less for smoother images). Stepping, playing and the URL's
#   ``step=`` (``history.replaceState``) are all in the browser: the component sends nothing back,
#   so it never triggers a rerun.

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.components.v2 import component

from ..cache import cache_dir, evict
from ..cache.keys import strips_key
from ..cache.unwritable import cache_unwritable
from ..errors import StoreError
from ..options import RenderOptions
from .payload import build_payload, image_part
from .strips import MEMORY, StripFiles, strip_files

ASSETS = Path(__file__).with_name("assets")
JS_FILES = ("format.js", "frames.js", "curves.js", "table.js", "player.js")
NAME = "animlib_player"


def _asset_text() -> tuple[str, str]:
    js = "\n".join((ASSETS / name).read_text(encoding="utf-8") for name in JS_FILES)
    css = (ASSETS / "player.css").read_text(encoding="utf-8")
    return js, css


_JS, _CSS = _asset_text()
_mount = component(NAME, js=_JS, css=_CSS, isolate_styles=False)


def _media_url(path: Path | bytes, coordinates: str) -> str:
    """Register a file (or bytes) with the media store (as ``st.image`` does); its URL."""
    from streamlit import runtime

    data = path if isinstance(path, bytes) else str(path)
    url = runtime.get_instance().media_file_mgr.add(data, "image/png", coordinates)
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{url}" if base and url.startswith("/") else url


def _strips(run: Any, amplification: float | None, label: str) -> tuple[StripFiles, str | None]:
    """The run's strips, and a note if the cache folder cannot be written (then the strips
    are kept in memory: :data:`~animlib.player.strips.MEMORY`)."""
    bar = st.progress(0.0, text=f"preparing frames of {label}…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"preparing frames of {label}: {done}/{total}")

    note = None
    try:
        key = strips_key(run)

        def make(where: Any) -> StripFiles:
            return strip_files(run, where, key, amplification=amplification, progress=progress)

        try:
            files = make(cache_dir())
        except (OSError, StoreError) as exc:  # (its disk full too: the strips in memory)
            if (note := cache_unwritable(exc)) is None:
                raise
            files = make(MEMORY)
    finally:
        bar.empty()
    return files, note


def _image_header(files: StripFiles, where: str) -> dict[str, Any]:
    urls = [_media_url(p, f"{where}.i{i}") for i, p in enumerate(files.images)]
    perts = None
    if files.perturbations is not None:
        perts = [_media_url(p, f"{where}.p{i}") for i, p in enumerate(files.perturbations)]
    original = _media_url(files.original, f"{where}.o") if files.original else None
    return image_part(files.plan, files.gain, urls, perts, original)


@st.cache_data(show_spinner=False, max_entries=32)
def _payload(keys: tuple, images: str, top_k: int, fps: float, mode: str, _runs: Any) -> bytes:
    """:func:`build_payload`, once per runs' content and options (a top-k sort of 1,000 x
    1,000 confidences takes ~0.3 s)."""
    return build_payload(_runs, json.loads(images), top_k=top_k, fps=fps, mode=mode)


def player(
    runs: Sequence[Any],
    *,
    key: str,
    top_k: int = 10,
    fps: float = 10.0,
    amplification: float | None = None,
    mode: str = "viewer",
) -> str | None:
    """Show the player for one run (``mode="viewer"``) or 2-6 runs (``"compare"``); the options
    are checked as :class:`~animlib.options.RenderOptions` checks them (the same messages).

    Returns:
        A note for the page when the cache folder cannot be written (the frames are then kept
        in memory: the player works), else None.
    """
    top_k, fps = RenderOptions.check("top_k", top_k), RenderOptions.check("fps", fps)
    amplification = RenderOptions.check("amplification", amplification)
    images, notes = [], set()
    for i, run in enumerate(runs):
        label = run.name if len(runs) == 1 else f"{run.name} ({i + 1}/{len(runs)})"
        files, note = _strips(run, amplification, label)
        notes.add(note)
        images.append(_image_header(files, f"{NAME}.{key}.{i}"))
    if None in notes:
        evict()  # after registering: the media store holds the strips this page shows
    keys = tuple((run.id, run.fingerprint) for run in runs)
    data = _payload(keys, json.dumps(images), top_k, float(fps), mode, runs)
    _mount(key=key, data=data, width="stretch", height="content")
    return min(notes - {None}, default=None)
