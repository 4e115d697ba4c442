"""``animate(run)``: a matplotlib ``FuncAnimation`` of a run (or a comparison of runs)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from .errors import RenderOptionError
from .figure import PanelFigure, make_figure
from .options import RenderOptions
from .protocol import RunLike, RunPath, as_runs, check_compare

__all__ = ["animate", "animate_compare", "use_bundled_ffmpeg"]

# Jupyter's inline backend (ipykernel's default), which shows every pyplot figure at a cell's end
INLINE_BACKENDS = (
    "inline",
    "module://matplotlib_inline.backend_inline",
    "module://ipykernel.pylab.backend_inline",
)


def use_bundled_ffmpeg() -> str:
    """Point matplotlib at the ffmpeg shipped in ``imageio-ffmpeg`` (unless a path was chosen).

    Called when an animation is created (so ``anim.save("x.mp4")`` and ``to_html5_video()``
    work on a machine without ffmpeg), never when animlib is imported.
    """
    current = matplotlib.rcParams["animation.ffmpeg_path"]
    if current in ("ffmpeg", "", None):
        try:
            import imageio_ffmpeg

            matplotlib.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):  # no bundled binary: keep whatever is on PATH
            pass
    return matplotlib.rcParams["animation.ffmpeg_path"]


def _interval_ms(
    options: RenderOptions | Mapping[str, Any] | None,
    kw: Mapping[str, Any],
    interval: float | None,
    opts: RenderOptions,
) -> float:
    """Milliseconds per frame: ``interval`` if given (then fps must not be), else from fps."""
    if interval is None:
        return opts.interval_ms
    if "fps" in kw or (isinstance(options, Mapping) and "fps" in options):
        raise RenderOptionError("give fps or interval, not both", field="interval")
    ok = isinstance(interval, numbers.Real) and not isinstance(interval, bool)
    if not (ok and math.isfinite(interval) and interval > 0):
        raise RenderOptionError(f"must be a number of ms > 0; got {interval!r}", field="interval")
    return float(interval)


def new_figure(dpi: float) -> Figure:
    """An animation's own figure: a pyplot one (``plt.show()`` opens its window and plays it),
    except under Jupyter's inline backend, which would show a pyplot figure once more after the
    cell's video, as a still image of its first frame: there a figure pyplot does not know, on
    the Agg canvas the inline backend would give it."""
    if matplotlib.get_backend() in INLINE_BACKENDS:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = Figure(dpi=dpi)
        FigureCanvasAgg(fig)  # (sets fig.canvas)
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(dpi=dpi)


def animate(
    run: RunLike | RunPath | Iterable[RunLike | RunPath],
    *,
    options: RenderOptions | Mapping[str, Any] | None = None,
    interval: float | None = None,
    repeat: bool = True,
    repeat_delay: float = 0,
    fig: Figure | None = None,
    blit: bool = False,
    **kw: Any,
) -> FuncAnimation:
    """A ``FuncAnimation`` showing one run step by step (or 2-6 runs if given a list, tuple or
    other iterable of runs).

    Render options as for :func:`animlib.render` (``options=`` and/or keywords such as ``fps``
    (default 10), ``stride``, ``dpi``, ``top_k``, ``amplification``); ``interval`` (ms per
    frame) replaces ``fps`` (giving both is an error). Frame ``i`` shows step ``i * stride``; the
    last frame shows the last step.
    The figure is a pyplot figure (``plt.show()`` works) unless ``fig`` is given or the
    backend is Jupyter's inline one (a cell ending in the animation shows its video, not also
    a still image of step 0: :func:`new_figure`). Works with
    ``to_html5_video()``, ``to_jshtml()``, ``save("x.mp4")`` and
    ``save("x.gif", writer="pillow")``. The panel object is available as ``anim.panels``.
    A run folder's path works in place of a run (opened with :func:`animlib.open_run`).
    """
    opts = RenderOptions.of(options, **kw)
    ms = _interval_ms(options, kw, interval, opts)
    runs = as_runs(run)
    if len(runs) != 1:
        check_compare(runs)
    use_bundled_ffmpeg()
    made = fig is None
    if fig is None:
        fig = new_figure(opts.dpi)
    try:
        panels: PanelFigure = make_figure(runs, opts, fig)
    except BaseException:
        if made:  # (a blank figure left in pyplot per failure: one more in each notebook cell)
            import matplotlib.pyplot as plt

            plt.close(fig)
        raise
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


def animate_compare(runs: Sequence[RunLike | RunPath], **options: Any) -> FuncAnimation:
    """:func:`animate` for 2-6 runs in synchronised rows (shorter runs hold their last frame)."""
    return animate(list(runs), **options)
