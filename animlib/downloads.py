"""Dashboard download buttons for renders: made only when clicked, a failure shown on the page."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from streamlit.runtime.scriptrunner import get_script_run_ctx

from .cache import cached_render
from .options import RenderOptions
from .text import printable

log = logging.getLogger("animlib.downloads")

# the last failure of each download (key: its file and options); sessions' threads share it
# through single dict operations
_FAILED: dict[str, str] = {}
_MAX_FAILED = 256


# the runs whose download is being made, or was made HOLD_S ago or less (the browser then
# fetches it): until when (time.monotonic). A page following a run does not rerun meanwhile:
# a rerun dropped the made file before the browser fetched it (404, the download cancelled).
_IN_FLIGHT: dict[tuple[str, str], float] = {}  # (session, run id) -> until when
HOLD_S = 10.0
_MAKING_S = 3600.0  # (a render that raises or ends sets HOLD_S; this bounds a lost one)


MAX_STEM = 150  # characters of a download's file name before its suffix


def compare_stem(run_ids: list[str]) -> str:
    """The file name (without suffix) of a comparison's download: its runs' ids joined by
    ``-vs-``, or, when that is longer than :data:`MAX_STEM`, the first id and how many more
    (never an id cut into a name that reads as another run)."""
    joined = "-vs-".join(run_ids)
    if len(joined) <= MAX_STEM:
        return joined
    more = f"-vs-{len(run_ids) - 1}-more"
    first = run_ids[0]
    if len(first) + len(more) > MAX_STEM:
        first = "compare"  # (an id of 150 characters: no room to keep it whole)
    return first + more


FRAMES_PER_S = 200  # frames of one run a download's render makes a second here (10,000 frames
# of a 512x512 run: 48 s; 120 of a 224x224 one: 0.75 s); a comparison's frames hold every run
GIF_SLOWER = 5  # GIFs encode at ~40 frames a second (2,000 frames took 53 s)
LONG_S = 10.0  # a render expected to take longer is made by its own button, with a progress bar


def _seconds(frames: int, runs: int, fmt: str) -> float:
    """Roughly how long the render of ``frames`` frames of ``runs`` runs to ``fmt`` takes."""
    return frames * runs / FRAMES_PER_S * (GIF_SLOWER if fmt == "gif" else 1)


def render_wait(frames: int, runs: int = 1, fmt: str = "mp4") -> str:
    """Roughly how long a first click waits for the render of ``frames`` frames of ``runs``
    runs side by side to ``fmt``: "a few seconds", "about 50 s", "about 5 min" (a caption
    promised "a few seconds" for a 10,000-step run that took 48)."""
    seconds = _seconds(frames, runs, fmt)
    if seconds < LONG_S:
        return "a few seconds"
    if seconds < 90:
        return f"about {round(seconds, -1):.0f} s"
    return f"about {math.ceil(seconds / 60)} min"


def then_served() -> str:  # (a probe: a file made and removed in the cache folder)
    """How the download captions end: "then served from the render cache.", or, when the cache
    folder cannot be written (every click renders again), that instead."""
    from .cache.unwritable import cache_unwritable

    if cache_unwritable() is None:
        return "then served from the render cache."
    return "and again on every click (the render cache folder cannot be written)."


def downloading(run_ids: Iterable[str]) -> bool:
    """Whether this browser session's download of one of ``run_ids`` is being made or fetched
    (see ``_IN_FLIGHT``; other sessions watching the run go on following it)."""
    now, session = time.monotonic(), _session()
    return any(_IN_FLIGHT.get((session, run_id), 0.0) > now for run_id in run_ids)


def _session() -> str:
    """The browser session of the script run this is called in ("" outside one)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else ""


def _ids(runs: Any) -> list[str]:
    return [str(getattr(r, "id", r)) for r in (runs if isinstance(runs, (list, tuple)) else [runs])]


def _key(file: str, options: RenderOptions) -> str:
    return f"{file}|{sorted(options.as_dict().items())!r}"  # (fps 10 and 10.0 alike)


def _failure_key(file: str, options: RenderOptions, runs: Any) -> str:
    """The key of a download's failure: its file and options, and which making of its runs
    it is (a run made again under its id is not shown the failure of what it held before)."""
    from .cache.keys import creation  # (as a live render's key: kept as a live run grows)

    group = runs if isinstance(runs, (list, tuple)) else [runs]
    return f"{_key(file, options)}|{[creation(r) for r in group]!r}"


def last_failure(file: str, options: RenderOptions, runs: Any = ()) -> str | None:
    """What the last render of the download ``file`` of ``runs`` with ``options`` raised
    (None if it did not fail, or succeeded since, or the runs changed since)."""
    return _FAILED.get(_failure_key(file, options, runs))


def current(runs: Any) -> Any:
    """``runs`` (one run or a list) as stored now: a page's :class:`~animlib.reader.Run` is a
    snapshot, and a run overwritten since (``if_exists="overwrite"``) read through it mixed the
    old run.json and original with the new images (a download of neither run)."""
    from .reader import Run

    def now(run: Any) -> Any:
        return run.reopen() if isinstance(run, Run) else run

    return [now(r) for r in runs] if isinstance(runs, (list, tuple)) else now(runs)


def current_csv(run: Any) -> bytes:
    """The confidences CSV of ``run`` as stored when clicked (:func:`current`: the viewer's
    MP4 of a run overwritten since was the new run, its CSV the old one)."""
    from .views import confidence_csv

    return confidence_csv(current(run))


def _render_bytes(runs: Any, fmt: str, file: str, options: RenderOptions, session: str) -> bytes:
    key, ids = _failure_key(file, options, runs), [(session, run_id) for run_id in _ids(runs)]
    _IN_FLIGHT.update(dict.fromkeys(ids, time.monotonic() + _MAKING_S))
    try:
        data = cached_render(current(runs), fmt, options=options).read_bytes()
    except Exception as exc:  # the button gets no error of its own: the page shows this one
        log.exception("rendering %s failed", file)
        if len(_FAILED) >= _MAX_FAILED:
            _FAILED.clear()
        _FAILED[key] = printable(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        now = time.monotonic()
        for stale in [i for i, until in _IN_FLIGHT.items() if until <= now]:
            _IN_FLIGHT.pop(stale, None)  # (kept small)
        _IN_FLIGHT.update(dict.fromkeys(ids, now + HOLD_S))
    _FAILED.pop(key, None)
    return data


def render_download(
    slot: Any, label: str, runs: Any, file: str, mime: str, options: RenderOptions, **kw: Any
) -> None:
    """A download button for a render of ``runs`` (one run or a comparison), made (or taken
    from the render cache) only when clicked. If the last click's render failed, the error is
    shown under the button (the browser only says the download failed). A render that is not
    cached and would take over :data:`LONG_S` is made first by a "Render …" button, with a
    progress bar (a click on the download alone showed nothing but a spinner for 48 s).

    Args:
        slot: where the button goes (``st``, a column, ...).
        label: the button's label.
        runs: what is rendered (as :func:`animlib.cache.cached_render` takes it).
        file: the file name offered; its suffix is the format.
        mime: the file's MIME type.
        options: the render options (checked once, by the page).
        **kw: more arguments of ``download_button`` (``width``: of the render button too).
    """
    fmt = file.rsplit(".", 1)[-1]
    wait = _long_render(runs, fmt, options)
    place = slot if wait is None else slot.empty()  # (the download takes the render's place)
    if wait is not None and not _rendered_here(place, slot, label, runs, file, options, wait, kw):
        return
    place.download_button(
        label,
        functools.partial(_render_bytes, runs, fmt, file, options, _session()),
        file_name=file,
        mime=mime,
        on_click="ignore",  # a download needs no rerun (a rerun would race the deferred ones)
        **kw,
    )
    failed = last_failure(file, options, runs)
    if failed:
        slot.error(f"The last {label} could not be rendered: {failed}", icon=":material/error:")


def _long_render(runs: Any, fmt: str, options: RenderOptions) -> str | None:
    """How long the render would take (:func:`render_wait`) if over :data:`LONG_S` and not
    cached; None for a quick one, a cached one (or a page whose MP4 is), a live run's (its
    entry is replaced as it grows) and where the cache cannot be written (each click renders
    anyway)."""
    from .cache import lookup, render_key
    from .cache.keys import is_live
    from .cache.unwritable import cache_unwritable
    from .protocol import as_runs

    try:
        group = as_runs(runs)
        frames = options.frames(max(len(r) for r in group))
        if _seconds(frames, len(group), fmt) < LONG_S or is_live(group):
            return None
        # a page wraps the cached MP4 (the viewer's video) at once
        made_from = (fmt, "mp4") if fmt == "html" else (fmt,)
        if any(lookup(render_key(group, f, options), f) for f in made_from):
            return None
        # (the cache folder's probe makes and removes a file: only for a render not cached)
        if cache_unwritable() is not None:
            return None
    except Exception:  # (runs or cache that cannot be read: the download renders, as before)
        return None
    return render_wait(frames, len(group), fmt)


def _rendered_here(
    place: Any, slot: Any, label: str, runs: Any, file: str, options: RenderOptions, wait: str,
    kw: dict[str, Any],
) -> bool:  # fmt: skip
    """The "Render …" button of a long render in ``place``; once clicked, the render with a
    progress bar under it. True when the render is in the cache (the download button then
    takes the button's place and serves it at once)."""
    width = {"width": kw["width"]} if "width" in kw else {}
    key = f"render-{_key(file, options)}"
    if not place.button(f"Render {label} ({wait})", key=key, **width):
        return False
    fmt = file.rsplit(".", 1)[-1]
    bar = slot.progress(0.0, text=f"rendering {label}…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{label}: {done:,} of {total:,} frames")

    try:
        cached_render(current(runs), fmt, options=options, progress=progress)
    except Exception as exc:  # the page stays: the reason under the button
        log.exception("rendering %s failed", file)
        slot.error(f"{label} could not be rendered: {printable(exc)}", icon=":material/error:")
        return False
    finally:
        bar.empty()
    place.empty()  # (the button goes: the download takes its place)
    return True
