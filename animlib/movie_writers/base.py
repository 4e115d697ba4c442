"""The :class:`MovieWriter` base class and the registry of writers by format name and suffix."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import Code, RenderError, RenderOptionError
from ..options import RenderOptions

__all__ = [
    "MovieWriter",
    "available_formats",
    "get_writer",
    "meta_value",
    "register_writer",
    "unregister_writer",
    "writer_for_path",
]

_REGISTRY: dict[str, type[MovieWriter]] = {}
Changed = Sequence[tuple[slice, slice]]  # (rows, columns) of a frame that changed


def meta_value(value: Any) -> str:
    """A metadata string as a file may hold it: no NUL bytes, at most 1000 characters."""
    return str(value).replace("\x00", "")[:1000]


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
    return _writer_class(fmt)(**kwargs)


def format_name(fmt: str) -> str:
    """The name of the format ``fmt`` names (``".GIF"`` -> ``"gif"``); RenderOptionError if
    this machine cannot write it."""
    return _writer_class(fmt).name


def _writer_class(fmt: str) -> type[MovieWriter]:
    cls = _REGISTRY.get(_registry_key(fmt))
    if cls is None or not cls.available():
        raise RenderOptionError(
            f"unsupported output format {fmt!r}; available: {', '.join(available_formats())}",
            field="format",
            code=Code.UNSUPPORTED,
        )
    return cls


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


def check_output_folder(path: str | os.PathLike[str]) -> None:
    """Make the output file's folder (as the writers do), or refuse it before any frame is
    drawn when it cannot be made."""
    folder = Path(path).parent
    if Path(path).is_dir():  # (found only after every frame was drawn)
        raise RenderOptionError(f"{path} is a folder: give a file name", field="path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderOptionError(
            f"cannot make folder {folder} ({exc.strerror or exc})", field="path", code="storage"
        ) from None
    try:  # (a folder that refuses files was found only when the finished render was moved in)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{Path(path).name}.", suffix=".tmp"):
            pass
    except OSError as exc:
        raise RenderOptionError(
            f"cannot write in folder {folder} ({exc.strerror or exc})", field="path", code="storage"
        ) from None


class MovieWriter:
    """Base class of the movie writers, in the style of matplotlib's ``MovieWriter``.

    ``setup(path, size, fps, metadata)``, then ``grab_frame(rgb)`` per frame, then ``finish()``.
    Frames go to a temporary file next to ``path``, renamed over ``path`` only by ``finish()``,
    so a crash never leaves a half-written file under the final name. ``abort()`` (also run by
    :meth:`saving` on an exception) removes the temporary file. Subclasses implement
    ``_open``, ``_write`` and ``_close`` (and set ``name``/``suffixes``/``mime``); one that can
    use the parts of a frame that changed implements ``_write_changed`` instead of ``_write``.
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

    def grab_frame(self, rgb: np.ndarray, *, changed: Changed | None = None) -> None:
        """Append one ``(height, width, 3)`` uint8 RGB frame.

        ``(height, width, 4)`` RGBA (e.g. an Agg canvas buffer) is accepted too, alpha ignored;
        every frame of one file must have the same number of channels. ``changed``: the
        ``(rows, columns)`` slices outside which this frame equals the previous one grabbed
        (a :class:`~animlib.frames.FrameRenderer`'s ``changed``), which lets a writer redo
        only those parts; None: it may differ anywhere.
        """
        if self.tmp_path is None:
            raise RenderError("grab_frame() before setup()", field="writer")
        frame = np.asarray(rgb)
        w, h = self.size
        channels = self.channels or (frame.shape[2] if frame.ndim == 3 else 3)
        if frame.shape != (h, w, channels) or frame.dtype != np.uint8 or channels not in (3, 4):
            raise RenderError(
                f"expected a ({h}, {w}, 3) uint8 frame, got {frame.shape} {frame.dtype}",
                field="frame",
            )
        self.channels = channels
        self._write_changed(np.ascontiguousarray(frame), changed)
        self.frame_count += 1

    def finish(self) -> Path:
        """Close the file and move it to its final name; returns that path."""
        if self.tmp_path is None or self.path is None:
            raise RenderError("finish() before setup()", field="writer")
        if self.frame_count == 0:
            self.abort()
            raise RenderError(
                f"no frames were written to {str(self.path)!r}", field="frames", code=Code.EMPTY
            )
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
            with contextlib.suppress(OSError):  # gone already, or a read-only disk: the
                self.tmp_path.unlink()  # error that made us abort is the one to report
        self.tmp_path = None

    @contextlib.contextmanager
    def saving(self, *args: Any, **kwargs: Any) -> Iterator[MovieWriter]:
        """``with writer.saving(path, size, fps): writer.grab_frame(...)`` -- finish or abort.

        Takes the arguments of :meth:`setup`.
        """
        self.setup(*args, **kwargs)
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

    def _write_changed(self, rgb: np.ndarray, changed: Changed | None) -> None:
        """Write a frame that differs from the previous one only in ``changed`` (None:
        anywhere); by default as any frame."""
        self._write(rgb)

    def _close(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Release resources after a failure (the temporary file is removed by the caller)."""
