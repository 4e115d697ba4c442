"""Live runs: one cache entry per (runs, options, format), replaced as the runs grow."""

# A run still being written (``status == "running"``) changes with every step, so a content key
# would add a new entry per view. Its render is keyed by identity instead
# (:func:`~animlib.cache.keys.live_key`) and described by a manifest, the sidecar
# ``.live-<entry>.json``: the step count of each run it shows, its frame count, its *pins*, the
# video's size and SHA-256, and when it was made.
#
# - **Fresh**: the manifest's step counts are the runs' own, or it is younger than
#   ``LIVE_REFRESH_SECONDS`` (a live view is re-made at most that often; every viewer in between
#   gets the same video). A manifest made "in the future" (the clock moved back, or a replica
#   sharing the cache has a clock ahead) is old: no clock comparison can keep a view from growing.
# - **Append** (MP4, WebM): a frame of a running run depends only on its own step and on the pins
#   (frame size; per row the bar classes, the perturbation gain, the width of the step field, the
#   labels and names): a running run's status line reads ``step 57 (running)``, not ``of 119``. If
#   the pins are unchanged and every run only grew, the frames rendered before are still right: only
#   the new ones are rendered and joined to the previous video with ffmpeg's concat demuxer (stream
#   copy, no re-encoding). The previous video comes from the local folder (verified against the
#   manifest's SHA-256), downloaded if missing.
# - **Re-render**: anything else (pins changed, a run shrank or was replaced, GIF/HTML, no previous
#   video): the whole video, replacing the entry.
#
# The lease of the entry serialises the work: one process re-makes it while the others wait and then
# serve what it made. When the run has finished, its next render is an ordinary content-keyed entry
# and the live entry is deleted.

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg

from ..errors import Code, RenderError, StoreError
from ..frames import FrameRenderer
from ..movie_writers.base import meta_value
from ..options import RenderOptions
from ..protocol import RunLike, check_compare, labels
from ..rendering import encode_frames, video_metadata
from . import keys
from .folder import CacheFolder
from .leases import acquire
from .stats import count

log = logging.getLogger("animlib.cache")

LIVE_REFRESH_SECONDS = 2.0  # a live entry younger than this is served even if the runs grew
APPENDABLE = ("mp4", "webm")  # formats whose renders are joined without re-encoding
# H.264 of live renders has no B-frames: with them a segment's first timestamps depend on its
# length, and joining a short segment left a gap of up to two frames at the seam (measured)
WRITER_OPTIONS: dict[str, dict[str, Any]] = {"mp4": {"extra_args": ["-bf", "0"]}}

Progress = Callable[[int, int], Any]


@dataclass(frozen=True)
class Manifest:
    """What a live entry shows (see the module docstring)."""

    steps: list[int]
    frames: int
    pins: str
    size: int
    sha256: str
    made: float  # wall time it was made
    segments: int = 1

    @classmethod
    def parse(cls, raw: bytes) -> Manifest | None:
        """The manifest in ``raw``.

        Args:
            raw: the sidecar's bytes.

        Returns:
            The manifest, or None for anything else.
        """
        try:
            info = json.loads(raw)
            return cls(
                steps=[int(s) for s in info["steps"]],
                frames=int(info["frames"]),
                pins=str(info["pins"]),
                size=int(info["size"]),
                sha256=str(info["sha256"]),
                made=float(info["made"]),
                segments=int(info.get("segments", 1)),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()


def read_manifest(folder: CacheFolder, name: str) -> Manifest | None:
    """The manifest of the live entry ``name``.

    Args:
        folder: the cache.
        name: the live entry.

    Returns:
        The manifest, or None if there is none or it is garbled.

    Raises:
        StoreError: (STORAGE) if the cache cannot be read.
    """
    try:
        return Manifest.parse(folder.store.read(keys.sidecar(keys.LIVE, name)))
    except StoreError as exc:
        if exc.code == Code.MISSING:
            return None
        raise


_digests: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file (remembered per path, mtime and size).

    Args:
        path: a local file.

    Returns:
        The hex digest.

    Raises:
        OSError: if the file cannot be read.
    """
    st = path.stat()
    slot = (str(path), st.st_mtime_ns, st.st_size)
    digest = _digests.get(slot)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        if len(_digests) > 256:
            _digests.clear()
        _digests[slot] = digest
    return digest


def local_video(folder: CacheFolder, name: str, manifest: Manifest) -> Path | None:
    """The local file of the live entry ``name`` as ``manifest`` describes it (downloaded when
    the local copy is missing or another version).

    Args:
        folder: the cache.
        name: the live entry.
        manifest: what the file must be (size and SHA-256).

    Returns:
        The local file, or None if the cache has no such video.

    Raises:
        StoreError: (STORAGE) if the shared folder cannot be read.
    """
    path = folder.local_path(name)

    def matches() -> bool:
        try:
            return path.stat().st_size == manifest.size and sha256_of(path) == manifest.sha256
        except OSError:
            return False

    if matches():
        folder.touch(name)
        return path
    if folder.shared and folder.download(name) and matches():
        count("downloads")
        folder.touch(name)
        return path
    return None


def pins_of(frames: FrameRenderer) -> str:
    """What every frame of a render depends on besides its own step (module docstring).

    Args:
        frames: the renderer of the runs as they are now.

    Returns:
        A digest (equal digests: the frames of earlier steps are unchanged).
    """
    rows = []
    for row in frames.figure.rows:
        data = row.data
        rows.append(
            [
                row.classes,
                row.amplification,
                row.status.widest,
                data.label,
                data.run.attack,
                data.run.model,
                list(data.class_names),
                data.true_label,
                data.target_label,
                data.original is not None,
                list(data.run.image_shape),
            ]
        )
    blob = json.dumps([list(frames.size), rows], default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def reusable(old: Manifest, steps: list[int], pins: str, options: RenderOptions) -> int:
    """How many frames of the video ``old`` describes are still right.

    Args:
        old: the manifest of the video made before.
        steps: each run's step count now.
        pins: :func:`pins_of` the runs now.
        options: the render options.

    Returns:
        0 or ``old.frames`` (all of them).
    """
    if old.pins != pins or len(old.steps) != len(steps):
        return 0
    limit = old.frames
    for before, now in zip(old.steps, steps, strict=True):
        if now < before:
            return 0
        if now > before:  # frames showing its earlier steps are unchanged (others held its end)
            limit = min(limit, options.frames_on_stride(before))
    return old.frames if limit >= old.frames else 0


def cached_live(
    folder: CacheFolder,
    group: list[RunLike],
    fmt: str,
    options: RenderOptions,
    progress: Progress | None,
    max_age: float | None = None,
) -> Path:
    """:func:`~animlib.cache.cached_render` for runs of which one at least is running.

    Args:
        folder: the cache.
        group: the runs (one, or 2-6 to compare).
        fmt: the output format.
        options: the render options.
        progress: ``progress(done, total)`` while frames are rendered (here or elsewhere).
        max_age: a video made this many seconds ago or less is served even if the runs grew
            (default :data:`LIVE_REFRESH_SECONDS`).

    Returns:
        The local file of the live entry.

    Raises:
        As :func:`~animlib.cache.cached_render`.
    """
    if len(group) > 1:
        check_compare(group)
    name = keys.live_name(keys.live_key(group, fmt, options), fmt)
    steps = [len(r) for r in group]

    def ready() -> Path | None:
        manifest = read_manifest(folder, name)
        if manifest is None:
            return None
        age = LIVE_REFRESH_SECONDS if max_age is None else max_age
        if manifest.steps != steps and not is_fresh(manifest.made, age):
            return None
        return local_video(folder, name, manifest)

    got, lease = acquire(folder.store, name, ready, ttl=folder.lease_seconds, progress=progress)
    if got is not None:
        count("hits")
        return got
    assert lease is not None
    with lease:
        path = _remake(folder, group, fmt, options, name, lease.reporting(progress))
    folder.evict(keep=name)
    return path


def is_fresh(made: float, age: float, now: float | None = None) -> bool:
    """Whether a live entry made at ``made`` (wall time) is younger than ``age`` seconds: one
    made "in the future" (this machine's clock moved back since, or a replica sharing the cache
    has its clock ahead) counts as old and is re-made, never as fresh until the clock catches
    up."""
    elapsed = (time.time() if now is None else now) - made
    return 0.0 <= elapsed < age


def _remake(
    folder: CacheFolder,
    group: list[RunLike],
    fmt: str,
    options: RenderOptions,
    name: str,
    progress: Progress,
) -> Path:
    """Append to or re-render the live entry ``name`` (the lease is held); returns its file."""
    started = time.perf_counter()
    old = read_manifest(folder, name)
    base = local_video(folder, name, old) if old is not None and fmt in APPENDABLE else None
    target = folder.local_path(name)
    steps = [len(r) for r in group]
    with (
        FrameRenderer(group, options) as frames,
        tempfile.TemporaryDirectory(prefix=".tmp-live-", dir=folder.local) as tmp,
    ):
        pins = pins_of(frames)
        start = reusable(old, steps, pins, options) if base is not None and old else 0
        start = min(start, len(frames))
        segments = old.segments + 1 if start else 1
        total = len(frames)
        if start < total:  # (start == total: nothing new, e.g. only the manifest was stale)
            folder_tmp = Path(tmp)
            kw = {"progress": progress, "writer_options": WRITER_OPTIONS.get(fmt)}
            if start:
                segment = encode_frames(frames, folder_tmp / f"new.{fmt}", start=start, **kw)
                made = concat([target, segment], folder_tmp / f"joined.{fmt}", fmt, frames)
            else:
                made = encode_frames(frames, folder_tmp / f"all.{fmt}", **kw)
            made.replace(target)
            folder.publish(name)
        else:
            segments -= 1
    manifest = Manifest(
        steps=steps,
        frames=total,
        pins=pins,
        size=target.stat().st_size,
        sha256=sha256_of(target),
        made=time.time(),
        segments=max(segments, 1),
    )
    folder.store.write_atomic(keys.sidecar(keys.LIVE, name), manifest.to_bytes())
    count("appends" if start else "renders")
    log.info(
        "%s live %s: frames %d-%d of %s in %.2f s",
        "appended to" if start else "rendered",
        name,
        start,
        total,
        labels(group),
        time.perf_counter() - started,
    )
    return target


def concat(parts: list[Path], out: Path, fmt: str, frames: FrameRenderer) -> Path:
    """Join videos of one encoding with ffmpeg's concat demuxer (stream copy) into ``out``,
    with the metadata of the whole render.

    Raises:
        RenderError: if ffmpeg fails.
    """
    listing = out.with_name(f".concat-{secrets.token_hex(4)}.txt")
    listing.write_text("".join(f"file '{_quoted(p)}'\n" for p in parts), encoding="utf-8")
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    cmd += ["-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"]
    meta = video_metadata(frames.runs, frames.options)
    for key in ("title", "artist", "comment"):
        if meta.get(key):
            cmd += ["-metadata", f"{key}={meta_value(meta[key])}"]
    if fmt == "mp4":
        cmd += ["-movflags", "+faststart"]
    cmd += ["-f", fmt, str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RenderError(
            f"ffmpeg could not join the videos: {exc}", field="encoder", code=Code.RENDER
        ) from None
    finally:
        with contextlib.suppress(OSError):
            listing.unlink()
    if proc.returncode != 0:
        raise RenderError(
            f"ffmpeg could not join the videos: {proc.stderr.strip()[-2000:] or 'no message'}",
            run=labels(frames.runs),
            field="encoder",
            code=Code.RENDER,
        )
    return out


def _quoted(path: Path) -> str:
    """A path for a concat list (single quotes escaped the way ffmpeg reads them)."""
    return str(path.resolve()).replace("'", "'\\''")
