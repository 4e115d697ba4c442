"""Movie writers (MP4, WebM, GIF, standalone HTML): one RGB frame at a time, written atomically.

``get_writer("mp4")`` / ``writer_for_path("x.gif")`` pick a :class:`MovieWriter` from the registry
by format name or suffix; a new format is one small subclass with :func:`register_writer`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import imageio_ffmpeg
import numpy as np
from PIL import Image

from .errors import Code, RenderError, RenderOptionError
from .limits import check_gif_frames
from .options import RenderOptions

__all__ = [
    "GIFWriter",
    "HTMLWriter",
    "MP4Writer",
    "MovieWriter",
    "WebMWriter",
    "available_formats",
    "ffmpeg_encoders",
    "get_writer",
    "register_writer",
    "unregister_writer",
    "writer_for_path",
]

_REGISTRY: dict[str, type[MovieWriter]] = {}


def _registry_key(fmt: str) -> str:
    return str(fmt).lower().lstrip(".")


def register_writer(cls: type[MovieWriter]) -> type[MovieWriter]:
    """Class decorator: make ``cls`` available under its ``name`` and ``suffixes``."""
    for key in (cls.name, *cls.suffixes):
        _REGISTRY[_registry_key(key)] = cls
    return cls


def unregister_writer(cls: type[MovieWriter]) -> None:
    """Remove ``cls`` from the registry (its name and suffixes)."""
    for key in (cls.name, *cls.suffixes):
        if _REGISTRY.get(_registry_key(key)) is cls:
            del _REGISTRY[_registry_key(key)]


def available_formats() -> list[str]:
    """Formats that can be written on this machine, e.g. ``["gif", "html", "mp4", "webm"]``."""
    return sorted({cls.name for cls in _REGISTRY.values() if cls.available()})


def get_writer(fmt: str, **kwargs: Any) -> MovieWriter:
    """A new writer for format name or suffix ``fmt`` (``"mp4"``, ``".gif"``, ...)."""
    cls = _REGISTRY.get(_registry_key(fmt))
    if cls is None or not cls.available():
        raise RenderOptionError(
            f"unsupported output format {fmt!r}; available: {', '.join(available_formats())}",
            field="format",
            code=Code.UNSUPPORTED,
        )
    return cls(**kwargs)


def writer_for_path(path: str | os.PathLike[str], **kwargs: Any) -> MovieWriter:
    """A new writer chosen by the suffix of ``path``."""
    suffix = Path(path).suffix
    if not suffix:
        raise RenderOptionError(
            f"cannot tell the format of {str(path)!r}: give it a suffix "
            f"({', '.join('.' + f for f in available_formats())})",
            field="format",
        )
    return get_writer(suffix, **kwargs)


class MovieWriter:
    """Base class of the movie writers, in the style of matplotlib's ``MovieWriter``.

    ``setup(path, size, fps, metadata)``, then ``grab_frame(rgb)`` per frame, then ``finish()``.
    Frames go to a temporary file next to ``path``, renamed over ``path`` only by ``finish()``,
    so a crash never leaves a half-written file under the final name. ``abort()`` (also run by
    :meth:`saving` on an exception) removes the temporary file. Subclasses implement
    ``_open``, ``_write`` and ``_close`` (and set ``name``/``suffixes``/``mime``).
    """

    name: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()
    mime: ClassVar[str] = "application/octet-stream"

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.path: Path | None = None
        self.tmp_path: Path | None = None
        self.size: tuple[int, int] = (0, 0)
        self.fps: float = 0.0
        self.metadata: dict[str, Any] = {}
        self.frame_count = 0
        self.channels = 0  # 3 (RGB) or 4 (RGBA), fixed by the first frame

    @classmethod
    def available(cls) -> bool:
        """Whether this format can be written here (e.g. the encoder exists)."""
        return True

    # -- public protocol --------------------------------------------------------------------------
    def setup(
        self,
        path: str | os.PathLike[str],
        size: tuple[int, int],
        fps: float,
        metadata: dict[str, Any] | None = None,
        channels: int | None = None,
    ) -> None:
        """Start writing ``size = (width, height)`` frames at ``fps`` to ``path``.

        ``channels`` (3 for RGB, 4 for RGBA), when known in advance, lets an encoder start at
        once (overlapping its start-up with the caller's); otherwise the first frame decides.
        """
        w, h = (int(v) for v in size)
        if channels not in (None, 3, 4):
            raise RenderOptionError(f"must be 3 or 4, got {channels!r}", field="channels")
        if w <= 0 or h <= 0:
            raise RenderOptionError(f"must be positive, got {size!r}", field="size")
        fps = RenderOptions.check("fps", fps)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size, self.fps = (w, h), float(fps)
        self.metadata = dict(metadata or {})
        self.frame_count = 0
        self.channels = channels or 0
        self.tmp_path = self.path.with_name(
            f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp{self.path.suffix}"
        )
        try:
            self._open()
        except BaseException:
            self.abort()
            raise

    def grab_frame(self, rgb: np.ndarray) -> None:
        """Append one ``(height, width, 3)`` uint8 RGB frame.

        ``(height, width, 4)`` RGBA (e.g. an Agg canvas buffer) is accepted too, alpha ignored;
        every frame of one file must have the same number of channels.
        """
        if self.tmp_path is None:
            raise RenderError("grab_frame() before setup()")
        frame = np.asarray(rgb)
        w, h = self.size
        channels = self.channels or (frame.shape[2] if frame.ndim == 3 else 3)
        if frame.shape != (h, w, channels) or frame.dtype != np.uint8 or channels not in (3, 4):
            raise RenderError(
                f"expected a ({h}, {w}, 3) uint8 frame, got {frame.shape} {frame.dtype}",
                field="frame",
            )
        self.channels = channels
        self._write(np.ascontiguousarray(frame))
        self.frame_count += 1

    def finish(self) -> Path:
        """Close the file and move it to its final name; returns that path."""
        if self.tmp_path is None or self.path is None:
            raise RenderError("finish() before setup()")
        if self.frame_count == 0:
            self.abort()
            raise RenderError(f"no frames were written to {str(self.path)!r}", code=Code.EMPTY)
        try:
            self._close()
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self.tmp_path = None
        return self.path

    def abort(self) -> None:
        """Stop and delete the temporary file (safe to call more than once)."""
        with contextlib.suppress(Exception):
            self._cleanup()
        if self.tmp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.tmp_path.unlink()
        self.tmp_path = None

    @contextlib.contextmanager
    def saving(
        self,
        path: str | os.PathLike[str],
        size: tuple[int, int],
        fps: float,
        metadata: dict[str, Any] | None = None,
        channels: int | None = None,
    ) -> Iterator[MovieWriter]:
        """``with writer.saving(path, size, fps): writer.grab_frame(...)`` -- finish or abort."""
        self.setup(path, size, fps, metadata, channels)
        try:
            yield self
        except BaseException:
            self.abort()
            raise
        self.finish()

    # -- for subclasses ---------------------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _write(self, rgb: np.ndarray) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Release resources after a failure (the temporary file is removed by the caller)."""


# ------------------------------------------------------------------------------------ ffmpeg based


@functools.lru_cache(maxsize=1)
def ffmpeg_encoders() -> frozenset[str]:
    """Names of the video encoders of the bundled ffmpeg (empty if it cannot be run)."""
    try:
        out = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-encoders"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return frozenset()
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0].startswith("V"):
            names.add(parts[1])
    return frozenset(names)


_METADATA_KEYS = ("title", "artist", "comment", "description", "copyright", "genre")


def _meta_value(value: Any) -> str:
    return str(value).replace("\x00", "")[:1000]


class FFmpegWriter(MovieWriter):
    """Pipes raw RGB frames into the ffmpeg from ``imageio-ffmpeg``; subclasses pick the codec.

    Options: ``bitrate`` (kbit/s; default: constant quality ``crf``), ``crf``, ``extra_args``.
    """

    encoder: ClassVar[str] = ""
    container: ClassVar[str] = ""

    @classmethod
    def available(cls) -> bool:
        return cls.encoder in ffmpeg_encoders()

    def codec_args(self) -> list[str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        w, h = self.size
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgba" if self.channels == 4 else "rgb24",
            "-s",
            f"{w}x{h}",
            "-framerate",
            f"{self.fps:g}",
            "-i",
            "pipe:0",
            "-an",
        ]
        if w % 2 or h % 2:  # yuv420p needs even sizes
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        cmd += self.codec_args()
        for key in _METADATA_KEYS:
            if self.metadata.get(key) is not None:
                cmd += ["-metadata", f"{key}={_meta_value(self.metadata[key])}"]
        cmd += list(self.options.get("extra_args") or [])
        cmd += ["-f", self.container, str(self.tmp_path)]
        return cmd

    def _open(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by _close/_cleanup
        self._proc: subprocess.Popen[bytes] | None = None
        self._feeder: _PipeFeeder | None = None
        if self.channels:  # known in advance: start now, ffmpeg warms up while frames are drawn
            self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        assert self._proc.stdin is not None
        self._feeder = _PipeFeeder(self._proc.stdin)
        return self._proc

    def _error(self, what: str) -> RenderError:
        self._stderr.seek(0)
        err = self._stderr.read().decode("utf-8", "replace").strip()
        return RenderError(f"ffmpeg ({self.encoder}) {what}: {err[-2000:] or 'no message'}")

    def _write(self, rgb: np.ndarray) -> None:
        proc = self._proc or self._start()
        assert self._feeder is not None
        if not self._feeder.put(rgb):
            proc.wait()
            raise self._error("stopped accepting frames")

    def _close(self) -> None:
        proc, feeder = self._proc, self._feeder
        assert proc is not None and feeder is not None
        written = feeder.close()
        rc = proc.wait()
        try:
            if rc != 0:
                raise self._error(f"exited with status {rc}")
            if not written:
                raise self._error("stopped accepting frames")
        finally:
            self._stderr.close()

    def _cleanup(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()  # a write in flight then fails at once, so the feeder can stop
            proc.wait()
        feeder = getattr(self, "_feeder", None)
        if feeder is not None:
            feeder.close()
        stderr = getattr(self, "_stderr", None)
        if stderr is not None:
            stderr.close()


class _PipeFeeder:
    """Writes frames into ffmpeg's stdin from a background thread.

    A pipe write blocks until ffmpeg has read the frame; done here, it overlaps with drawing the
    next frame (the write releases the GIL). Frames are copied into a few reused buffers, since
    callers (e.g. an Agg canvas) overwrite theirs. After a failed write the remaining frames are
    dropped and :meth:`put` / :meth:`close` return False.
    """

    def __init__(self, pipe: Any, depth: int = 3) -> None:
        self.pipe = pipe
        self.error: BaseException | None = None
        self._depth = depth
        self._made = 0
        self._todo: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="animlib-ffmpeg-feed", daemon=True)
        self._thread.start()
        self._closed = False

    def put(self, frame: np.ndarray) -> bool:
        """Queue a copy of ``frame``; False if an earlier write failed."""
        if self.error is not None:
            return False
        if self._made < self._depth:
            self._made += 1
            buf = np.empty(frame.shape, frame.dtype)
        else:
            buf = self._free.get()  # wait until one of ours has been written
            if buf.shape != frame.shape or buf.dtype != frame.dtype:
                buf = np.empty(frame.shape, frame.dtype)
        np.copyto(buf, frame)
        self._todo.put(buf)
        return self.error is None

    def _run(self) -> None:
        while True:
            buf = self._todo.get()
            if buf is None:
                return
            if self.error is None:
                try:
                    self.pipe.write(buf.data)
                except (OSError, ValueError) as exc:  # BrokenPipeError, or closed
                    self.error = exc
            self._free.put(buf)

    def close(self) -> bool:
        """Write what is queued, close the pipe; True if every frame was written."""
        if not self._closed:
            self._closed = True
            self._todo.put(None)
            self._thread.join()
            try:
                self.pipe.close()
            except (OSError, ValueError):
                if self.error is None:
                    self.error = sys.exc_info()[1]
        return self.error is None


@register_writer
class MP4Writer(FFmpegWriter):
    """H.264 (libx264, yuv420p, faststart) MP4 that plays in browsers. Options: ``bitrate``
    (kbit/s), ``crf`` (default 20), ``preset`` (default ``"veryfast"``)."""

    name = "mp4"
    suffixes = (".mp4", ".m4v")
    mime = "video/mp4"
    encoder = "libx264"
    container = "mp4"

    def codec_args(self) -> list[str]:
        args = ["-c:v", "libx264", "-preset", str(self.options.get("preset") or "veryfast")]
        bitrate = self.options.get("bitrate")
        if bitrate:
            args += ["-b:v", f"{int(bitrate)}k"]
        else:
            args += ["-crf", str(int(self.options.get("crf") or 20))]
        return [*args, "-pix_fmt", "yuv420p", "-movflags", "+faststart"]


@register_writer
class WebMWriter(FFmpegWriter):
    """VP9 WebM (only when the bundled ffmpeg has libvpx-vp9). Options: ``bitrate``, ``crf``."""

    name = "webm"
    suffixes = (".webm",)
    mime = "video/webm"
    encoder = "libvpx-vp9"
    container = "webm"

    def codec_args(self) -> list[str]:
        args = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-row-mt", "1"]
        args += ["-deadline", "good", "-cpu-used", "5"]
        bitrate = self.options.get("bitrate")
        if bitrate:
            return [*args, "-b:v", f"{int(bitrate)}k"]
        return [*args, "-crf", str(int(self.options.get("crf") or 32)), "-b:v", "0"]


# -------------------------------------------------------------------------------------------- GIF


@register_writer
class GIFWriter(MovieWriter):
    """Animated GIF with Pillow (never ImageMagick): loops forever, ``1000 / fps`` ms per frame.

    Frames are kept palettised (1 byte per pixel) until :meth:`finish`, because Pillow writes a GIF
    in one call, so a GIF holds at most ``ANIMLIB_MAX_GIF_FRAMES`` frames (checked per frame).
    Options: ``loop`` (0 = forever).
    """

    name = "gif"
    suffixes = (".gif",)
    mime = "image/gif"

    def _open(self) -> None:
        self._frames: list[Image.Image] = []

    def _write(self, rgb: np.ndarray) -> None:
        check_gif_frames(len(self._frames) + 1)
        im = Image.fromarray(rgb[..., :3] if rgb.shape[2] == 4 else rgb, "RGB")
        # an adaptive palette per frame, then Floyd-Steinberg dithering (keeps faint noise visible)
        palette = im.quantize(256, method=Image.Quantize.FASTOCTREE)
        self._frames.append(im.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG))

    def _close(self) -> None:
        first, *rest = self._frames
        duration = max(int(round(1000.0 / self.fps / 10.0)) * 10, 20)
        comment = self.metadata.get("comment") or self.metadata.get("title")
        kwargs: dict[str, Any] = {}
        if comment:
            kwargs["comment"] = _meta_value(comment).encode("utf-8")[:255]
        with open(self.tmp_path, "wb") as fh:
            first.save(
                fh,
                format="GIF",
                save_all=True,
                append_images=rest,
                duration=duration,
                loop=int(self.options.get("loop", 0)),
                optimize=False,
                **kwargs,
            )
        self._frames = []

    def _cleanup(self) -> None:
        self._frames = []


# ------------------------------------------------------------------------------------------- HTML

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
    v.currentTime = (f + 0.5) / cfg.fps;
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

    def _open(self) -> None:
        self._video = MP4Writer(**self.options)
        assert self.tmp_path is not None
        self._video_path = self.tmp_path.with_suffix(".mp4")
        self._video.setup(
            self._video_path, self.size, self.fps, self.metadata, self.channels or None
        )

    def _write(self, rgb: np.ndarray) -> None:
        self._video.grab_frame(rgb)

    def _close(self) -> None:
        video_path = self._video.finish()
        try:
            data = base64.b64encode(video_path.read_bytes()).decode("ascii")
        finally:
            video_path.unlink(missing_ok=True)
        frames = self.frame_count
        steps = _int_meta(self.metadata, "steps", frames)
        stride = _int_meta(self.metadata, "stride", 1)
        config = json.dumps({"fps": self.fps, "frames": frames, "steps": steps, "stride": stride})
        w, h = self.size
        page = _HTML.format(
            title=html.escape(str(self.metadata.get("title") or "animlib run"), quote=True),
            comment=html.escape(str(self.metadata.get("comment") or ""), quote=True),
            width=w,
            height=h,
            frames=frames,
            data=data,
            config=config,
        )
        assert self.tmp_path is not None
        self.tmp_path.write_text(page, encoding="utf-8")

    def _cleanup(self) -> None:
        video = getattr(self, "_video", None)
        if video is not None:
            video.abort()
        path = getattr(self, "_video_path", None)
        if path is not None:
            path.unlink(missing_ok=True)
