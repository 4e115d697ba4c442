"""Writers piping raw frames into the ffmpeg of ``imageio-ffmpeg``: MP4 (H.264), WebM (VP9)."""

from __future__ import annotations

import functools
import queue
import subprocess
import sys
import tempfile
import threading
from typing import IO, Any, ClassVar

import imageio_ffmpeg
import numpy as np

from ..errors import RenderError
from .base import Changed, MovieWriter, meta_value, register_writer
from .yuv import YuvFrame

__all__ = ["FFmpegWriter", "MP4Writer", "WebMWriter", "ffmpeg_encoders"]


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


class FFmpegWriter(MovieWriter):
    """Pipes raw RGB frames into the ffmpeg from ``imageio-ffmpeg``; subclasses pick the codec.

    Options: ``bitrate`` (kbit/s; default: constant quality ``crf``), ``crf``, ``extra_args``.
    Codecs that encode yuv420p (``yuv_input``) get the frames as those planes, converted here
    where frames changed (:mod:`.yuv`), once this process has the compiled conversion.
    """

    encoder: ClassVar[str] = ""
    container: ClassVar[str] = ""
    yuv_input: ClassVar[bool] = False  # its codec encodes yuv420p: frames may be piped so

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
            self._input_format(),
            "-s",
            f"{w}x{h}",
            "-framerate",
            f"{self.fps:g}",
            "-i",
            "pipe:0",
            "-an",
        ]
        if w % 2 or h % 2:  # yuv420p needs even sizes (and the planes are never piped then)
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        cmd += self.codec_args()
        for key in _METADATA_KEYS:
            if self.metadata.get(key) is not None:
                cmd += ["-metadata", f"{key}={meta_value(self.metadata[key])}"]
        cmd += list(self.options.get("extra_args") or [])
        cmd += ["-f", self.container, str(self.tmp_path)]
        return cmd

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._stderr: IO[bytes] | None = None  # ffmpeg's messages
        self._proc: subprocess.Popen[bytes] | None = None
        self._feeder: PipeFeeder | None = None
        self._planes: YuvFrame | None = None  # frames piped as yuv420p (see .yuv)

    def _input_format(self) -> str:
        if self._planes is not None:
            return "yuv420p"
        return "rgba" if self.channels == 4 else "rgb24"

    def _yuv_frame(self) -> YuvFrame | None:
        """Planes to pipe when this process has the compiled conversion, the size is even and
        no ``extra_args`` pick another pixel format (else ffmpeg converts the RGB frames)."""
        kernel = YuvFrame.available()
        w, h = self.size
        if kernel is None or w % 2 or h % 2 or self.channels != 4 or not self.yuv_input:
            return None
        if "-pix_fmt" in list(self.options.get("extra_args") or []):
            return None
        return YuvFrame(self.size, kernel)

    def _open(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by _close/_cleanup
        self._proc = None
        self._feeder = None
        if self.channels:  # known in advance: start now, ffmpeg warms up while frames are drawn
            self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        self._planes = self._yuv_frame()
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        assert self._proc.stdin is not None
        self._feeder = PipeFeeder(self._proc.stdin)
        return self._proc

    def _error(self, what: str) -> RenderError:
        err = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            err = self._stderr.read().decode("utf-8", "replace").strip()
        text = f"ffmpeg ({self.encoder}) {what}: {err[-2000:] or 'no message'}"
        return RenderError(text, field="encoder")

    def _write_changed(self, rgb: np.ndarray, changed: Changed | None) -> None:
        proc = self._proc or self._start()
        assert self._feeder is not None
        data = rgb if self._planes is None else self._planes.update(rgb, changed)
        if not self._feeder.put(data):
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
            if self._stderr is not None:
                self._stderr.close()

    def _cleanup(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()  # a write in flight then fails at once, so the feeder can stop
            proc.wait()
        if self._feeder is not None:
            self._feeder.close()
        if self._stderr is not None:
            self._stderr.close()


class PipeFeeder:
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
    yuv_input = True

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
    yuv_input = True

    def codec_args(self) -> list[str]:
        args = ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-row-mt", "1"]
        args += ["-deadline", "good", "-cpu-used", "5"]
        bitrate = self.options.get("bitrate")
        if bitrate:
            return [*args, "-b:v", f"{int(bitrate)}k"]
        return [*args, "-crf", str(int(self.options.get("crf") or 32)), "-b:v", "0"]
