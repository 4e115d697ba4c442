"""RunWriter: append one attack step at a time to a run folder (Zarr arrays + atomic run.json)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from . import lock
from . import meta as M
from .arrays import (
    normalize_confidences,
    normalize_image,
    normalize_scalar,
)
from .errors import AnimlibError, Code, RunInputError, StoreError
from .limits import check_classes, check_json_depth, check_side, check_steps
from .reader import Run
from .store import Store, open_store
from .store.paths import run_id_for
from .summary import SummaryAccumulator

CHUNK_TARGET_BYTES = 512 * 1024
# Every chunk is stored, even one equal to the fill value (an all-black step), so a missing
# chunk file always means a damaged run and ``validate`` can say so.
ARRAY_CONFIG = {"write_empty_chunks": True}


def steps_per_chunk(step_nbytes: int, cap: int = 1024) -> int:
    """How many steps go in one chunk so a chunk stays near 512 KiB (at least one step)."""
    return int(max(1, min(cap, CHUNK_TARGET_BYTES // max(1, step_nbytes))))


class RunWriter:
    """Write one run: ``with RunWriter("runs", name=...) as w: w.log(image=x, confidences=p)``.

    The run folder (its id) is derived from ``name``, made safe for paths and unique in
    ``root``. Every ``log`` call checks its input completely before writing anything, so a
    bad step raises :class:`~animlib.errors.RunInputError` and leaves earlier steps intact.
    Leaving the ``with`` block normally marks the run ``finished``; an exception marks it
    ``failed``. Readers see every step whose ``log`` call has returned.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | Store,
        name: str,
        *,
        attack: str | None = None,
        model: str | None = None,
        class_names: list[str] | None = None,
        true_label: int | None = None,
        target_label: int | None = None,
        params: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        original: Any = None,
        layout: str = "auto",
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise RunInputError(f"must be a non-empty string; got {name!r}", field="name")
        if "\x00" in name:
            raise RunInputError("contains a NUL byte", run=name, field="name")
        self.name = name
        self._layout = layout
        if class_names is not None:
            class_names = [str(c) for c in to_list(class_names, "class_names", name)]
            if not class_names:
                raise RunInputError("must not be empty", run=name, field="class_names")
            check_classes(len(class_names), run=name, field="class_names", error=RunInputError)
        true_label = _label(true_label, "true_label", name)
        target_label = _label(target_label, "target_label", name)
        n = len(class_names) if class_names else None
        M.check_labels(class_names, true_label, target_label, n, RunInputError, name)
        if params is not None and not isinstance(params, dict):
            raise RunInputError("must be a dict", run=name, field="params")
        check_json_depth(params, run=name, field="params", error=RunInputError)  # before any folder
        tags = [str(t) for t in to_list(tags or [], "tags", name)]
        self._original = None
        if original is not None:
            try:
                self._original = normalize_image(original, layout=layout, field="original")
            except AnimlibError as exc:
                raise exc.with_run(name) from None
            _check_side(self._original.shape, name, "original")

        root_store = open_store(root, storage_options)
        root_store.makedirs()
        self._store, self.run_id = self._reserve(root_store, name)
        lock.acquire(self._store, self.run_id)
        self._created_here = True
        created = M.now_iso()
        self.meta: dict[str, Any] = {
            "format_version": M.FORMAT_VERSION,
            "name": name,
            "attack": attack,
            "model": model,
            "params": params or {},
            "class_names": class_names,
            "true_label": true_label,
            "target_label": target_label,
            "status": "running",
            "created": created,
            "updated": created,
            "steps": 0,
            "tags": tags,
            "image_shape": None,
            "image_dtype": None,
            "summary": {},
            "original_sha1": _sha1(self._original),
        }
        self._n = 0
        self._arrays: dict[str, Any] = {}
        self._scalar_names: list[str] = []
        self._has_conf: bool | None = None
        self._closed = False
        self._summary = SummaryAccumulator(true_label, target_label, self._original)
        self._write_meta()
        import zarr

        self._group = zarr.open_group(store=self._store.zarr_store(read_only=False), mode="a")
        if self._original is not None:
            arr = self._group.create_array(
                "original",
                shape=self._original.shape,
                dtype=self._original.dtype,
                config=ARRAY_CONFIG,
            )
            arr[...] = self._original

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike[str] | Store,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> RunWriter:
        """Re-open an existing run (e.g. after its writer was killed) and append after its last
        complete step. Raises RunInputError (code BUSY) if another live writer holds the run."""
        from .reader import open_run

        store = open_store(path, storage_options)
        run = open_run(store)
        self = cls.__new__(cls)
        self.name = run.name
        self.run_id = run.id
        self._store = store
        self._created_here = False
        lock.acquire(store, run.id)
        try:
            self._load(run)
        except BaseException:
            lock.release(store)
            raise
        return self

    def _load(self, run: Run) -> None:
        import zarr

        self.meta = dict(run.meta)
        self._layout = "auto"
        self._group = zarr.open_group(store=self._store.zarr_store(read_only=False), mode="a")
        with zarr.config.set({f"array.{k}": v for k, v in ARRAY_CONFIG.items()}):
            self._arrays = {"images": self._group["images"]}
            self._has_conf = "confidences" in self._group
            if self._has_conf:
                self._arrays["confidences"] = self._group["confidences"]
            self._scalar_names = []
            if "scalars" in self._group:
                for key, arr in sorted(self._group["scalars"].arrays()):
                    self._arrays[key] = arr
                    self._scalar_names.append(key)
        self._original = run.original
        self._n = len(run)
        self._closed = False
        self._summary = SummaryAccumulator(
            run.true_label,
            run.target_label,
            self._original,
            steps=self._n,
            stored=self.meta.get("summary") or {},
        )
        self.meta["status"] = "running"
        self.meta.pop("error", None)
        self._write_meta()

    # -- public API -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Where the run folder is (a local path or an fsspec URL)."""
        return self._store.url

    path = url

    def __len__(self) -> int:
        return self._n

    def log(
        self,
        image: Any = None,
        confidences: Any = None,
        *,
        logits: Any = None,
        layout: str | None = None,
        **scalars: Any,
    ) -> int:
        """Append one step; return its index. Raises RunInputError before writing on bad input."""
        if self._closed:
            raise RunInputError(
                "this writer is closed", run=self.run_id, field="log", code=Code.CLOSED
            )
        try:
            step = self._prepare(image, confidences, logits, layout or self._layout, scalars)
        except AnimlibError as exc:
            raise exc.with_run(self.run_id) from None
        self._append(*step)
        return self._n - 1

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Mark the run finished (or failed) and close it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._n == 0 and status == "failed" and self._created_here:
            self._remove_empty()
            return
        try:
            self._trim()
            self.meta["status"] = status
            if error:
                self.meta["error"] = error[:2000]
            self._write_meta()
        finally:
            lock.release(self._store)

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.finish("finished")
        else:
            self.finish("failed", error=f"{exc_type.__name__}: {exc}")
        return False

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _reserve(root: Store, name: str) -> tuple[Store, str]:
        base = run_id_for(name)
        for i in range(1, 10_000):
            candidate = base if i == 1 else f"{base}-{i}"
            store = root.child(candidate)
            if store.make_exclusive():
                return store, candidate
        raise RunInputError(
            "no free folder name for this run", run=name, field="name", code=Code.LIMIT
        )

    def _prepare(self, image, confidences, logits, layout, scalars):
        if image is None:
            raise RunInputError("every step needs an image", field="image")
        img = normalize_image(image, layout=layout, field="image")
        self._check_image(img)
        conf = self._prepare_confidences(confidences, logits)
        values = {}
        for key, value in scalars.items():
            if key in ("images", "original", "confidences") or not key.isidentifier():
                raise RunInputError("is not a valid scalar name", field=key)
            values[key] = normalize_scalar(value, field=key)
        check_steps(self._n + 1, field="steps", error=RunInputError)
        return img, conf, values

    def _check_image(self, img: np.ndarray) -> None:
        """Refuse a step image whose size, shape or dtype differs from the run's."""
        _check_side(img.shape, None, "image")
        want = self.meta["image_shape"]
        if want is not None and list(img.shape) != want:
            raise RunInputError(
                f"step {self._n} has shape {img.shape} but earlier steps have {tuple(want)}",
                field="image",
                code=Code.MISMATCH,
            )
        if want is not None and str(img.dtype) != self.meta["image_dtype"]:
            raise RunInputError(
                f"step {self._n} is {img.dtype} but earlier steps are {self.meta['image_dtype']}",
                field="image",
                code=Code.MISMATCH,
            )
        original = self._original
        if original is not None and img.shape != original.shape:
            raise RunInputError(
                f"shape {img.shape} differs from the original's {original.shape}",
                field="image",
                code=Code.MISMATCH,
            )
        if original is not None and img.dtype != original.dtype:
            raise RunInputError(
                f"dtype {img.dtype} differs from the original's {original.dtype}",
                field="image",
                code=Code.MISMATCH,
            )

    def _prepare_confidences(self, confidences: Any, logits: Any) -> np.ndarray | None:
        """The step's (K,) probabilities (softmax of ``logits``), checked against the run."""
        if confidences is not None and logits is not None:
            raise RunInputError("pass confidences or logits, not both", field="confidences")
        conf = None
        if confidences is not None or logits is not None:
            names = self.meta["class_names"]
            conf = normalize_confidences(
                confidences if logits is None else logits,
                n_classes=len(names) if names else self._n_classes(),
                field="confidences" if logits is None else "logits",
                logits=logits is not None,
            )
            check_classes(len(conf), field="confidences", error=RunInputError)
            for field in ("true_label", "target_label"):
                label = self.meta[field]
                if label is not None and label >= len(conf):
                    raise RunInputError(
                        f"{label} is out of range for {len(conf)} classes", field=field
                    )
        if self._has_conf is not None and (conf is not None) != self._has_conf:
            have = "logs" if self._has_conf else "does not log"
            raise RunInputError(
                f"step {self._n}: this run {have} confidences; every step must do the same",
                field="confidences",
                code=Code.MISMATCH,
            )
        return conf

    def _n_classes(self) -> int | None:
        arr = self._arrays.get("confidences")
        return None if arr is None else int(arr.shape[1])

    def _create_arrays(self, img: np.ndarray, conf: np.ndarray | None) -> None:
        g = self._group
        spc = steps_per_chunk(img.nbytes)
        self._arrays["images"] = g.create_array(
            "images",
            shape=(0, *img.shape),
            chunks=(spc, *img.shape),
            dtype=img.dtype,
            fill_value=0,
            config=ARRAY_CONFIG,
        )
        self.meta["image_shape"] = list(img.shape)
        self.meta["image_dtype"] = str(img.dtype)
        self.meta["arrays"] = ["images"] + ["confidences"] * (conf is not None)
        if self._original is not None:
            self.meta["arrays"].append("original")
        self._has_conf = conf is not None
        if conf is not None:
            k = len(conf)
            self._arrays["confidences"] = g.create_array(
                "confidences",
                shape=(0, k),
                chunks=(steps_per_chunk(k * 4, cap=4096), k),
                dtype="float32",
                fill_value=0.0,
                config=ARRAY_CONFIG,
            )
            if self.meta["class_names"] is None:
                self.meta["class_names"] = [str(i) for i in range(k)]

    def _scalar_array(self, key: str):
        if key not in self._arrays:
            arr = self._group.require_group("scalars").create_array(
                key,
                shape=(self._n,),
                chunks=(4096,),
                dtype="float64",
                fill_value=np.nan,
                config=ARRAY_CONFIG,
            )
            self._arrays[key] = arr
            self._scalar_names.append(key)
        return self._arrays[key]

    def _append(self, img: np.ndarray, conf: np.ndarray | None, scalars: dict[str, float]) -> None:
        if self._n == 0:
            self._create_arrays(img, conf)
        n = self._n
        _grow(self._arrays["images"], n)[n] = img
        if conf is not None:
            _grow(self._arrays["confidences"], n)[n] = conf
        for key in scalars:
            self._scalar_array(key)
        for key in self._scalar_names:
            _grow(self._arrays[key], n)[n] = scalars.get(key, np.nan)
        self._n = n + 1
        self._summary.add(conf, img)
        self.meta["summary"] = self._summary.stored()
        self.meta["steps"] = self._n
        self.meta["updated"] = M.now_iso()
        self._write_meta()

    def _trim(self) -> None:
        for arr in self._arrays.values():
            if arr.shape[0] != self._n:
                arr.resize((self._n, *arr.shape[1:]))

    def _remove_empty(self) -> None:
        """A run that failed before its first step is removed: nothing half-written stays."""
        try:
            self._store.remove(recursive=True)
        except StoreError:
            self.meta["status"] = "failed"
            self._write_meta()

    def _write_meta(self) -> None:
        self._store.write_atomic(M.RUN_JSON, M.dumps(self.meta))


def _check_side(shape: tuple[int, ...], run: str | None, field: str) -> None:
    check_side(shape[0], shape[1], run=run, field=field, error=RunInputError)


def _sha1(image: np.ndarray | None) -> str | None:
    """Content hash of the clean image, so runs on the same source image can be grouped."""
    if image is None:
        return None
    return hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()[:16]


def _grow(arr: Any, n: int) -> Any:
    """Make room for step ``n``, growing a whole chunk at a time (fewer metadata writes)."""
    if arr.shape[0] <= n:
        rows = arr.chunks[0]
        arr.resize(((n // rows + 1) * rows, *arr.shape[1:]))
    return arr


def to_list(value: Any, field: str, run: str) -> list:
    """Accept a list/tuple/array of items; reject strings and other scalars clearly."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise RunInputError(f"must be a list; got {type(value).__name__}", run=run, field=field)
    return list(value)


def _label(value: Any, field: str, run: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise RunInputError(f"must be an integer class index; got {value!r}", run=run, field=field)
    if hasattr(value, "item") and not isinstance(value, (int, np.integer)):
        value = value.item()
    if not isinstance(value, (int, np.integer)):
        raise RunInputError(f"must be an integer class index; got {value!r}", run=run, field=field)
    return int(value)
