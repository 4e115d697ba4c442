"""Render cache outside the results folder: keyed by run content + options, LRU-bounded."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import Code, RenderOptionError
from .options import RenderOptions
from .protocol import RunLike, as_runs, run_label
from .settings import settings


def cache_dir() -> Path:
    """The render cache folder (``ANIMLIB_CACHE``, else the user's cache folder), created."""
    path = Path(settings().cache_location())
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_bytes() -> int:
    """The cache's size bound (``ANIMLIB_CACHE_MAX_MB``, default 2048 MB)."""
    return settings().cache_max_bytes


def render_key(runs: RunLike | Sequence[RunLike], fmt: str, options: RenderOptions) -> str:
    """The one key of a render: it changes with any run's content, any option, the format or
    animlib's version (used by the render cache and by ``render --all``'s up-to-date stamps)."""
    payload = {
        "v": __version__,
        "fmt": str(fmt).lower().lstrip("."),
        "runs": [[run_label(r), r.fingerprint] for r in as_runs(runs)],
        "options": options.as_dict(),
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:40]


def lookup(key: str, fmt: str) -> Path | None:
    """The cached file for ``key`` if present (and mark it recently used)."""
    path = cache_dir() / f"{key}.{fmt}"
    if path.is_file():
        try:
            os.utime(path)
        except OSError:
            pass
        return path
    return None


STALE_TEMP_SECONDS = 24 * 3600


def evict(keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Delete least-recently-used files until the cache fits its bound; return what was removed.

    Hidden files are renders still being written (by this or another process): they are left
    alone, unless older than a day (left behind by a crash).
    """
    limit = max_bytes() if limit is None else limit
    files = []
    removed = []
    now = time.time()
    for entry in os.scandir(cache_dir()):
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
        except OSError:  # removed meanwhile by another process
            continue
        if entry.name.startswith("."):
            if now - st.st_mtime > STALE_TEMP_SECONDS:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            continue
        files.append((st.st_mtime, st.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= limit:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed


def cached_render(
    runs: RunLike | Sequence[RunLike],
    fmt: str = "mp4",
    progress: Callable[[int, int], None] | None = None,
    options: RenderOptions | None = None,
    **kwargs: Any,
) -> Path:
    """Render one run (or a comparison of several) to ``fmt``, reusing an earlier identical render.

    Safe when two processes render the same key at once: each writes its own temp file and
    renames it into place, so readers only ever see complete files.
    """
    from .rendering import render, render_compare

    fmt = str(fmt).lower().lstrip(".")
    if not fmt.isalnum():
        raise RenderOptionError(
            f"not an output format: {fmt!r}", field="format", code=Code.UNSUPPORTED
        )
    opts = RenderOptions.of(options, **kwargs)
    group = as_runs(runs)
    key = render_key(group, fmt, opts)
    hit = lookup(key, fmt)
    if hit is not None:
        return hit
    target = cache_dir() / f"{key}.{fmt}"
    if len(group) == 1:
        render(group[0], target, options=opts, progress=progress)
    else:
        render_compare(group, target, options=opts, progress=progress)
    evict(keep=target)
    return target
