"""``cached_render`` and ``cached_copy``: serve a render from the cache, or make it exactly once."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import Code, StoreError
from ..movie_writers.disk_full import disk_full, disk_full_error
from ..options import RenderOptions
from ..protocol import RunLike, as_runs, labels
from . import keys
from .folder import CacheFolder, check_outside
from .leases import Lease, acquire
from .stats import count
from .unwritable import cache_unwritable, temp_path

log = logging.getLogger("animlib.cache")

Progress = Callable[[int, int], Any]


def cached_render(
    runs: RunLike | Sequence[RunLike],
    fmt: str = "mp4",
    progress: Progress | None = None,
    options: RenderOptions | None = None,
    *,
    live_max_age: float | None = None,
    **kwargs: Any,
) -> Path:
    """Render one run (or a comparison of several) to ``fmt``, reusing an earlier identical render.

    A finished run's render is keyed by content (:func:`~animlib.cache.keys.render_key`); a live
    run's by identity, its one entry replaced as it grows (:mod:`animlib.cache.live`). With a
    shared cache (``ANIMLIB_CACHE`` a URL) a hit is downloaded once into the local folder. While
    another thread or process renders the same entry, this call waits for it (``progress`` shows
    that render's progress) instead of rendering it again.

    Args:
        runs: one run, or a list of 2-6 runs to compare.
        fmt: output format (``mp4``, ``gif``, ``html``, ``webm``).
        progress: ``progress(done, total)`` while frames are rendered.
        options: render options (and/or ``**kwargs``, as for :func:`animlib.render`).
        live_max_age: a live run's video made this many seconds ago or less is served even if
            the run grew since (default: ``LIVE_REFRESH_SECONDS``, for pages that poll; an
            export asks for 0: the run as it is now).

    Returns:
        A local file holding the render (do not modify it).

    Raises:
        RenderOptionError: a bad format or option. RunFormatError / RenderError: the runs cannot
            be rendered (a RenderError with code STORAGE: the cache's disk is full).
            StoreError: the cache folder cannot be used.
    """
    fmt = keys.check_format(fmt)
    opts = RenderOptions.of(options, **kwargs)
    group = as_runs(runs)
    got = _render_or_none(group, fmt, opts, progress, live_max_age)
    if got is not None:
        return got
    keyed = all(_keyed(r) for r in group)  # (else a name of its own: nothing to key it by)
    key = keys.render_key(group, fmt, opts) if keyed else f"uncached-{secrets.token_hex(8)}"
    target = temp_path(keys.entry_name(key, fmt))
    _render_uncached(group, target, fmt, opts, progress)
    return target


def _render_or_none(
    group: list[RunLike],
    fmt: str,
    opts: RenderOptions,
    progress: Progress | None,
    live_max_age: float | None,
) -> Path | None:
    """The cached render, or None when the cache folder cannot be written (said once:
    :func:`~animlib.cache.unwritable.cache_unwritable`) or a run has no content fingerprint
    to key it by (an object of the caller's own that implements ``RunLike``)."""
    if not all(_keyed(r) for r in group):
        log.info("not cached: %s has no fingerprint (not a stored run)", ", ".join(labels(group)))
        return None
    try:
        return _cached_render(group, fmt, opts, progress, live_max_age)
    except Exception as exc:  # (its disk full too: rendered without it, said once)
        if cache_unwritable(exc) is None:
            raise
    return None


def _keyed(run: RunLike) -> bool:
    """Whether ``run`` has a content fingerprint to key its renders by (a stored run does; an
    object of the caller's own that implements ``RunLike`` need not)."""
    return isinstance(getattr(run, "fingerprint", None), str)


def _render_uncached(
    group: list[RunLike], path: Path, fmt: str, opts: RenderOptions, progress: Progress | None
) -> None:
    """Render ``group`` straight to ``path`` (the cache cannot hold it)."""
    from .. import rendering

    rendering.render(group, path, options=opts, progress=progress, format=fmt)
    count("renders")


def _cached_render(
    group: list[RunLike],
    fmt: str,
    opts: RenderOptions,
    progress: Progress | None,
    live_max_age: float | None,
) -> Path:
    urls = {u.rstrip("/") for r in group if isinstance(u := getattr(r, "url", None), str)}
    for parent in {u.rsplit("/", 1)[0] for u in urls if "/" in u}:  # (a compare: one check)
        check_outside(parent)  # (runs read from a results folder: never write into it)
    folder = CacheFolder.current()
    if keys.is_live(group):
        from .live import cached_live

        try:
            return cached_live(folder, group, fmt, opts, progress, live_max_age)
        except StoreError as exc:
            folder = _fallback(folder, exc)
            return cached_live(folder, group, fmt, opts, progress, live_max_age)
    name = keys.entry_name(keys.render_key(group, fmt, opts), fmt)
    try:
        got, lease = _acquire(folder, name, progress)
    except StoreError as exc:
        folder = _fallback(folder, exc)
        got, lease = _acquire(folder, name, progress)
    if got is not None:
        return got
    assert lease is not None
    with lease:
        target = render_entry(folder, group, name, opts, progress, lease)
    # the run was live before: its live entry is replaced by this one
    folder.remove(keys.live_name(keys.live_key(group, fmt, opts), fmt))
    folder.evict(keep=name)
    return target


def _fallback(folder: CacheFolder, exc: StoreError) -> CacheFolder:
    """The local-only cache when the shared folder fails: unreachable, or its bucket missing
    (a typo in ``ANIMLIB_CACHE``, a bucket deleted); ``exc`` re-raised otherwise."""
    if not folder.shared or exc.code not in (Code.STORAGE, Code.MISSING):
        raise exc
    log.warning("the shared cache %s fails (%s): local folder only", folder.store.url, exc)
    return folder.local_only()


def _acquire(
    folder: CacheFolder, name: str, progress: Progress | None
) -> tuple[Path | None, Lease | None]:
    """The entry ``name`` if cached (at once, or after another renderer made it), else the
    lease to make it (a hit returns at once: :func:`acquire` looks for the entry first)."""
    return acquire(
        folder.store,
        name,
        lambda: serve(folder, name),
        ttl=folder.lease_seconds,
        progress=progress,
    )


def serve(folder: CacheFolder, name: str) -> Path | None:
    """The local file of the entry ``name`` if the cache holds it (counted as a hit)."""
    local = folder.local_path(name).is_file()
    path = folder.get(name)
    if path is not None:
        count("hits")
        if not local:
            count("downloads")
            log.info("served %s from the shared cache %s", name, folder.store.url)
    return path


def render_entry(
    folder: CacheFolder,
    group: list[RunLike],
    name: str,
    options: RenderOptions,
    progress: Progress | None,
    lease: Lease,
) -> Path:
    """Render ``group`` into the local file of ``name`` and publish it (the lease is held)."""
    from .. import rendering  # looked up per call: tests count the calls of rendering.render

    report = lease.reporting(progress)
    target = folder.local_path(name)
    started = time.perf_counter()
    if wrapped_mp4(folder, group, options, target):
        report(1, 1)
    elif len(group) == 1:
        rendering.render(group[0], target, options=options, progress=report)
    else:
        rendering.render_compare(group, target, options=options, progress=report)
    try:
        folder.publish(name)
    except StoreError as exc:  # the render is still served from the local folder
        log.warning("cannot share %s in %s: %s", name, folder.store.url, exc)
    count("renders")
    log.info("rendered %s in %.2f s (pid %s)", name, time.perf_counter() - started, os.getpid())
    return target


def wrapped_mp4(
    folder: CacheFolder, group: list[RunLike], options: RenderOptions, target: Path
) -> bool:
    """An HTML render ``target`` made from the cached MP4 of the same runs and options (the
    page embeds that very video): True if it was, False if that MP4 is not cached (a failing
    read too: the page is then rendered)."""
    if target.suffix != ".html":
        return False
    try:
        mp4 = folder.get(keys.entry_name(keys.render_key(group, "mp4", options), "mp4"))
    except StoreError:
        return False
    if mp4 is None:
        return False
    from ..figure import figure_size
    from ..movie_writers.html_page import write_page
    from ..rendering import video_metadata

    frames = options.frames(max(len(r) for r in group))
    size, meta = figure_size(group, options), video_metadata(group, options)
    write_page(mp4, target, size=size, fps=options.fps, frames=frames, metadata=meta)
    log.info("made %s from the cached MP4", target.name)
    return True


def cached_copy(
    runs: RunLike | Sequence[RunLike],
    path: str | os.PathLike[str],
    *,
    options: RenderOptions | None = None,
    progress: Progress | None = None,
    format: str | None = None,
) -> Path:
    """``animlib.render(..., cache=True)``: the cached render of ``runs``, copied to ``path``.

    Args:
        runs: one run or 2-6 runs to compare.
        path: the output file (it appears complete or not at all).
        options: render options.
        progress: ``progress(done, total)`` if it has to be rendered.
        format: the output format, if not the suffix of ``path``.

    Returns:
        ``path`` as a Path.

    Raises:
        RenderOptionError: an unknown format. StoreError (STORAGE): ``path`` cannot be written;
            RenderError (STORAGE) if its disk is full. Otherwise as :func:`cached_render`.
    """
    from ..movie_writers import check_output_folder, get_writer, writer_for_path

    path = Path(path)
    fmt = get_writer(format).name if format else writer_for_path(path).name
    check_output_folder(path)
    group, opts = as_runs(runs), RenderOptions.of(options)
    entry = _render_or_none(group, keys.check_format(fmt), opts, progress, 0.0)  # (as it is now)
    if entry is None:  # the cache folder cannot be written: straight to the output
        _render_uncached(group, path, fmt, opts, progress)
        return path
    if path.exists() and os.path.samefile(entry, path):
        return path
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        shutil.copyfile(entry, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # (a read-only folder refuses this too)
            tmp.unlink(missing_ok=True)
        if disk_full(exc):
            raise disk_full_error(path, labels(as_runs(runs))) from None
        raise StoreError(
            f"cannot write the render ({exc.strerror or exc})", field=str(path), code=Code.STORAGE
        ) from None
    count("copies")
    return path
