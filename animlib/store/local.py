"""The local backend: a folder on this machine, read with plain file calls (no fsspec)."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import secrets
import shutil
import stat
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from ..errors import Code, StoreError
from . import paths, tombstones
from .base import Entry, Store, file_in_place, replace_via_temp, storage_error
from .fileread import READ_FLAGS, file_tag, read_ahead, read_open

_FILE_MODE = 0o666  # like open(): the umask decides what others may do
_READ_AHEAD = hasattr(os, "posix_fadvise")
RACY_S = 2.0  # a file changed this recently may change again within its mtime tick


def racy(st: os.stat_result, now: float) -> bool:
    """True if the file of ``st`` changed less than :data:`RACY_S` before ``now`` (by its
    ctime, which the system sets, or its mtime, which a copy such as ``cp -p`` sets back):
    it may change again within one tick of its times. A time further ahead of ``now`` (a
    file synced from a machine whose clock is ahead, a clock set back) is no recent change:
    such a file counted as changing at every scan until the clock caught up."""
    settled, ahead = now - RACY_S, now + RACY_S
    return settled < st.st_ctime < ahead or settled < st.st_mtime < ahead


# scans open the folder once and look up each run's member relative to it (POSIX)
_RELATIVE_SCAN = (
    os.stat in os.supports_dir_fd
    and os.stat in os.supports_follow_symlinks
    and os.scandir in os.supports_fd
)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)  # from os.link


class LocalStore(Store):
    """A local folder, confined to ``boundary`` (default: itself): nothing is read through a
    symlink leading outside the boundary."""

    #: chunk keys ``c.0.0``: flat files in an array's folder (each nested folder level costs one
    #: more directory creation per chunk when many small runs are written)
    chunk_separator = "."

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        boundary: str | None = None,
        real_boundary: str | None = None,
    ) -> None:
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self.boundary = self.path if boundary is None else boundary
        self._real_boundary = real_boundary
        self.storage_options: dict[str, Any] = {}
        rel = os.path.relpath(self.path, self.boundary)
        self._parts = () if rel == "." else tuple(rel.split(os.sep))
        self._temps: dict[str, str] = {}  # path -> its temporary file made ahead (reserve_temp)

    @property
    def url(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def confined_to(self) -> str:
        return self.boundary

    def url_of(self, path: str = "") -> str:
        return os.path.join(self.path, *path.split("/")) if path else self.path

    def child(self, name: str) -> LocalStore:
        paths.check_run_id(name, StoreError)
        return LocalStore(
            os.path.join(self.path, name), boundary=self.boundary, real_boundary=self.real_boundary
        )

    @property
    def real_boundary(self) -> str:
        """The boundary with every symlink resolved (computed once)."""
        if self._real_boundary is None:
            self._real_boundary = os.path.realpath(self.boundary)
        return self._real_boundary

    # -- path safety ----------------------------------------------------------------------------
    def _local(self, path: str) -> str:
        """The file system path of ``path``, after checking it and every link on the way."""
        paths.validate_path_is_safe(path)
        self.guard(path)
        return self.url_of(path)

    def guard(self, path: str) -> None:
        """Raise StoreError UNSAFE if reaching ``path`` goes through a symlink leading outside
        the boundary (the error names the entry relative to this folder)."""
        parts = (*self._parts, *path.split("/")) if path else self._parts
        entry = paths.escaping_link(self.boundary, self.real_boundary, parts)
        if entry is not None:
            mine = entry.split("/")[len(self._parts) :]
            raise paths.link_error("/".join(mine))

    def check_links(self, path: str = "", *, recursive: bool = False) -> None:
        top = self._local(path)
        if not recursive or not os.path.isdir(top):
            return  # (``top`` itself was checked: a link to a folder inside is walked)
        for folder, dirs, files in os.walk(top):
            for entry in sorted((*dirs, *files)):
                full = os.path.join(folder, entry)
                if os.path.islink(full) and not paths.contained(
                    os.path.realpath(full), self.real_boundary
                ):
                    raise paths.link_error(os.path.relpath(full, self.path).replace(os.sep, "/"))

    # -- reading --------------------------------------------------------------------------------
    def list(self, path: str = "", *, detail: bool = False) -> list[Entry]:
        return sorted((_entry(e, detail) for e in self._entries(path)), key=lambda e: e.name)

    def folder_names(self, path: str = "") -> list[str]:
        folder = self._local(path)
        return [  # no Entry, no sort
            e.name
            for e in self._entries(path)
            if _is_dir(e) and not (e.is_symlink() and paths.is_alias(folder, e.name))
        ]

    def _entries(self, path: str) -> list[os.DirEntry[str]]:
        folder = self._local(path)
        try:
            with os.scandir(folder) as it:
                return list(it)
        except FileNotFoundError:
            raise StoreError("folder does not exist", field=folder, code=Code.NOT_FOUND) from None
        except NotADirectoryError:
            raise StoreError("is not a folder", field=folder, code=Code.INVALID) from None
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None

    def find(self, path: str) -> list[str]:
        top = self._local(path)
        out = []

        def unreadable(exc: OSError) -> None:  # (os.walk skipped it: every file read as missing)
            if not isinstance(exc, FileNotFoundError):  # (one removed meanwhile: not there)
                raise storage_error(exc, path, self.url)

        for folder, _dirs, files in os.walk(top, onerror=unreadable):
            rel = os.path.relpath(folder, top)
            for name in files:
                out.append(name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}")
        return sorted(out)

    def find_tagged(self, path: str) -> list[tuple[str, str]]:
        top = self._local(path)
        return [(rel, file_tag(os.path.join(top, rel))) for rel in self.find(path)]

    def scan_folders(
        self, member: str, hints: Sequence[str] = (), only: Collection[str] | None = None
    ) -> dict[str, Entry | None]:
        """One directory scan, then one ``lstat`` per folder (a symlink on the way is followed
        only when it stays inside the boundary). ``etag`` is ``inode:mtime_ns:size:ctime_ns``:
        a file replaced by rename (as writers do) gets a new inode even within one mtime tick;
        one edited in place keeping its size with its mtime set back (``cp -p``, ``rsync -t``,
        ``tar``) gets a new ctime, which nothing can set back. A file modified less than
        :data:`RACY_S` seconds before the scan (:func:`racy`) could still change within its
        mtime tick keeping size and inode (rewritten in place), so its tag also holds the scan
        time: it differs on every scan until the file has settled."""
        return self._scan(member, only, tags=False)  # type: ignore[return-value]

    def member_versions(
        self, member: str, hints: Sequence[str] = (), only: Collection[str] | None = None
    ) -> dict[str, str | None]:
        """:meth:`scan_folders` without building an Entry per folder (the tags only)."""
        return self._scan(member, only, tags=True)  # type: ignore[return-value]

    def _scan(self, member: str, only: Collection[str] | None, tags: bool) -> dict[str, Any]:
        paths.validate_path_is_safe(member)
        top = self._local("")
        try:
            if only is not None:
                found = self._named(only, member, time.time())
                return {k: v.etag if v else None for k, v in found.items()} if tags else found
            return self._members(top, member, time.time(), tags)
        except FileNotFoundError:
            raise StoreError("folder does not exist", field=top, code=Code.NOT_FOUND) from None
        except NotADirectoryError:
            raise StoreError("is not a folder", field=top, code=Code.INVALID) from None
        except OSError as exc:
            raise storage_error(exc, "", self.url) from None

    def _members(self, top: str, member: str, now: float, tags: bool) -> dict[str, Any]:
        """The loop of :meth:`scan_folders` (Entries, or with ``tags`` their tags only), its
        common case inline (100,000 runs: every microsecond here is 0.1 s). Where the system
        allows, the folder is opened once and each member looked up relative to it (a short
        path to resolve per run, not the whole one)."""
        out: dict[str, Any] = {}
        stat_of, is_file, sep = os.stat, stat.S_ISREG, os.sep
        settled, ahead = now - RACY_S, now + RACY_S
        fd = os.open(top, os.O_RDONLY | _O_DIRECTORY) if _RELATIVE_SCAN else None
        prefix = "" if fd is not None else f"{top}{sep}"  # member paths: relative to fd
        try:
            with os.scandir(top if fd is None else fd) as it:
                for entry in it:
                    try:
                        if not entry.is_dir():
                            continue
                    except OSError:
                        continue
                    name = entry.name
                    try:
                        link = entry.is_symlink()
                        path = f"{prefix}{name}{sep}{member}"
                        st = None if link else stat_of(path, dir_fd=fd, follow_symlinks=False)
                    except OSError:
                        out[name] = None
                        continue
                    if link and paths.is_alias(top, name):
                        continue
                    if st is None or not is_file(st.st_mode):  # links (checked), or not a file
                        found = self._member(os.path.join(top, name), name, member, now)
                        out[name] = (found.etag if found else None) if tags else found
                        continue
                    tag = f"{st.st_ino:x}:{st.st_mtime_ns:x}:{st.st_size:x}:{st.st_ctime_ns:x}"
                    if settled < st.st_ctime < ahead or settled < st.st_mtime < ahead:
                        tag += f":{time.time_ns():x}"  # (inline: racy(st, now))
                    out[name] = tag if tags else Entry(member, False, st.st_size, st.st_mtime, tag)
        finally:
            if fd is not None:
                os.close(fd)
        return out

    def _named(self, names: Collection[str], member: str, now: float) -> dict[str, Entry | None]:
        """The scan, for the folders ``names`` only (names that are no folder now are left
        out): one ``lstat`` of the folder and one of its member each."""
        out: dict[str, Entry | None] = {}
        for name in names:
            if not paths.is_run_id(name):
                continue
            folder = os.path.join(self.path, name)
            try:
                if not stat.S_ISDIR(os.stat(folder).st_mode) or paths.is_alias(self.path, name):
                    continue
            except OSError:
                continue
            out[name] = self._member(folder, name, member, now)
        return out

    def folder_version(self) -> str | None:
        """``inode:mtime_ns`` of this folder, which changes when an entry is added, removed or
        renamed in it (with the time appended while it is under :data:`RACY_S` old)."""
        try:
            st = os.stat(self._local(""))
        except OSError:
            return None
        tag = f"{st.st_ino:x}:{st.st_mtime_ns:x}"
        return tag + f":{time.time_ns():x}" if racy(st, time.time()) else tag

    def _member(self, folder: str, name: str, member: str, now: float) -> Entry | None:
        path = f"{folder}{os.sep}{member}"
        try:
            if os.path.islink(folder):
                self.guard(name)  # links must stay inside
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                self.guard(f"{name}/{member}")
                st = os.stat(path)
        except (OSError, StoreError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        tag = f"{st.st_ino:x}:{st.st_mtime_ns:x}:{st.st_size:x}:{st.st_ctime_ns:x}"
        if racy(st, now):
            tag += f":{time.time_ns():x}"
        return Entry(member, False, size=st.st_size, mtime=st.st_mtime, etag=tag)

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        full = self._local(path)
        try:
            fd = os.open(full, READ_FLAGS)
            try:
                return read_open(fd, limit)
            finally:
                os.close(fd)
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | StoreError]:
        """Files opened many at a time, the kernel told at once that each will be read
        (:func:`~animlib.store.fileread.read_ahead`: it fetches them all in parallel), then
        read in turn. On a cold disk that is several times faster than reading one file after
        another, and unlike reader threads it costs nothing when the files are cached (10,000
        run.json here: 0.25 s cold and 0.16 s cached, against 2.4 s and 1.1 s with 8
        threads)."""
        rels = list(paths)
        if not _READ_AHEAD:
            return super().read_many(rels)
        return read_ahead(rels, self._local, lambda exc, path: storage_error(exc, path, self.url))

    def contains(self, path: str = "") -> bool:
        return os.path.exists(self._local(path))

    def write_time(self, path: str) -> str:
        with contextlib.suppress(OSError):
            st = os.stat(self._local(path))
            return f"{st.st_mtime_ns}:{st.st_size}"
        return ""

    def signature(self, member: str) -> str:
        try:
            entries = os.scandir(self._local(""))
        except OSError:
            return "missing"
        parts = []
        with entries:
            for entry in entries:
                try:
                    st = os.stat(os.path.join(entry.path, member))
                    parts.append((entry.name, st.st_mtime_ns, st.st_size))
                except OSError:
                    parts.append((entry.name, 0, 0))
        return str(hash(tuple(sorted(parts))))

    # -- writing --------------------------------------------------------------------------------
    def write_atomic(self, path: str, data: bytes) -> None:
        spare = self._temps.pop(path, None) if self._temps else None
        # a reserved file is empty: no O_TRUNC (ext4 writes a file truncated to zero back when
        # it is closed, ~0.2 ms); a file that somehow is not is cut to the data written
        flags = os.O_WRONLY | (os.O_NOFOLLOW if spare else os.O_CREAT | os.O_EXCL)

        def fill(tmp: str) -> None:
            fd = os.open(tmp, flags, _FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if spare and os.fstat(fd).st_size > len(data):
                    fh.truncate(len(data))

        replace_via_temp(self._local(path), fill, path, self.url, named=True, tmp=spare)

    def reserve_temp(self, path: str) -> None:
        """An empty ``.tmp-<random>-<name>`` beside ``path`` (what a killed writer may leave
        anyway, and :func:`~animlib.run_folder.remove_leftovers` removes)."""
        if path in self._temps:
            return
        folder, name = os.path.split(self._local(path))
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{name}")
        try:
            self._create(tmp, b"")
        except OSError:
            return  # best effort: the write makes its own
        self._temps[path] = tmp

    def drop_temps(self) -> None:
        temps, self._temps = self._temps, {}
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """The data is written to a temporary file first and linked into place, so the file
        never exists without its data (a lease or writer lock read while it was still empty
        looked abandoned, and was taken over). Where hard links are not supported (FAT, some
        network shares) the file is created exclusively, then written."""
        target = self._local(path)
        folder, base = os.path.split(target)
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{base}")
        try:
            self._create(tmp, data)
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise storage_error(exc, path, self.url) from None
            return self._create_then_write(target, data, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return True

    @staticmethod
    def _create(target: str, data: bytes) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    def _create_then_write(self, target: str, data: bytes, path: str) -> bool:
        try:
            self._create(target, data)
        except FileExistsError:
            return False
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None
        return True

    def make_exclusive(self) -> bool:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            os.mkdir(self.path)
        except FileExistsError:
            return False
        except OSError as exc:
            raise storage_error(exc, "", self.url) from None
        return True

    def make_folder(self, path: str) -> None:
        full = self._local(path)
        try:
            os.mkdir(full)  # never the parents: a removed run folder stays removed
        except FileExistsError:
            if not os.path.isdir(full):
                raise StoreError("is not a folder", field=path, code=Code.INVALID) from None
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None

    def check_access(self) -> None:
        """Raise StoreError (INVALID) if a file is in the place of this folder, or of a folder
        on its way."""
        if (error := file_in_place(self.path)) is not None:
            raise error

    def makedirs(self) -> None:
        self.check_access()
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, "", self.url) from None

    def remove(self, path: str = "", *, recursive: bool = False) -> None:
        paths.validate_path_is_safe(path)
        if "/" in path:  # a link on the way must not lead the removal outside
            self.guard(path.rsplit("/", 1)[0])
        target = self.url_of(path)  # a link itself is removed, never what it points to
        try:
            if recursive and os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(self.set_aside().path if not path else target)
            else:
                os.unlink(target)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None

    def set_aside(self) -> LocalStore:
        """Renamed to a hidden tombstone beside it (see :mod:`.tombstones`)."""
        if os.path.islink(self.path):
            return self
        moved = tombstones.set_aside(self.path)
        if moved == self.path:
            return self
        return LocalStore(moved, boundary=self.boundary, real_boundary=self.real_boundary)

    def upload(self, local_path: str | os.PathLike[str], path: str) -> None:
        copy = functools.partial(shutil.copyfile, local_path)
        replace_via_temp(self._local(path), copy, path, self.url)

    def download(self, path: str, local_path: str | os.PathLike[str]) -> None:
        copy = functools.partial(shutil.copyfile, self._local(path))
        replace_via_temp(os.fspath(local_path), copy, path, self.url)

    @contextlib.contextmanager
    def staged(self, path: str) -> Iterator[str]:
        """The final path itself: local writers (the movie writers) already write atomically."""
        yield self._local(path)

    # -- arrays ---------------------------------------------------------------------------------
    def zarr_store(self, *, read_only: bool = True) -> Any:
        from .zarr_guard import GuardedLocalStore

        return GuardedLocalStore(self.path, read_only=read_only, guard=self.guard)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _entry(entry: os.DirEntry, detail: bool) -> Entry:
    is_dir = _is_dir(entry)
    if not detail:
        return Entry(entry.name, is_dir)
    try:
        st = entry.stat()
    except OSError:
        return Entry(entry.name, is_dir)
    return Entry(entry.name, is_dir, size=st.st_size, mtime=st.st_mtime)
