"""Frame strips: a run's display images packed, a few steps per lossless PNG, for the browser."""

# A strip is ``per_strip`` consecutive stored steps stacked vertically (step ``s`` of strip ``i`` is
# rows ``s*H .. (s+1)*H``). The browser fetches the strip holding the shown step (and its
# neighbours) and draws one frame of it into a canvas, so stepping never waits for the server once a
# strip is in. Strips are written once into the render cache's local folder (outside the results
# folder), keyed by the run's content (a running run's: its identity, see :func:`strip_files`) and
# the gain; the cache's LRU bound covers them. Sessions and processes asking for the same strips at
# once make them once: the maker holds the render cache's lease (:mod:`animlib.cache.leases`) of
# ``<key>-<layout and gain tag>``, the others wait for it (a dead maker's lease is taken over).
#
# Why strips of PNG (measured on a 1,000-step 224x224 PGD-like run, +-1/255 noise per step):
# - one PNG per step would be 1,000 requests; a strip of ~2.4 MB raw (15 such frames) is one request
#   and one image decode per 15 steps;
# - PNG is lossless and decodes natively; zlib level 1 writes 85-100 KB per frame in 8-11 ms; level
#   6 saves 10% for 3x the time, lossless WebP 20% for 3x the time;
#   (written by :func:`~animlib.player.pixels.png`, not Pillow: 4x as fast, the same pixels;
#   see benchmarks/bench_player_open.py)
# - the perturbation is a palette PNG of 8-bit indices: ~35 KB per frame in ~2.5 ms;
# - an H.264 video (yuv420p, the only kind every browser plays) is 1.5 KB per frame at crf 20, but
#   its pixels are off by 3.7/255 on average (max 21/255) where the perturbation averages 4.2/255:
#   the signs of the decoded perturbation agree with the true ones for 59% of the pixels (66% even
#   at crf 0, lost to chroma subsampling), so it cannot show a perturbation. Runs above
#   ``MAX_IMAGE_BYTES`` of raw display pixels store every ``stride``-th step's image and the last
#   step's (the confidences stay exact for every step).

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache.leases import Progress, acquire
from ..cache.whole import is_whole
from ..options import on_stride, strided_count, strided_step
from ..settings import settings
from ..store import LocalStore
from .pixels import (
    auto_gain,
    colour_planes,
    compiled_strip,
    display_u8,
    perturbation_index,
    png,
)

STRIP_BYTES = 2_400_000  # raw display bytes per strip (about 16 frames of 224x224 RGB)
MAX_PER_STRIP = 64
MAX_STRIP_ROWS = 16_384  # pixel rows per strip image (decoders handle far more; keep it sane)
MAX_IMAGE_BYTES = 1 << 30  # raw display bytes of a run above which images get a stride
FORMAT = 2  # bump when the strip layout or pixels change (part of the cache key)
MEMORY_BYTES = 256 * 2**20  # strips kept in memory when the cache folder cannot be written


@dataclass(frozen=True)
class StripPlan:
    """How a run's images are cut into strips."""

    steps: int
    height: int
    width: int
    stride: int = 1  # the image of every stride-th step is stored (1: every step)
    per_strip: int = 16  # stored steps per strip

    @property
    def on_stride(self) -> int:
        """How many stored steps are ``i * stride`` (the last step may be stored besides)."""
        return on_stride(self.steps, self.stride)

    @property
    def stored(self) -> int:
        """How many steps have their image stored: every ``stride``-th and the last one, as a
        video keeps them (:func:`~animlib.options.strided_count`)."""
        return strided_count(self.steps, self.stride)

    def step_of(self, stored: int) -> int:
        """The run step of stored image ``stored``."""
        return strided_step(stored, self.steps, self.stride)

    @property
    def count(self) -> int:
        """How many strips."""
        return -(-self.stored // self.per_strip)

    def steps_of(self, index: int) -> list[int]:
        """The run steps whose images strip ``index`` holds, top to bottom."""
        first = index * self.per_strip
        last = min(first + self.per_strip, self.stored)
        return [self.step_of(i) for i in range(first, last)]

    def locate(self, step: int) -> tuple[int, int]:
        """(strip, row) of the image shown at ``step`` (the stored step at or before it)."""
        step = min(step, self.steps - 1)
        stored = self.stored - 1 if step == self.steps - 1 else step // self.stride
        return stored // self.per_strip, stored % self.per_strip


def plan_for(
    steps: int, image_shape: tuple[int, ...], max_bytes: int = MAX_IMAGE_BYTES
) -> StripPlan:
    """The strip plan of a run with ``steps`` images of ``image_shape`` (H, W, C)."""
    h, w = int(image_shape[0]), int(image_shape[1])
    c = int(image_shape[2]) if len(image_shape) > 2 else 1
    c = 4 if c == 2 else min(c, 4)
    frame = max(h * w * c, 1)
    stride = max(1, math.ceil(steps * frame / max_bytes))
    per = max(1, min(MAX_PER_STRIP, STRIP_BYTES // frame, MAX_STRIP_ROWS // max(h, 1)))
    return StripPlan(steps=steps, height=h, width=w, stride=stride, per_strip=per)


def _images(run: Any, steps: list[int]) -> list[np.ndarray]:
    if len(steps) > 1 and steps[-1] - steps[0] == len(steps) - 1:
        return list(run.images[steps[0] : steps[-1] + 1])  # one read per stored chunk
    return [run.images[s] for s in steps]


def encode_strip(
    run: Any, plan: StripPlan, index: int, gain: float | None, reference: Any
) -> dict[str, bytes]:
    """PNG bytes of strip ``index``: ``"image"`` (display pixels) and, given the original's
    colour planes (``reference``), ``"perturbation"`` (palette indices)."""
    images = _images(run, plan.steps_of(index))
    perturbed = reference is not None and gain is not None
    both = compiled_strip(images, reference if perturbed else None, gain)
    if both is not None:
        out = {"image": png(both[0])}
        if perturbed:
            out["perturbation"] = png(both[1], indexed=True)
        return out
    out = {"image": png(np.concatenate([display_u8(im) for im in images], axis=0))}
    if perturbed:
        index_rows = [perturbation_index(im, reference, gain) for im in images]
        out["perturbation"] = png(np.concatenate(index_rows, axis=0), indexed=True)
    return out


@dataclass(frozen=True)
class StripFiles:
    """The cached files of a run's strips (their bytes when kept in memory)."""

    plan: StripPlan
    gain: float | None  # amplification of the perturbation panel (None: no original)
    images: list[Path | bytes]
    perturbations: list[Path | bytes] | None
    original: Path | bytes | None


class MemoryStrips:
    """Strips kept in this process's memory, by file name, when the cache folder cannot be
    written; the least recently used go beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = MEMORY_BYTES) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, name: str) -> bytes | None:
        """The strip ``name`` if kept (then the most recently used), else None."""
        with self._lock:
            data = self._data.get(name)
            if data is not None:
                self._data.move_to_end(name)
            return data

    def put(self, name: str, data: bytes) -> None:
        """Keep the strip ``name``, dropping the least recently used beyond the bound."""
        with self._lock:
            self._size += len(data) - len(self._data.pop(name, b""))
            self._data[name] = data
            while self._size > self.max_bytes and len(self._data) > 1:
                self._size -= len(self._data.popitem(last=False)[1])


MEMORY = MemoryStrips()  # the process's strips when the cache folder cannot be written


def gain_for(run: Any, amplification: float | None) -> float | None:
    """The perturbation gain: ``amplification`` if given, else the figure's automatic one;
    None for runs without an original (no perturbation panel)."""
    if run.original is None or len(run) == 0:
        return None
    if amplification:
        return float(amplification)
    running = getattr(run, "status", None) == "running"
    return auto_gain(run.images[len(run) - 1], run.original, running=running)


def _tag(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _fresh(path: Path) -> bool:
    """True if ``path`` exists and is whole (a strip cut short by a crash showed as a blank
    panel on every later visit: written again); its time is set to now (the cache evicts the
    least recent)."""
    try:
        os.utime(path)
    except OSError:
        return False
    return is_whole(path)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:  # (a full disk: no partial strip left behind)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class _Place:
    """Where :func:`strip_files` keeps strips: files in a folder, or a :class:`MemoryStrips`
    (then the bytes of those a call finds or makes stay with it, for its answer)."""

    def __init__(self, folder: Path | MemoryStrips) -> None:
        self.memory = folder if isinstance(folder, MemoryStrips) else None
        self.base = Path(folder) if self.memory is None else Path()
        self._kept: dict[str, bytes] = {}

    def fresh(self, path: Path) -> bool:
        if self.memory is None:
            return _fresh(path)
        data = self.memory.get(path.name)
        if data is not None:
            self._kept[path.name] = data
        return data is not None

    def write(self, path: Path, data: bytes) -> None:
        if self.memory is None:
            return _write(path, data)
        self._kept[path.name] = data
        self.memory.put(path.name, data)
        return None

    def found(self, path: Path) -> Path | bytes:
        return path if self.memory is None else self._kept[path.name]


def strip_files(
    run: Any,
    folder: Path | MemoryStrips,
    key: str,
    *,
    amplification: float | None = None,
    progress: Callable[[int, int], Any] | None = None,
    workers: int = 2,
) -> StripFiles:
    """Write the strips of ``run`` missing from ``folder`` and return all their paths.

    Names start with ``key``, which must change with the run's content, or for a running run
    with its identity: a strip's name holds how many steps it has, and the steps a running run
    has stored never change, so as it grows only its last strip and new ones are written. With
    a :class:`MemoryStrips` for ``folder`` (the cache folder cannot be written) the strips are
    kept there and their bytes returned.
    """
    place = _Place(folder)
    fresh, write, found, base = place.fresh, place.write, place.found, place.base
    plan = plan_for(len(run), run.image_shape)
    gain = gain_for(run, amplification)
    original = run.original
    layout = f"{FORMAT}.{plan.stride}.{plan.per_strip}"

    def name(i: int, tag: str, kind: str) -> Path:  # (its last step: the run's last one
        held = plan.steps_of(i)  # may sit after a shorter stride, and move as the run grows)
        return base / f"{key}-{tag}-{i:05d}-{len(held)}-{held[-1]}-{kind}.png"

    images = [name(i, _tag(layout), "image") for i in range(plan.count)]
    perts = None
    if gain is not None:
        tag = _tag(f"{layout}.{gain!r}")
        perts = [name(i, tag, "perturbation") for i in range(plan.count)]
    orig_path = None
    if original is not None:
        orig_path = base / f"{key}-original.png"
        if not fresh(orig_path):
            write(orig_path, png(display_u8(original)))

    def missing() -> list[int]:
        return [i for i in range(plan.count) if not (fresh(images[i]) and fresh_pert(i))]

    def fresh_pert(i: int) -> bool:
        return perts is None or fresh(perts[i])

    reference = colour_planes(original) if gain is not None else None

    def one(i: int) -> None:
        data = encode_strip(run, plan, i, gain, reference)
        write(images[i], data["image"])
        if perts is not None:
            write(perts[i], data["perturbation"])

    def make(todo: list[int], report: Progress | None) -> None:
        _each(one, todo, workers, report)

    if place.memory is not None:  # (this process's own: no lease)
        make(missing(), progress)
    elif todo := _leased(base, f"{key}-{_tag(f'{layout}.{gain!r}')}", missing, make, progress):
        # a running run's last strip is written again as it grows: drop the versions before
        # (in memory: the oldest go first)
        written = [images[i] for i in todo] + [perts[i] for i in todo if perts]
        _drop_superseded(base, written)
    return StripFiles(
        plan,
        gain,
        [found(p) for p in images],
        None if perts is None else [found(p) for p in perts],
        None if orig_path is None else found(orig_path),
    )


def _each(
    one: Callable[[int], None], todo: list[int], workers: int, report: Progress | None
) -> None:
    """``one(i)`` for each strip ``i`` of ``todo``, in ``workers`` threads, reporting each done."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(one, i) for i in todo]
        for done, future in enumerate(as_completed(futures), 1):
            future.result()
            if report is not None:
                report(done, len(todo))


def _leased(
    folder: Path,
    entry: str,
    missing: Callable[[], list[int]],
    make: Callable[[list[int], Progress | None], None],
    progress: Progress | None,
) -> list[int]:
    """Make the ``missing()`` strips under the lease of ``entry`` in ``folder``, as renders are
    made (:mod:`animlib.cache.leases`): sessions and processes asking for the same strips at
    once make them once, the others wait (seeing the maker's progress) and then find them; a
    dead maker's lease is taken over. The strips this call made (none if found)."""
    if not missing():
        return []
    store = LocalStore(folder)
    got, lease = acquire(
        store,
        entry,
        lambda: True if not missing() else None,
        ttl=settings().cache_lease_seconds,
        progress=progress,
    )
    if got is not None:
        return []
    assert lease is not None
    with lease:
        todo = missing()
        make(todo, lease.reporting(progress))
    return todo


SUPERSEDED_AFTER_S = 10.0  # (a page that took a strip a moment ago registers it first)


def _drop_superseded(folder: Path, written: list[Path]) -> None:
    """Remove the other versions of the strips just ``written``, written more than
    :data:`SUPERSEDED_AFTER_S` ago: a running run's last strip is written again as it grows,
    under a name holding its length (``<key>-<tag>-<strip>-<steps>-<last>-<kind>.png``); one
    version per strip stays, not one per look. Strips of another gain or layout (another page,
    another session) have another tag and are left alone."""
    names = {p.name for p in written}
    same = set()  # (the name up to the strip number, its kind)
    for name in names:
        head, _steps, _last, kind = name.rsplit("-", 3)
        same.add((head, kind))
    limit = time.time() - SUPERSEDED_AFTER_S
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        parts = entry.name.rsplit("-", 3)
        if entry.name in names or len(parts) != 4 or (parts[0], parts[3]) not in same:
            continue
        try:
            if entry.stat().st_mtime < limit:
                os.unlink(entry.path)
        except OSError:  # (gone meanwhile: another process dropped it)
            pass
