"""``render`` / ``render_compare``: a run (or 2-6 runs) to an MP4, WebM, GIF or HTML file, fast."""

# Frames come from :class:`~animlib.frames.FrameRenderer` (only what changed is redrawn) and are
# streamed to a :class:`~animlib.movie_writers.MovieWriter` chosen by the file's suffix.

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import RenderError
from .figure import figure_size
from .frames import FrameRenderer
from .limits import check_frame, check_gif_frames
from .movie_writers import (
    MovieWriter,
    available_formats,
    check_output_folder,
    get_writer,
    writer_for_path,
)
from .movie_writers.disk_full import disk_full, disk_full_error
from .options import RenderOptions
from .protocol import RunLike, RunPath, as_runs, check_compare, labels, run_label
from .settings import held
from .store import local_file, remote_file
from .text import one_line

__all__ = ["Progress", "formats", "render", "render_compare"]

Progress = Callable[[int, int], Any]  # progress(done, total), after every frame
Options = RenderOptions | Mapping[str, Any] | None


def video_metadata(runs: Sequence[RunLike], options: RenderOptions) -> dict[str, Any]:
    """The metadata a render of ``runs`` writes into its file (title, comment, steps, ...)."""
    return _metadata(runs, options)


def _metadata(runs: Sequence[RunLike], options: RenderOptions) -> dict[str, Any]:
    names = [one_line(r.name or run_label(r)) for r in runs]
    steps = max(len(r) for r in runs)
    if len(runs) == 1:
        run = runs[0]
        title = names[0]
        comment = " · ".join(one_line(b) for b in (run.attack, run.model) if b)
        comment = f"{comment} · {len(run)} steps" if comment else f"{len(run)} steps"
    else:
        title = "compare: " + " | ".join(names)
        comment = f"{len(runs)} runs, up to {steps} steps"
    if options.stride > 1:
        comment += f" · every {options.stride} steps"
    comment += f" · {options.fps:g} fps"
    return {
        "title": title,
        "artist": "animlib",
        "comment": comment,
        "steps": steps,
        "stride": options.stride,
    }


def _writer(path: Path, format: str | None, options: RenderOptions, **extra: Any) -> MovieWriter:
    kwargs: dict[str, Any] = {"bitrate": options.bitrate} if options.bitrate else {}
    kwargs.update(extra)
    return get_writer(format, **kwargs) if format else writer_for_path(path, **kwargs)


def _planned_size(runs: list[RunLike], options: RenderOptions) -> tuple[int, int] | None:
    """The frame size, known before the figure is built (None if the runs cannot be planned:
    building the figure then raises the error that names the problem)."""
    try:
        return figure_size(runs, options)
    except Exception:
        return None


@contextlib.contextmanager
def _full_disk_explained(runs: Sequence[RunLike], path: Path) -> Iterator[None]:
    """A render into ``path`` that fails because its disk is full raises a RenderError saying
    so and naming the runs, not the encoder's bare message (the writer removed the file)."""
    try:
        yield
    except Exception as exc:
        if not disk_full(exc):
            raise
        raise disk_full_error(path, labels(runs)) from None


def _render(
    runs: list[RunLike],
    path: str | os.PathLike[str],
    options: RenderOptions,
    progress: Progress | None,
    format: str | None,
) -> Path:
    path = Path(path)
    writer = _writer(path, format, options)
    check_output_folder(path)
    if writer.name == "gif":
        check_gif_frames(options.frames(max(len(r) for r in runs)), run=labels(runs))
    metadata = _metadata(runs, options)
    size = _planned_size(runs, options)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_full_disk_explained(runs, path))
        stack.enter_context(held())  # the environment read once, not once per frame
        if size is not None:  # start the encoder at once: it warms up while the figure is built
            check_frame(size, run=labels(runs))
            stack.enter_context(writer.saving(path, size, options.fps, metadata, channels=4))
        frames = stack.enter_context(FrameRenderer(runs, options))
        if size is None:
            stack.enter_context(writer.saving(path, frames.size, options.fps, metadata, channels=4))
        elif frames.size != size:
            raise RenderError(
                f"frames are {frames.size}, not the planned {size}",
                run=labels(runs),
                field="frames",
            )
        total = len(frames)
        if progress is not None:
            progress(0, total)
        for i in range(total):
            writer.grab_frame(frames.frame_rgba(i), changed=frames.changed)
            if progress is not None:
                progress(i + 1, total)
    return path


def encode_frames(
    frames: FrameRenderer,
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    progress: Progress | None = None,
    format: str | None = None,
    writer_options: dict[str, Any] | None = None,
) -> Path:
    """Encode frames ``start`` .. the end of an open :class:`FrameRenderer` into ``path``
    (the file appears only when complete). Used to render the new frames of a live run.

    Args:
        frames: the renderer (its runs and options decide the frames and the metadata).
        path: the output file; the format comes from its suffix (or ``format``).
        start: the first frame to encode.
        progress: ``progress(done, total)`` after every frame (counting from ``start``).
        format: the output format, if not the suffix's.
        writer_options: more options of the movie writer (e.g. ``extra_args`` for ffmpeg).

    Returns:
        ``path``.

    Raises:
        RenderOptionError: for an unknown format; RenderLimitError for too many GIF frames;
            RenderError if the encoder fails.
    """
    path = Path(path)
    runs, options = frames.runs, frames.options
    writer = _writer(path, format, options, **(writer_options or {}))
    total = len(frames) - start
    if writer.name == "gif":
        check_gif_frames(total, run=labels(runs))
    meta = _metadata(runs, options)
    with (
        _full_disk_explained(runs, path),
        held(),
        writer.saving(path, frames.size, options.fps, meta, channels=4),
    ):
        if progress is not None:
            progress(0, total)
        for i in range(start, len(frames)):
            writer.grab_frame(frames.frame_rgba(i), changed=frames.changed)
            if progress is not None:
                progress(i - start + 1, total)
    return path


def render(
    run: RunLike | RunPath | Iterable[RunLike | RunPath],
    path: str | os.PathLike[str],
    *,
    options: Options = None,
    progress: Progress | None = None,
    format: str | None = None,
    cache: bool = False,
    **kw: Any,
) -> Path | str:
    """Render one run to ``path``; the format comes from the suffix (or ``format``).

    Options: a :class:`~animlib.options.RenderOptions` or mapping as ``options`` and/or keywords
    (``fps``, ``dpi``, ``stride``, ``top_k``, ``amplification``, ``width_px``, ``max_height_px``,
    ``bitrate`` in kbit/s; an unknown or invalid one raises ``RenderOptionError``). Formats: see
    :func:`formats` (mp4, gif, html, webm if offered). ``progress(done, total)`` is called after
    every frame. The file appears under ``path`` only when complete. Given a list (or other
    iterable) of runs, it renders them as :func:`render_compare` does. A run folder's path (as
    the CLI takes it) works in place of a run: it is opened with :func:`animlib.open_run`.
    ``path`` may be an fsspec URL (``s3://bucket/videos/a.mp4``): the video is rendered locally,
    then uploaded whole, and its URL is returned (else the Path).

    With ``cache=True`` the render goes through the render cache (``ANIMLIB_CACHE``, local or
    shared): an identical earlier render is copied to ``path`` (milliseconds), else the video is
    rendered into the cache, then copied. The default is ``False``: a file written on request is
    usually wanted once, and caching it would keep a second copy outside the caller's control.
    The CLI's ``render`` uses the cache unless ``--no-cache``.
    """
    opts = RenderOptions.of(options, **kw)
    runs = as_runs(run)
    if len(runs) != 1:
        check_compare(runs)
    if (remote := remote_file(path)) is not None:  # rendered here, then uploaded whole
        out, name = remote
        out.makedirs()
        with out.staged(name) as local:
            render(runs, local, options=opts, progress=progress, format=format, cache=cache)
        return out.url_of(name)
    path = local_file(path)
    if cache:
        from .cache import cached_copy

        return cached_copy(runs, path, options=opts, progress=progress, format=format)
    return _render(runs, path, opts, progress, format)


def render_compare(
    runs: Sequence[RunLike | RunPath], path: str | os.PathLike[str], **kw: Any
) -> Path | str:
    """Render 2-6 runs as synchronised rows (same step on every row; short runs hold their end).

    The keywords (options, ``progress``, ``format``, ``cache``) are those of :func:`render`.
    """
    group = as_runs(runs, "runs")
    check_compare(group)
    return render(group, path, **kw)


def formats() -> list[str]:
    """Output formats available on this machine."""
    return available_formats()
