"""Movie writers (MP4, WebM, GIF, standalone HTML): one RGB frame at a time, written atomically."""

# ``get_writer("mp4")`` / ``writer_for_path("x.gif")`` pick a :class:`MovieWriter` from the registry
# by format name or suffix; a new format is one small subclass with :func:`register_writer`.
# Modules: ``base`` (:class:`MovieWriter`, the registry), ``ffmpeg`` (MP4, WebM), ``gif`` and
# ``html_page``.

from __future__ import annotations

from .base import (
    MovieWriter,
    available_formats,
    check_output_folder,
    format_name,
    get_writer,
    register_writer,
    unregister_writer,
    writer_for_path,
)
from .ffmpeg import FFmpegWriter, MP4Writer, WebMWriter, ffmpeg_encoders
from .gif import GIFWriter
from .html_page import HTMLWriter

__all__ = [
    "FFmpegWriter",
    "GIFWriter",
    "HTMLWriter",
    "MP4Writer",
    "MovieWriter",
    "WebMWriter",
    "available_formats",
    "format_name",
    "check_output_folder",
    "ffmpeg_encoders",
    "get_writer",
    "register_writer",
    "unregister_writer",
    "writer_for_path",
]
