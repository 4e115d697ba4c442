"""Where runs live: a local folder or any fsspec URL, behind one small file interface."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem


@dataclass
class Location:
    """A folder on some filesystem: local paths stay plain paths, URLs go through fsspec.

    The rest of animlib reads and writes runs only through this class, so the UI never
    knows whether runs live on disk, in memory or in a bucket.
    """

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = str(self.url)
        if "\x00" in self.url:
            raise ValueError("path contains a NUL byte")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        self.root = self.root.rstrip("/") or "/"

    @classmethod
    def of(cls, where: str | os.PathLike[str] | Location, storage_options: dict | None = None):
        """Return ``where`` as a :class:`Location` (pass-through if it already is one)."""
        if isinstance(where, Location):
            return where
        return cls(os.fspath(where), dict(storage_options or {}))

    @property
    def is_local(self) -> bool:
        """True when this location is a folder on the local disk."""
        return isinstance(self.fs, LocalFileSystem)

    @property
    def name(self) -> str:
        """The last path component (a run's id when this is a run folder)."""
        return self.root.rstrip("/").rsplit("/", 1)[-1]

    def child(self, name: str) -> Location:
        """The location of ``name`` directly inside this folder."""
        if self.is_local:
            return Location(str(Path(self.root) / name), self.storage_options)
        base = self.url.rstrip("/")
        return Location(f"{base}/{name}", self.storage_options)

    def path(self, rel: str = "") -> str:
        """The filesystem path of ``rel`` inside this folder."""
        return f"{self.root}/{rel}" if rel else self.root

    def exists(self, rel: str = "") -> bool:
        return self.fs.exists(self.path(rel))

    def isdir(self, rel: str = "") -> bool:
        return self.fs.isdir(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        if self.is_local:
            with open(self.path(rel), "rb") as fh:
                return fh.read()
        return self.fs.cat_file(self.path(rel))

    def read_many(self, rels: Iterable[str]) -> dict[str, bytes | Exception]:
        """Read several files at once (one batched call on object stores)."""
        rels = list(rels)
        out: dict[str, bytes | Exception] = {}
        if self.is_local:
            for rel in rels:
                try:
                    out[rel] = self.read_bytes(rel)
                except OSError as exc:
                    out[rel] = exc
            return out
        paths = [self.path(rel) for rel in rels]
        if getattr(self.fs, "async_impl", False):
            from fsspec.asyn import sync

            values = sync(self.fs.loop, _cat_concurrently, self.fs, paths)
        else:
            values = []
            for p in paths:
                try:
                    values.append(self.fs.cat_file(p))
                except Exception as exc:  # reported per file, never raised for the batch
                    values.append(exc)
        for rel, value in zip(rels, values, strict=True):
            out[rel] = value
        return out

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Write a file so readers see the old or the new content, never a half file."""
        if self.is_local:
            target = self.path(rel)
            folder = os.path.dirname(target)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        else:  # object stores replace whole objects atomically
            self.fs.pipe_file(self.path(rel), data)

    def makedirs(self, exist_ok: bool = True) -> None:
        self.fs.makedirs(self.root, exist_ok=exist_ok)

    def make_exclusive(self) -> bool:
        """Create this folder; False if it already exists (used to reserve a run id)."""
        if self.is_local:
            try:
                os.makedirs(os.path.dirname(self.root) or ".", exist_ok=True)
                os.mkdir(self.root)
            except FileExistsError:
                return False
            return True
        if self.fs.exists(self.root) or self.fs.exists(self.path("run.json")):
            return False
        self.fs.makedirs(self.root, exist_ok=True)
        return True

    def listdir(self) -> list[tuple[str, bool]]:
        """(name, is_dir) for each entry directly inside this folder, sorted by name."""
        if self.is_local:
            with os.scandir(self.root) as it:
                entries = [(e.name, e.is_dir()) for e in it]
        else:
            self.fs.invalidate_cache(self.root)  # object-store listings are cached by fsspec
            entries = []
            for info in self.fs.ls(self.root, detail=True):
                name = info["name"].rstrip("/").rsplit("/", 1)[-1]
                entries.append((name, info.get("type") == "directory"))
        return sorted(entries)

    def zarr_store(self, read_only: bool = True):
        """A Zarr v3 store rooted at this folder."""
        import zarr.storage

        if self.is_local:
            return zarr.storage.LocalStore(self.root, read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            self.url, storage_options=self.storage_options or None, read_only=read_only
        )

    def __str__(self) -> str:
        return self.url


async def _cat_concurrently(fs: Any, paths: list[str], batch: int = 64) -> list[Any]:
    """GET many small objects at once (one request each, ``batch`` in flight, no HEADs)."""
    import asyncio
    import inspect

    gate = asyncio.Semaphore(batch)
    # s3fs sends a HEAD first unless told to read small objects in one request
    kw = (
        {"max_concurrency": 1}
        if "max_concurrency" in inspect.signature(fs._cat_file).parameters
        else {}
    )

    async def one(path: str) -> Any:
        async with gate:
            try:
                return await fs._cat_file(path, **kw)
            except Exception as exc:
                return exc

    return await asyncio.gather(*(one(p) for p in paths))
