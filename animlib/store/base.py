"""The ``Store`` interface: one folder of files, wherever it lives."""

# The model is MLflow's artifact repositories (``mlflow/store/artifact/``): an abstract base class
# with one method per storage operation, one small module per backend (``local.py`` for folders on
# this machine, ``remote.py`` for every other fsspec URL), a factory choosing the backend by URL
# scheme (``open_store`` in ``__init__.py``, an unknown scheme is a clear error) and one path-safety
# check (``paths.py``) that every backend applies. Backend differences live in the backends; the
# rest of animlib never asks which one it has, and no module outside this package touches fsspec.
#
# Paths given to the methods are relative to the store's folder, ``/``-separated (``"run.json"``,
# ``"images/zarr.json"``; ``""`` is the folder itself) and are checked by
# :func:`~animlib.store.paths.validate_path_is_safe`.
#
# A store is *confined* to a folder (itself, or the results folder it was made a ``child`` of):
# nothing is read through a symlink leading outside it (code UNSAFE). Failures are
# :class:`~animlib.errors.StoreError` with a code: MISSING (no such file), NOT_FOUND (no such
# folder), UNSAFE (a path or link leading outside), STORAGE (the storage refused: permissions,
# space, network).

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import Code, StoreError


@dataclass(frozen=True)
class Entry:
    """One entry of a folder listing. ``size`` and ``mtime`` (seconds since the epoch) or
    ``etag`` are filled in when the backend gives them (``list(detail=True)``); a run index uses
    them to re-read only changed files. ``etag`` is an opaque version tag: the object's ETag on
    object stores, inode, mtime in ns, size and ctime in ns of a local file (from
    :meth:`Store.scan_folders`)."""

    name: str
    is_dir: bool
    size: int | None = None
    mtime: float | None = None
    etag: str | None = None


class Store(ABC):
    """A folder of files (local disk, object storage, memory) behind one small interface."""

    #: the storage options (fsspec keyword arguments) this store was opened with
    storage_options: dict[str, Any]
    #: how new Zarr arrays here separate the parts of a chunk key: ``/`` (``c/0/0``) keeps a
    #: listing of object storage delimited by ``/c/`` short (see ``store/s3listing.py``)
    chunk_separator: str = "/"

    # -- where ----------------------------------------------------------------------------------
    @property
    @abstractmethod
    def url(self) -> str:
        """This folder as a path (local) or URL (remote); ``open_store(url)`` opens it again."""

    @property
    def name(self) -> str:
        """The last part of the folder's path (a run's id when this is a run folder)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def confined_to(self) -> str:
        """The path or URL of the folder nothing may be read from outside of: this folder, or
        the folder this store was made a ``child`` of."""
        return self.url

    def url_of(self, path: str = "") -> str:
        """The path or URL of ``path`` inside this folder (no storage access)."""
        return f"{self.url.rstrip('/')}/{path}" if path else self.url

    @abstractmethod
    def child(self, name: str) -> Store:
        """The store of the run folder ``name`` directly inside this one (``name`` must be a
        plain run id). The child stays confined to the same folder as this store."""

    # -- reading --------------------------------------------------------------------------------
    @abstractmethod
    def list(self, path: str = "", *, detail: bool = False) -> list[Entry]:
        """Entries directly inside the folder ``path``, sorted by name. With ``detail`` the size
        and mtime/ETag are filled in where the backend has them. Raises StoreError NOT_FOUND if
        the folder does not exist, INVALID if it is a file."""

    def folder_names(self, path: str = "") -> list[str]:
        """The names of the folders directly inside the folder ``path`` (links to folders
        too), in no particular order: :meth:`list` without its entries (cheaper on 100,000
        run folders). Raises as :meth:`list`."""
        return [e.name for e in self.list(path) if e.is_dir]

    @abstractmethod
    def find(self, path: str) -> list[str]:
        """Every file below the folder ``path``, relative to it (``[]`` if there is none);
        StoreError if it cannot be listed (never an empty list for a listing that failed)."""

    def find_tagged(self, path: str) -> list[tuple[str, str]]:
        """:meth:`find` with a version tag of each file, as cheaply as the backend gives one:
        local ``inode:mtime_ns:size:ctime_ns`` (a file put back by ``cp -a`` keeping its mtime
        gets another), object stores ETag and size; this default: none (``""``).

        Returns:
            ``(relative path, tag)`` by path.
        """
        return [(name, "") for name in self.find(path)]

    @abstractmethod
    def read(self, path: str, *, limit: int | None = None) -> bytes:
        """The bytes of the file ``path`` (only the first ``limit`` if given, so a file far
        larger than expected costs no more than that); StoreError MISSING if there is none."""

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | StoreError]:
        """Read several files; each value is the bytes or the StoreError for that file (one
        unreadable file never fails the others). Object stores send the reads concurrently."""
        out: dict[str, bytes | StoreError] = {}
        for path in paths:
            try:
                out[path] = self.read(path)
            except StoreError as exc:
                out[path] = exc
        return out

    def scan_folders(
        self, member: str, hints: Sequence[str] = (), only: Collection[str] | None = None
    ) -> dict[str, Entry | None]:
        """Every sub-folder of this folder, mapped to the details (size, mtime, ``etag``) of the
        file ``member`` directly inside it, or None when it holds no such file (or reaching it
        goes through a symlink leading outside). A run index calls this on every refresh, so
        backends do it without one request per folder where they can (local: one directory
        scan and one ``stat`` per folder; S3: one listing). This default lists each folder.

        Args:
            member: a file name (``"run.json"``).
            hints: folder names seen by an earlier scan (object stores may list key ranges
                between them in parallel; others ignore them).
            only: look at these folders only (backends that cannot do that cheaply scan them
                all and leave the others out).

        Returns:
            Sub-folder name -> the member's Entry, or None.

        Raises:
            StoreError: NOT_FOUND if this folder does not exist, INVALID if it is a file.
        """
        out: dict[str, Entry | None] = {}
        for entry in self.list():
            if not entry.is_dir or (only is not None and entry.name not in only):
                continue
            try:
                inside = self.list(entry.name, detail=True)
            except StoreError:
                inside = []
            out[entry.name] = next((e for e in inside if e.name == member and not e.is_dir), None)
        return out

    def member_versions(
        self, member: str, hints: Sequence[str] = (), only: Collection[str] | None = None
    ) -> dict[str, str | None]:
        """:meth:`scan_folders`, keeping only a version tag of each member: its ``etag``, else
        its size and mtime (what a run index compares).

        Args:
            member: a file name (``"run.json"``).
            hints: as for :meth:`scan_folders`.
            only: as for :meth:`scan_folders`.

        Returns:
            Sub-folder name -> the member's version tag, or None when it has no such file.

        Raises:
            StoreError: NOT_FOUND if this folder does not exist, INVALID if it is a file.
        """
        found = self.scan_folders(member, hints, only)
        return {
            k: None if e is None else e.etag or f"{e.size}:{e.mtime!r}" for k, e in found.items()
        }

    def folder_version(self) -> str | None:
        """A cheap tag that changes when entries are added to or removed from this folder
        (local: its inode and mtime), or None when the backend has none (object stores):
        callers then scan."""
        return None

    @abstractmethod
    def contains(self, path: str = "") -> bool:
        """True if the file or folder ``path`` exists (``""``: this folder)."""

    def check_links(self, path: str = "", *, recursive: bool = False) -> None:
        """Raise StoreError UNSAFE naming the first symlink at or below ``path`` (below it too
        with ``recursive``) that leads outside the folder this store is confined to. Nothing
        to do for backends without symlinks."""
        return None

    def write_time(self, path: str) -> str:
        """A tag of when the file ``path`` was last written where the backend tells it cheaply
        (local: mtime in ns and size), else "": a file rewritten with the same bytes within a
        second (a run overwritten at once) gets another tag, for cache keys."""
        return ""

    @abstractmethod
    def signature(self, member: str) -> str:
        """A cheap value that changes when entries are added to or removed from this folder, or
        (as far as the backend can tell cheaply) when the file ``member`` inside one changes."""

    # -- writing --------------------------------------------------------------------------------
    @abstractmethod
    def write_atomic(self, path: str, data: bytes) -> None:
        """Write a file so readers see the old or the new content, never a part. Local files
        get the permissions every new file gets (the umask is honoured)."""

    def reserve_temp(self, path: str) -> None:
        """Create ahead of time the temporary file a later :meth:`write_atomic` of ``path``
        fills and renames into place, where creating a file costs far more than filling one
        (a local disk: ~0.5 ms per new file on a busy VM). Best effort; the default does
        nothing. :meth:`drop_temps` removes the ones no write used."""
        return None

    def drop_temps(self) -> None:
        """Remove the temporary files :meth:`reserve_temp` made that no write used."""
        return None

    @abstractmethod
    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create the file ``path`` holding ``data`` unless it exists; False if it existed.
        Atomic on local folders and on S3 (a conditional PUT); best effort (check, then write)
        on object stores without conditional writes."""

    @abstractmethod
    def make_exclusive(self) -> bool:
        """Create this folder (and its parents); False if it already existed (reserves a run
        id)."""

    def check_access(self) -> None:
        """Raise StoreError (naming this folder) if its storage cannot be reached, for a
        writer to say so before it starts: on object storage, a bucket that does not exist
        or cannot be accessed (credentials, endpoint). Nothing to check locally."""
        return None

    def make_folder(self, path: str) -> None:
        """Create the folder ``path`` inside this folder unless it exists. Its parent must
        exist (StoreError MISSING otherwise), so a run folder removed under a writer is never
        rebuilt. Object stores have no folders: nothing to do there."""
        return None

    @abstractmethod
    def makedirs(self) -> None:
        """Create this folder and its parents if missing."""

    @abstractmethod
    def remove(self, path: str = "", *, recursive: bool = False) -> None:
        """Delete the file ``path``, or with ``recursive`` the folder ``path`` and everything in
        it (``""``: this folder). A missing path is not an error."""

    def set_aside(self) -> Store:
        """Move this folder out of sight in one step, to be removed (:meth:`remove`): a removal
        killed half-way then leaves nothing a reader takes for it, and several folders set
        aside first go almost at once. Returns the store of where it went; here (an object
        store, which has no such step) itself."""
        return self

    @abstractmethod
    def upload(self, local_path: str | os.PathLike[str], path: str) -> None:
        """Copy the local file ``local_path`` to ``path`` in this folder."""

    def download(self, path: str, local_path: str | os.PathLike[str]) -> None:
        """Copy the file ``path`` of this folder to the local file ``local_path``, which appears
        complete or not at all (StoreError MISSING if there is no such file). Here: one read,
        then a temporary file renamed into place; backends stream instead."""
        data = self.read(path)

        def fill(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                fh.write(data)

        replace_via_temp(os.fspath(local_path), fill, path, self.url)

    @contextmanager
    def staged(self, path: str) -> Iterator[str]:
        """A local file path to write; when the block ends without error the file is at ``path``
        in this folder. (Here: a temporary file, then :meth:`upload`.)"""
        with tempfile.TemporaryDirectory(prefix="animlib-") as tmp:
            local = os.path.join(tmp, posixpath.basename(path))
            yield local
            self.upload(local, path)

    # -- arrays ---------------------------------------------------------------------------------
    @abstractmethod
    def zarr_store(self, *, read_only: bool = True) -> Any:
        """A Zarr v3 store rooted at this folder (confined like this store)."""

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def replace_via_temp(
    target: str,
    fill: Callable[[str], object],
    path: str,
    url: str,
    *,
    caught: type[BaseException] = OSError,
    named: bool = False,
    tmp: str | None = None,
) -> None:
    """Write the local file ``target`` whole or not at all: ``fill(tmp)`` writes a temporary
    file beside it (``.tmp-<random>``, with ``named`` ``.tmp-<random>-<target's name>``), which
    is then renamed to ``target``. The temporary file never outlives a failure.

    Args:
        target: the local file written.
        fill: writes the temporary file whose path it is given.
        path: what ``target`` holds, as a path of the store (named by the error).
        url: the store's folder (named by the error).
        caught: the exceptions that become a StoreError; any other propagates as it is.
        named: keep the target's name in the temporary file's.
        tmp: the temporary file to use (made ahead by the caller) instead of a new name.

    Raises:
        StoreError: ``fill`` or the rename raised a ``caught`` exception (see
            :func:`storage_error`).
    """
    if tmp is None:
        folder, name = os.path.split(target)
        tag = f"-{name}" if named else ""
        tmp = os.path.join(folder or ".", f".tmp-{secrets.token_hex(6)}{tag}")
    try:
        fill(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, caught):
            raise storage_error(exc, path, url) from None
        raise


def storage_error(exc: BaseException, path: str, url: str) -> StoreError:
    """A StoreError for an exception of a storage call on ``path`` of the folder ``url``."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return StoreError(f"no such file in {url}", field=path or "url", code=Code.MISSING)
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return _not_writable(exc, path, url)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left" if exc.errno == errno.ENOSPC else "the disk quota is used up"
        return StoreError(f"cannot be written: {what} where {url} is", field=path or "url",
                          code=Code.STORAGE)  # fmt: skip
    text = " ".join(str(exc).split())[:300]
    return StoreError(
        f"cannot be accessed ({type(exc).__name__}: {text})", field=path or "url", code=Code.STORAGE
    )


def _not_writable(exc: OSError, path: str, url: str) -> StoreError:
    """A StoreError naming the folder that refused: read-only, or not writable for this user."""
    target = os.fsdecode(exc.filename) if exc.filename else url
    folder = os.path.dirname(target.rstrip("/")) if os.path.isabs(target) else url
    if exc.errno == errno.EROFS:
        text = f"cannot change {target}: the folder {folder} is read-only (a read-only file system)"
    else:
        text = f"permission denied for {target}: check the permissions of the folder {folder}"
    return StoreError(text, field=path or "url", code=Code.STORAGE)


def file_in_place(folder: str) -> StoreError | None:
    """The error for the local ``folder`` if a file (or a broken link) is in its place, or in
    the place of a folder on its way (naming that file, as listing it does); None if there is
    none."""
    part = os.path.abspath(folder)
    while not os.path.lexists(part) and os.path.dirname(part) != part:
        part = os.path.dirname(part)
    if os.path.isdir(part) or not os.path.lexists(part):
        return None
    what = "is a file, not a folder"
    if os.path.islink(part) and not os.path.exists(part):  # (an unmounted disk, a moved target)
        try:
            target = os.readlink(part)
        except OSError:
            target = "a target"
        what = f"is a link to {target}, which does not exist"
    if part == os.path.abspath(folder):
        return StoreError(what, field=part, code=Code.INVALID)
    return StoreError(f"{part} {what}", field=folder, code=Code.INVALID)
