"""Open a stored run lazily: metadata at once, images one step at a time, confidences on demand."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from . import meta as M
from .errors import RunFormatError
from .limits import limits
from .location import Location

_RESHAPE = re.compile(r"cannot reshape array of size (\d+) into shape \(([\d, ]+)\)")


def describe_read_error(exc: BaseException) -> str:
    """Why a stored chunk could not be decoded, in words a user can act on (one line)."""
    text = " ".join(str(exc).split())
    m = _RESHAPE.search(text)
    if m:
        dims = [int(d) for d in m.group(2).replace(" ", "").split(",") if d]
        return (
            f"a stored chunk holds {m.group(1)} values where shape {tuple(dims)} needs "
            f"{math.prod(dims)}: the image shape changed between steps, or the chunk comes "
            "from another run"
        )
    if "decompress" in text.lower() or "zstd" in text.lower() or "blosc" in text.lower():
        return f"a chunk file is truncated or corrupt: {text[:200]}"
    return f"{type(exc).__name__}: {text[:300]}"


class _MissingArray(RunFormatError):
    """An array the run does not have (as opposed to one that is there but damaged)."""


class ImageSteps:
    """Lazy sequence of a run's images: ``images[i]`` reads only the chunk holding step i."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def __len__(self) -> int:
        return len(self._run)

    def __getitem__(self, index: int) -> np.ndarray:
        n = len(self._run)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1 and start < stop:  # one read: steps sharing a chunk decode it once
                try:
                    return np.asarray(self._run._array("images")[start:stop])
                except Exception:
                    pass  # read step by step below, so the error names the broken step
            return np.stack([self[i] for i in range(*index.indices(n))]) if n else np.zeros(0)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"step {index} out of range for a run of {n} steps")
        try:
            return np.asarray(self._run._array("images")[i])
        except RunFormatError:
            raise
        except Exception as exc:  # truncated/corrupt chunk
            raise RunFormatError(
                f"step {i} cannot be read ({describe_read_error(exc)})",
                run=self._run.id,
                field="images",
            ) from None

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def chunk_len(self) -> int:
        """How many steps share one stored chunk (reading a step decodes its whole chunk)."""
        try:
            return max(int(self._run._array("images").chunks[0]), 1)
        except Exception:
            return 1


class Run:
    """A stored run. Cheap to open; arrays are read only when asked for."""

    def __init__(self, loc: Location, meta: dict[str, Any], raw_meta: bytes) -> None:
        self.location = loc
        self.id = loc.name
        self.meta = meta
        self._raw_meta = raw_meta
        self._group_cache = None
        self._arrays: dict[str, Any] = {}
        self.images = ImageSteps(self)

    # -- metadata ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.location.url

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def attack(self) -> str | None:
        return self.meta.get("attack")

    @property
    def model(self) -> str | None:
        return self.meta.get("model")

    @property
    def params(self) -> dict[str, Any]:
        return self.meta.get("params") or {}

    @property
    def tags(self) -> list[str]:
        return self.meta.get("tags") or []

    @property
    def status(self) -> str:
        return self.meta["status"]

    @property
    def class_names(self) -> list[str] | None:
        return self.meta.get("class_names") if self.has_confidences else None

    @property
    def true_label(self) -> int | None:
        return self.meta.get("true_label")

    @property
    def target_label(self) -> int | None:
        return self.meta.get("target_label")

    @property
    def summary(self) -> dict[str, Any]:
        return self.meta.get("summary") or {}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self._array("images").shape[1:])

    @property
    def fingerprint(self) -> str:
        """Changes whenever the run's content changes (used as a cache key)."""
        h = hashlib.sha256(self._raw_meta)
        for name in ("images", "confidences", "original"):
            try:
                h.update(self.location.read_bytes(f"{name}/zarr.json"))
            except (OSError, FileNotFoundError):
                h.update(b"-")
        return h.hexdigest()[:32]

    def __len__(self) -> int:
        return int(self.meta["steps"])

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, name={self.name!r}, steps={len(self)}, status={self.status!r})"

    # -- arrays -----------------------------------------------------------------------------
    def _group(self):
        if self._group_cache is None:
            import zarr

            try:
                self._group_cache = zarr.open_group(
                    store=self.location.zarr_store(read_only=True), mode="r"
                )
            except Exception as exc:
                raise RunFormatError(
                    f"no readable Zarr group ({describe_read_error(exc)})",
                    run=self.id,
                    field="zarr.json",
                ) from None
        return self._group_cache

    def _has(self, name: str) -> bool:
        """True if the array exists; False if it is absent. A damaged one raises."""
        try:
            self._array(name)
        except _MissingArray:
            return False
        return True

    def _array(self, name: str):
        if name not in self._arrays:
            try:
                arr = self._group()[name]
            except RunFormatError:
                raise
            except KeyError:
                raise _MissingArray("array is missing", run=self.id, field=name) from None
            except Exception as exc:
                raise RunFormatError(
                    f"array metadata {name}/zarr.json cannot be read ({describe_read_error(exc)})",
                    run=self.id,
                    field=name,
                ) from None
            self._arrays[name] = arr
        return self._arrays[name]

    @cached_property
    def has_confidences(self) -> bool:
        return self._has("confidences")

    @cached_property
    def confidences(self) -> np.ndarray | None:
        """(steps, K) float32 probabilities, or None for runs without a classifier."""
        if not self.has_confidences:
            return None
        try:
            data = np.asarray(self._array("confidences")[: len(self)], dtype=np.float32)
        except Exception as exc:
            raise RunFormatError(
                f"cannot be read ({describe_read_error(exc)})", run=self.id, field="confidences"
            ) from None
        return data

    @cached_property
    def original(self) -> np.ndarray | None:
        """The clean image (H, W, C), or None when the run stored none."""
        if not self._has("original"):
            return None
        try:
            return np.asarray(self._array("original")[...])
        except Exception as exc:
            raise RunFormatError(
                f"cannot be read ({describe_read_error(exc)})", run=self.id, field="original"
            ) from None

    @cached_property
    def scalars(self) -> dict[str, np.ndarray]:
        """Named per-step scalar series (loss, norms, ...)."""
        try:
            group = self._group()["scalars"]
        except Exception:
            return {}
        out = {}
        try:
            for key, arr in sorted(group.arrays()):
                out[key] = np.asarray(arr[: len(self)], dtype=np.float64)
        except Exception as exc:
            raise RunFormatError(
                f"cannot be read ({describe_read_error(exc)})", run=self.id, field="scalars"
            ) from None
        return out

    def check_arrays(self) -> None:
        """Cheap structural check from array metadata only (no image data is read)."""
        n = len(self)
        if n == 0:
            raise RunFormatError("the run has zero steps", run=self.id, field="steps")
        for name in self.meta.get("arrays") or []:
            if name in ("images", "confidences", "original") and not self._has(name):
                raise RunFormatError(
                    "array is missing (run.json lists it)", run=self.id, field=name
                )
        images = self._array("images")
        if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
            raise RunFormatError(
                f"expected shape (steps, H, W, C) with C in 1/3/4; got {images.shape}",
                run=self.id,
                field="images",
            )
        if images.dtype not in (np.uint8, np.float32):
            raise RunFormatError(
                f"dtype must be uint8 or float32; got {images.dtype}", run=self.id, field="images"
            )
        stored = tuple(int(s) for s in images.shape[1:])
        said = self.meta.get("image_shape")
        if said is not None and tuple(said) != stored:
            raise RunFormatError(
                f"the images array holds {stored[0]}x{stored[1]}x{stored[2]} images but run.json "
                f"image_shape says {said[0]}x{said[1]}x{said[2]} (the image shape changed?)",
                run=self.id,
                field="images",
            )
        dtype = self.meta.get("image_dtype")
        if dtype is not None and str(images.dtype) != dtype:
            raise RunFormatError(
                f"the images array is {images.dtype} but run.json image_dtype says {dtype}",
                run=self.id,
                field="images",
            )
        lim = limits()
        if max(stored[0], stored[1]) > lim.max_side:
            raise RunFormatError(
                f"{stored[0]}x{stored[1]} images exceed the limit of {lim.max_side} px per side "
                "(ANIMLIB_MAX_SIDE)",
                run=self.id,
                field="images",
            )
        if images.shape[0] < n:
            raise RunFormatError(
                f"run.json says {n} steps but the images array holds {images.shape[0]}",
                run=self.id,
                field="steps",
            )
        if self.has_confidences:
            conf = self._array("confidences")
            if conf.ndim != 2 or conf.shape[0] < n:
                raise RunFormatError(
                    f"run.json says {n} steps but confidences have shape {conf.shape}",
                    run=self.id,
                    field="steps",
                )
            if conf.shape[1] > lim.max_classes:
                raise RunFormatError(
                    f"{conf.shape[1]} classes exceed the limit of {lim.max_classes} "
                    "(ANIMLIB_MAX_CLASSES)",
                    run=self.id,
                    field="confidences",
                )
            names = self.meta.get("class_names")
            if names is None or len(names) != conf.shape[1]:
                k = "none" if names is None else len(names)
                raise RunFormatError(
                    f"{conf.shape[1]} classes in the array but class_names has {k}",
                    run=self.id,
                    field="confidences",
                )
        if self._has("original"):
            orig = self._array("original")
            if tuple(orig.shape) != tuple(images.shape[1:]):
                raise RunFormatError(
                    f"shape {orig.shape} differs from the images' {images.shape[1:]}",
                    run=self.id,
                    field="original",
                )


def read_meta(loc: Location) -> tuple[dict[str, Any], bytes]:
    """Read and check ``run.json`` of the run folder ``loc``."""
    run_id = loc.name
    try:
        raw = loc.read_bytes(M.RUN_JSON)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        from .listing import missing_meta_reason

        raise RunFormatError(missing_meta_reason(loc), run=run_id) from None
    except OSError as exc:
        raise RunFormatError(f"cannot be read ({exc})", run=run_id, field=M.RUN_JSON) from None
    return M.check_meta(M.loads(raw, run_id), run_id), raw


def open_run(
    path: str | os.PathLike[str] | Location, *, storage_options: dict[str, Any] | None = None
) -> Run:
    """Open the run folder at ``path`` (a local path or fsspec URL) without reading any image.

    Raises :class:`~animlib.errors.RunFormatError` naming the run and the field if the
    run is broken.
    """
    loc = Location.of(path, storage_options)
    if not loc.exists():
        raise RunFormatError("no such run folder", run=loc.name, field="path")
    meta, raw = read_meta(loc)
    run = Run(loc, meta, raw)
    run.check_arrays()
    return run


def open_run_in(
    root: str | os.PathLike[str] | Location,
    run_id: str,
    *,
    storage_options: dict[str, Any] | None = None,
) -> Run:
    """Open run ``run_id`` inside the results folder ``root``, refusing unsafe ids.

    This is the entry point for ids typed by users (deep links, CLI): ids with path
    separators, ``..``, NUL or a leading dot are refused, and symlinks leading outside
    ``root`` are refused.
    """
    if not M.is_safe_id(run_id):
        raise RunFormatError(
            "is not a valid run id (a run id is a folder name inside the results folder: "
            "no '/', '\\', '..', NUL or control characters, no leading '.')",
            run=str(run_id),
        )
    root_loc = Location.of(root, storage_options)
    loc = root_loc.child(run_id)
    check_inside(root_loc, run_id)
    return open_run(loc)


LINKED_ENTRIES = (M.RUN_JSON, "zarr.json", "images", "confidences", "original", "scalars")


def check_inside(root: Location, run_id: str, entries: Sequence[str] = LINKED_ENTRIES) -> None:
    """Refuse a run whose folder, or one of its top-level ``entries``, is a symlink that leads
    outside the results folder ``root`` (nothing is read from there). No-op for remote stores."""
    if not root.is_local:
        return
    real_root = os.path.realpath(root.root)
    base = os.path.join(root.root, run_id)
    for rel in ("", *entries):
        real = os.path.realpath(os.path.join(base, rel) if rel else base)
        if real == real_root or os.path.commonpath([real, real_root]) != real_root:
            what = rel or "the run folder"
            raise RunFormatError(
                f"{what} is a symlink that points outside the results folder",
                run=run_id,
                field="path",
            )
