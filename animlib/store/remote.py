"""The fsspec backend: object storage (``s3://``, ``gs://``, ...), ``memory://``, any fsspec URL."""

# The only module of animlib that calls fsspec filesystems.

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import os
import re
import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from ..errors import Code, StoreError
from . import paths, s3listing
from .base import Entry, Store, replace_via_temp, storage_error

READ_BATCH = 64  # GETs in flight at once in read_many
CLAIM = ".claim"  # the object that makes a new run folder this writer's (make_exclusive)
_BUCKETS_SEEN: set[tuple[int, str, str]] = set()  # (filesystem, bucket, prefix) found to exist
# botocore's configuration on S3 unless storage_options' config_kwargs say otherwise: its
# default ("legacy", 5 attempts with back-off) spent 4-5 s per request on an endpoint that
# refuses connections, 16-29 s before a CLI command said so; s3fs retries throttling itself
S3_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 3}}


class RemoteStore(Store):
    """A folder (prefix) on an fsspec filesystem. Object stores have no symlinks and replace
    whole objects atomically; folders exist as soon as they hold an object."""

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        *,
        fs: Any = None,
        root: str | None = None,
        confined_to: str | None = None,
    ) -> None:
        self.storage_options = dict(storage_options or {})
        url = _one_slash(url) if root is None else url
        self._url = url.rstrip("/") or url
        self._confined_to = confined_to or self._url
        if fs is None or root is None:
            import fsspec

            try:
                fs, root = fsspec.core.url_to_fs(url, **_with_defaults(url, self.storage_options))
            except (ImportError, ValueError) as exc:
                raise StoreError(
                    f"cannot open {url!r}: {exc}", field="url", code=Code.UNSUPPORTED
                ) from None
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        if hasattr(fs, "split_path") and self.root == "/":  # s3://, gs://: no bucket named
            raise StoreError(
                f"{url!r} names no bucket (give s3://bucket/folder)", field="url", code=Code.INVALID
            )

    @property
    def url(self) -> str:
        return self._url

    @property
    def confined_to(self) -> str:
        return self._confined_to

    def _path(self, path: str) -> str:
        paths.validate_path_is_safe(path)
        return f"{self.root}/{path}" if path else self.root

    def child(self, name: str) -> RemoteStore:
        paths.check_run_id(name, StoreError)
        return RemoteStore(
            f"{self._url}/{name}",
            self.storage_options,
            fs=self.fs,
            root=f"{self.root}/{name}",
            confined_to=self._confined_to,
        )

    # -- reading --------------------------------------------------------------------------------
    def list(self, path: str = "", *, detail: bool = False) -> list[Entry]:
        folder = self._path(path)
        self.fs.invalidate_cache(folder)  # fsspec caches listings; runs change under us
        try:
            infos = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return self._no_folder(path)
        except NotADirectoryError:
            raise StoreError(
                "is not a folder", field=self.url_of(path), code=Code.INVALID
            ) from None
        except Exception as exc:
            raise storage_error(exc, path, self.url) from None
        if [i.get("type") for i in infos if i["name"].rstrip("/") == folder.rstrip("/")] == [
            "file"
        ]:
            raise StoreError("is not a folder", field=self.url_of(path), code=Code.INVALID)
        entries = [_entry(info, detail) for info in infos]
        return sorted((e for e in entries if e.name), key=lambda e: e.name)

    def scan_folders(
        self, member: str, hints: Sequence[str] = (), only: Collection[str] | None = None
    ) -> dict[str, Entry | None]:
        """One listing of everything below this folder. On S3 the listing is delimited by
        ``/c/``, so the chunk keys of each Zarr array collapse into one common prefix and a run
        costs about 8 keys whatever its length (1,000 keys per request), and with ``hints``
        key ranges are listed in parallel (:mod:`animlib.store.s3listing`); other filesystems
        list every file below (``find``)."""
        paths.validate_path_is_safe(member)
        base = self.root.rstrip("/") + "/"
        try:
            infos = self._below(hints)
        except FileNotFoundError:
            infos = []
        except Exception as exc:
            raise storage_error(exc, "", self.url) from None
        out: dict[str, Entry | None] = {}
        for info in infos:
            name = str(info.get("name", "")).rstrip("/")
            rel = name[len(base) :] if name.startswith(base) else ""
            folder, _, rest = rel.partition("/")
            if not folder or (not rest and info.get("type") != "directory"):
                continue  # a plain file directly inside this folder
            if rest == member and info.get("type") != "directory":
                out[folder] = dataclasses.replace(_entry(info, True), name=member)
            else:
                out.setdefault(folder, None)
        if not out:
            self.list()  # the same errors as a listing when the folder is missing or a file
        return out if only is None else {k: v for k, v in out.items() if k in only}

    def _below(self, hints: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Info dicts (``name``, ``type``, size, ETag/mtime) of the objects below this folder."""
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        if "s3" in protocols and hasattr(self.fs, "_call_s3"):
            return s3listing.list_below(self.fs, self.root, hints)
        found = self.fs.find(self.root, withdirs=True, detail=True)
        return list(found.values())

    def _no_folder(self, path: str) -> list[Entry]:
        """What listing the folder ``path`` that holds no object gives: on object storage (a
        filesystem with buckets) a prefix is a folder as soon as it holds an object, so in an
        existing bucket an empty folder (``[]``); StoreError naming the bucket if it does not
        exist or cannot be reached; elsewhere StoreError NOT_FOUND."""
        if not self._bucket():
            raise StoreError("folder does not exist", field=self.url_of(path), code=Code.NOT_FOUND)
        self.check_access()
        return []

    def find(self, path: str) -> list[str]:
        base = self._path(path).rstrip("/") + "/"
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        except Exception as exc:  # throttled, expired credentials: not "no files"
            raise storage_error(exc, path, self.url) from None
        return sorted(p[len(base) :] if p.startswith(base) else p for p in found)

    def find_tagged(self, path: str) -> list[tuple[str, str]]:
        base = self._path(path).rstrip("/") + "/"
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:  # throttled, expired credentials: not "no files"
            raise storage_error(exc, path, self.url) from None
        out = []
        for name, info in found.items():
            entry = _entry(info, True)  # (an S3 ETag; elsewhere size and times)
            tag = f"{entry.etag or ''}:{entry.size}:{entry.mtime}:{info.get('created', '')}"
            out.append((name[len(base) :] if name.startswith(base) else name, tag))
        return sorted(out)

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        full = self._path(path)
        # one GET: s3fs asks for the size first (a HEAD) unless told to read in one request
        kw: dict[str, Any] = _one_request(self.fs)
        if limit is not None:
            kw.update(start=0, end=limit)
        try:
            return self.fs.cat_file(full, **kw)
        except Exception as exc:
            raise storage_error(exc, path, self.url) from None

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | StoreError]:
        """One GET per file, ``READ_BATCH`` in flight, no HEAD or listing first (async
        filesystems such as s3fs); one after another on the others."""
        rels = list(paths)
        if not getattr(self.fs, "async_impl", False) or not rels:
            return super().read_many(rels)
        full = {rel: self._path(rel) for rel in rels}
        # s3fs asks for the size first (a HEAD) unless told to read each object in one request
        kw = _one_request(self.fs)
        try:
            got = self.fs.cat(list(full.values()), on_error="return", batch_size=READ_BATCH, **kw)
        except Exception as exc:
            err = storage_error(exc, "", self.url)
            return dict.fromkeys(rels, err)
        out: dict[str, bytes | StoreError] = {}
        for rel, path in full.items():
            value = got.get(path, FileNotFoundError(path))
            out[rel] = (
                storage_error(value, rel, self.url) if isinstance(value, Exception) else value
            )
        return out

    def contains(self, path: str = "") -> bool:
        full = self._path(path)
        # s3fs answers from its listing of the parent folder, kept for ever: another process
        # may have changed the folder since (a rewritten run), so ask the storage itself
        self.fs.invalidate_cache(full)
        try:
            return bool(self.fs.exists(full))
        except StoreError:
            raise
        except Exception as exc:
            raise storage_error(exc, path, self.url) from None

    def signature(self, member: str) -> str:
        # one listing call; changes inside runs (run.json updates) are seen within 5 s
        try:
            names = [e.name for e in self.list()]
        except StoreError:
            return "missing"
        return str(hash((tuple(names), int(time.time() // 5))))

    # -- writing --------------------------------------------------------------------------------
    def write_atomic(self, path: str, data: bytes) -> None:
        full = self._path(path)  # object stores replace whole objects atomically
        try:
            self.fs.pipe_file(full, data)
        except Exception as exc:
            raise self._write_error(exc, path) from None

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Atomic where the backend can: on S3 a conditional PUT (``If-None-Match: *``, s3fs's
        ``mode="create"``), in memory an exclusive open; elsewhere fsspec checks, then writes
        (best effort)."""
        full = self._path(path)
        try:
            self.fs.pipe_file(full, data, mode="create")
        except FileExistsError:
            return False
        except TypeError:  # an fsspec filesystem without the ``mode`` argument
            if self.contains(path):
                return False
            self.write_atomic(path, data)
        except Exception as exc:
            raise self._write_error(exc, path) from None
        return True

    def _write_error(self, exc: BaseException, path: str) -> StoreError:
        """The StoreError of a failed write of ``path``. An object store has no folders to be
        missing, so "no such file" there is a bucket that does not exist (NoSuchBucket), said
        so: it named the object written (a render cache's ``.lease-…``)."""
        error = storage_error(exc, path, self.url)
        if error.code != Code.MISSING or (bucket := self._bucket()) is None:
            return error
        try:
            return error if self._bucket_exists(bucket) else _no_bucket(bucket, self.url)
        except StoreError:  # (cannot be asked about: the write's own error)
            return error

    def make_exclusive(self) -> bool:
        """A folder on object storage is a prefix: of writers racing for one, the one whose
        claim object (a conditional PUT) lands first gets it; the others see it taken and
        move on (they took the same id and removed each other's runs)."""
        if self.contains() or self.contains("run.json"):
            return False
        self.makedirs()
        return self.create_exclusive(CLAIM, b"")

    def makedirs(self) -> None:
        """Nothing to make on object storage (folders are prefixes), but the bucket must
        exist: s3fs would create it, and a typo in its name would send runs to a new one."""
        try:
            if not self._bucket():
                self.fs.makedirs(self.root, exist_ok=True)
            else:
                self.check_access()
        except StoreError:
            raise
        except Exception as exc:
            raise storage_error(exc, "", self.url) from None

    def check_access(self) -> None:
        """Raise StoreError naming this folder's URL if its bucket does not exist or cannot
        be reached (credentials, endpoint)."""
        if (bucket := self._bucket()) and not self._bucket_exists(bucket):
            raise _no_bucket(bucket, self.url)

    def _bucket(self) -> str | None:
        """The bucket of this folder on a filesystem with buckets (s3fs, gcsfs), else None."""
        split = getattr(self.fs, "split_path", None)
        return str(split(self.root)[0]) if split is not None else None

    def _bucket_exists(self, bucket: str) -> bool:
        """False only when the storage says the bucket does not exist (404, NoSuchBucket):
        s3fs's ``exists`` says False on any error (no credentials, no endpoint), which read
        as a missing bucket; those are StoreError STORAGE naming this folder's URL."""
        key = self.fs.split_path(self.root)[1].strip("/")  # (listing only below the folder: a
        prefix = f"{key}/" if key else ""  # policy may allow no other listing in the bucket)
        if (id(self.fs), bucket, prefix) in _BUCKETS_SEEN:
            return True
        try:
            if hasattr(self.fs, "_call_s3"):  # one request, its errors kept
                from fsspec.asyn import sync

                kw = dict(
                    Bucket=bucket,
                    Prefix=prefix,
                    MaxKeys=1,
                    **(getattr(self.fs, "req_kw", {}) or {}),
                )
                sync(self.fs.loop, self.fs._call_s3, "list_objects_v2", **kw)  # noqa: SLF001
            elif not self.fs.exists(bucket):
                return False
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise _unreachable(bucket, self.url, exc) from None
        _BUCKETS_SEEN.add((id(self.fs), bucket, prefix))
        return True

    def remove(self, path: str = "", *, recursive: bool = False) -> None:
        """(A folder's subfolders go before its own files: a removal cut short leaves a run's
        run.json, which another removal finds, beside what is left, not arrays alone.)"""
        full = self._path(path)
        try:
            if recursive:
                top = full.rstrip("/") + "/"
                nested = [p for p in self.fs.find(full) if "/" in p.removeprefix(top)]
                if nested:
                    self.fs.rm(nested)
                self.fs.rm(full, recursive=True)
            else:
                self.fs.rm_file(full)
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise storage_error(exc, path, self.url) from None

    def upload(self, local_path: str | os.PathLike[str], path: str) -> None:
        full = self._path(path)
        try:
            self.fs.put_file(os.fspath(local_path), full)
        except Exception as exc:
            raise self._write_error(exc, path) from None

    def download(self, path: str, local_path: str | os.PathLike[str]) -> None:
        get = functools.partial(self.fs.get_file, self._path(path))
        replace_via_temp(os.fspath(local_path), get, path, self.url, caught=Exception)

    # -- arrays ---------------------------------------------------------------------------------
    def zarr_store(self, *, read_only: bool = True) -> Any:
        import zarr.storage

        return zarr.storage.FsspecStore.from_url(
            self.url,
            storage_options=_with_defaults(self.url, self.storage_options) or None,
            read_only=read_only,
        )


def _no_bucket(bucket: str, url: str) -> StoreError:
    return StoreError(
        f"bucket {bucket!r} does not exist (check its name; animlib creates no bucket)",
        field=url,
        code=Code.MISSING,
    )


def _unreachable(bucket: str, url: str, exc: BaseException) -> StoreError:
    """The error for a bucket that could not be asked about: why, and what to check."""
    kind = type(exc).__name__
    text = " ".join(str(exc).split())[:300]
    if isinstance(exc, PermissionError) or "Credential" in kind:
        hint = "check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, or storage_options)"
    elif "Endpoint" in kind or "Connect" in kind or "Timeout" in kind:
        hint = "check the endpoint (AWS_ENDPOINT_URL, or client_kwargs in storage_options)"
    else:
        hint = "check the credentials and the endpoint"
    return StoreError(
        f"bucket {bucket!r} cannot be accessed ({kind}: {text}): {hint}",
        field=url,
        code=Code.STORAGE,
    )


def _with_defaults(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for opening ``url``; on S3 with botocore's retries bounded (see
    :data:`S3_CONFIG`) unless ``options`` sets its own ``config_kwargs`` entries."""
    if not url.startswith("s3://"):
        return options
    config = copy.deepcopy({**S3_CONFIG, **(options.get("config_kwargs") or {})})
    return {**options, "config_kwargs": config}


def _entry(info: dict[str, Any], detail: bool) -> Entry:
    name = str(info.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
    is_dir = info.get("type") == "directory"
    if not detail:
        return Entry(name, is_dir)
    mtime = info.get("LastModified") or info.get("mtime") or info.get("updated")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    elif not isinstance(mtime, (int, float)):
        mtime = None
    etag = info.get("ETag") or info.get("etag")
    size = info.get("size")
    return Entry(
        name,
        is_dir,
        size=int(size) if isinstance(size, int) and not is_dir else None,
        mtime=float(mtime) if mtime is not None else None,
        etag=str(etag).strip('"') if etag else None,
    )


def _one_slash(url: str) -> str:
    """``url`` with repeated slashes in its path made one (``s3://b//runs`` is ``s3://b/runs``):
    an object store listed ``b//runs`` as another prefix, yet removed ``b/runs/x`` for
    ``b//runs/x``, so a writer given the doubled URL took an id in use and, finishing empty,
    removed another writer's run. The ``//`` after each scheme stays."""
    return re.sub(r"(?<!:)/{2,}", "/", url)


_CAT_FILE = "_cat_file"  # (fsspec's async implementation of cat_file, where s3fs takes options)


@functools.cache
def _takes_max_concurrency(kind: type) -> bool:
    try:
        return "max_concurrency" in inspect.signature(getattr(kind, _CAT_FILE)).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def _one_request(fs: Any) -> dict[str, Any]:
    """The keywords that make ``fs`` read an object in one GET: ``max_concurrency=1`` where its
    ``_cat_file`` takes it (s3fs >= 2026.3; before, it raised TypeError for the keyword, and
    reads take a HEAD and a GET)."""
    if hasattr(fs, "max_concurrency") and _takes_max_concurrency(type(fs)):
        return {"max_concurrency": 1}
    return {}
