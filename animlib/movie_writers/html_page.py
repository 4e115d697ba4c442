"""A standalone HTML page: the MP4 embedded in a seekable ``<video>`` with frame stepping."""

from __future__ import annotations

import base64
import html
import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from .base import Changed, MovieWriter, register_writer
from .ffmpeg import MP4Writer

__all__ = ["HTMLWriter", "page_html", "write_page"]

_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; media-src data: blob:; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #222; }}
h1 {{ font-size: 1.15rem; margin: 0 0 4px; }}
p.meta {{ margin: 0 0 10px; color: #555; font-size: 0.9rem; }}
video {{ max-width: 100%; height: auto; display: block; background: #fff; }}
.controls {{ margin-top: 8px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }}
button {{ font: inherit; padding: 2px 10px; }}
#readout {{ font-variant-numeric: tabular-nums; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">{comment}</p>
<video id="video" controls loop muted playsinline preload="auto" width="{width}" height="{height}">
<source type="video/mp4" src="data:video/mp4;base64,{data}">
Your browser cannot play this MP4 video.
</video>
<div class="controls">
<button type="button" id="prev" title="previous frame">&#9664; prev</button>
<button type="button" id="play" title="play / pause">play / pause</button>
<button type="button" id="next" title="next frame">next &#9654;</button>
<span id="readout">frame 1/{frames}</span>
</div>
<script>
(function () {{
  var cfg = {config};
  var v = document.getElementById("video");
  var out = document.getElementById("readout");
  function frameAt(t) {{
    return Math.max(0, Math.min(cfg.frames - 1, Math.floor(t * cfg.fps + 1e-3)));
  }}
  function show(f) {{
    var step = Math.min(f * cfg.stride, cfg.steps - 1);
    out.textContent = "frame " + (f + 1) + "/" + cfg.frames +
      " \u00b7 step " + step + " of " + (cfg.steps - 1);
  }}
  function seek(f) {{
    f = Math.max(0, Math.min(cfg.frames - 1, f));
    v.pause();
    var t = (f + 0.5) / cfg.fps;
    // (Chromium: a seek to the time the video is at, in its last frame, went to 0: "next" on
    // the last frame showed frame 1)
    if (Math.abs(v.currentTime - t) > 1e-6) {{ v.currentTime = t; }}
    show(f);
  }}
  function current() {{ return frameAt(v.currentTime); }}
  function on(id, fn) {{ document.getElementById(id).addEventListener("click", fn); }}
  ["timeupdate", "seeked", "loadeddata"].forEach(function (e) {{
    v.addEventListener(e, function () {{ show(current()); }});
  }});
  if (v.requestVideoFrameCallback) {{
    var onFrame = function (now, m) {{
      show(frameAt(m.mediaTime));
      v.requestVideoFrameCallback(onFrame);
    }};
    v.requestVideoFrameCallback(onFrame);
  }}
  on("prev", function () {{ seek(current() - 1); }});
  on("next", function () {{ seek(current() + 1); }});
  on("play", function () {{ if (v.paused) {{ v.play(); }} else {{ v.pause(); }} }});
  document.addEventListener("keydown", function (e) {{
    if (e.key === "ArrowLeft" || e.key === ",") {{ seek(current() - 1); e.preventDefault(); }}
    if (e.key === "ArrowRight" || e.key === ".") {{ seek(current() + 1); e.preventDefault(); }}
  }});
}})();
</script>
</body>
</html>
"""


def _int_meta(metadata: dict[str, Any], key: str, default: int) -> int:
    try:
        value = int(metadata.get(key, default))
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def page_html(
    video: bytes, size: tuple[int, int], fps: float, frames: int, metadata: dict[str, Any]
) -> str:
    """The page of an MP4 ``video`` of ``frames`` frames of ``size`` (width, height) at ``fps``,
    titled from ``metadata`` (``title``, ``comment``, ``steps``, ``stride``; HTML-escaped)."""
    steps = _int_meta(metadata, "steps", frames)
    stride = _int_meta(metadata, "stride", 1)
    config = json.dumps({"fps": fps, "frames": frames, "steps": steps, "stride": stride})
    w, h = size
    return _HTML.format(
        title=html.escape(str(metadata.get("title") or "animlib run"), quote=True),
        comment=html.escape(str(metadata.get("comment") or ""), quote=True),
        width=w,
        height=h,
        frames=frames,
        data=base64.b64encode(video).decode("ascii"),
        config=config,
    )


def write_page(
    video: Path,
    path: Path,
    *,
    size: tuple[int, int],
    fps: float,
    frames: int,
    metadata: dict[str, Any],
) -> Path:
    """Write the page of the MP4 file ``video`` (as :func:`page_html`) to ``path``, which
    appears complete or not at all: the page an :class:`HTMLWriter` makes of the same frames,
    without drawing or encoding them again."""
    page = page_html(video.read_bytes(), size, fps, frames, metadata)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@register_writer
class HTMLWriter(MovieWriter):
    """Standalone HTML page with the MP4 embedded as base64 in a seekable ``<video controls>``,
    frame-step buttons and a step read-out. Every string from ``metadata`` is HTML-escaped.

    Extra metadata keys read: ``steps`` and ``stride`` (for the step read-out).
    Options are passed on to :class:`MP4Writer` (``bitrate``, ``crf``, ``preset``).
    """

    name = "html"
    suffixes = (".html", ".htm")
    mime = "text/html"

    @classmethod
    def available(cls) -> bool:
        return MP4Writer.available()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._video = MP4Writer(**options)
        self._video_path: Path | None = None

    def _open(self) -> None:
        assert self.tmp_path is not None
        self._video_path = self.tmp_path.with_suffix(".mp4")
        self._video.setup(
            self._video_path, self.size, self.fps, self.metadata, self.channels or None
        )

    def _write_changed(self, rgb: np.ndarray, changed: Changed | None) -> None:
        self._video.grab_frame(rgb, changed=changed)

    def _close(self) -> None:
        video_path = self._video.finish()
        try:
            video = video_path.read_bytes()
        finally:
            video_path.unlink(missing_ok=True)
        assert self.tmp_path is not None
        page = page_html(video, self.size, self.fps, self.frame_count, self.metadata)
        self.tmp_path.write_text(page, encoding="utf-8")

    def _cleanup(self) -> None:
        self._video.abort()
        if self._video_path is not None:
            self._video_path.unlink(missing_ok=True)
