"""``animate(run)``: a matplotlib ``FuncAnimation`` of a run (or a comparison of runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import imageio_ffmpeg
import matplotlib
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from .figures import FigureOptions, PanelFigure, make_figure

__all__ = ["animate", "animate_compare", "use_bundled_ffmpeg"]


def use_bundled_ffmpeg() -> str:
    """Point matplotlib at the ffmpeg shipped in ``imageio-ffmpeg`` (unless a path was chosen)."""
    current = matplotlib.rcParams["animation.ffmpeg_path"]
    if current in ("ffmpeg", "", None):
        try:
            matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        except RuntimeError:  # no bundled binary for this platform: keep whatever is on PATH
            pass
    return matplotlib.rcParams["animation.ffmpeg_path"]


use_bundled_ffmpeg()


def _interval(fps: float | None, interval: float | None) -> float:
    if fps is not None and interval is not None:
        raise ValueError("give fps or interval, not both")
    if interval is not None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 ms, got {interval!r}")
        return float(interval)
    fps = 10.0 if fps is None else fps
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    return 1000.0 / float(fps)


def animate(
    run: Any,
    *,
    fps: float | None = None,
    interval: float | None = None,
    repeat: bool = True,
    repeat_delay: float = 0,
    stride: int = 1,
    top_k: int = 10,
    dpi: float = 100,
    amplification: float | None = None,
    width_px: int = 1280,
    fig: Figure | None = None,
    blit: bool = False,
) -> FuncAnimation:
    """A ``FuncAnimation`` showing one run step by step (or 2-6 runs if given a list/tuple).

    ``fps`` (default 10) or ``interval`` (ms per frame) set the speed; frame ``i`` shows step
    ``i * stride``. The figure is a pyplot figure (``plt.show()`` works) unless ``fig`` is given.
    Works with ``to_html5_video()``, ``to_jshtml()``, ``save("x.mp4")`` and
    ``save("x.gif", writer="pillow")``. The panel object is available as ``anim.panels``.
    """
    use_bundled_ffmpeg()
    ms = _interval(fps, interval)
    options = FigureOptions(
        dpi=dpi, top_k=top_k, amplification=amplification, stride=stride, width_px=width_px
    )
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(dpi=dpi)
    panels: PanelFigure = make_figure(run, options, fig)
    anim = FuncAnimation(
        panels.fig,
        panels.update,
        frames=panels.n_frames,
        init_func=(lambda: panels.update(0)) if blit else None,
        interval=ms,
        repeat=repeat,
        repeat_delay=repeat_delay,
        blit=blit,
        cache_frame_data=False,
    )
    anim.panels = panels  # keeps the run and artists alive; handy for tests and notebooks
    return anim


def animate_compare(runs: Sequence[Any], **options: Any) -> FuncAnimation:
    """:func:`animate` for 2-6 runs in synchronised rows (shorter runs hold their last frame)."""
    return animate(list(runs), **options)
