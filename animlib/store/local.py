"""The local backend: a folder on this machine, read with plain file calls (no fsspec)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from typing import Any

from ..errors import Code, StoreError
from . import paths
from .base import Entry, Store, storage_error

_FILE_MODE = 0o666  # like open(): the umask decides what others may do


class LocalStore(Store):
    """A local folder, confined to ``boundary`` (default: itself): nothing is read through a
    symlink leading outside the boundary."""

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
        folder = self._local(path)
        try:
            with os.scandir(folder) as it:
                entries = [_entry(e, detail) for e in it]
        except FileNotFoundError:
            raise StoreError("folder does not exist", field=folder, code=Code.NOT_FOUND) from None
        except NotADirectoryError:
            raise StoreError("is not a folder", field=folder, code=Code.INVALID) from None
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None
        return sorted(entries, key=lambda e: e.name)

    def find(self, path: str) -> list[str]:
        top = self._local(path)
        out = []
        for folder, _dirs, files in os.walk(top):
            rel = os.path.relpath(folder, top)
            for name in files:
                out.append(name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}")
        return sorted(out)

    def read(self, path: str) -> bytes:
        full = self._local(path)
        try:
            with open(full, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None

    def contains(self, path: str = "") -> bool:
        return os.path.exists(self._local(path))

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
        target = self._local(path)
        folder, base = os.path.split(target)
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(6)}-{base}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise storage_error(exc, path, self.url) from None
            raise

    def create_exclusive(self, path: str, data: bytes) -> bool:
        target = self._local(path)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            return False
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
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

    def makedirs(self) -> None:
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
                shutil.rmtree(target)
            else:
                os.unlink(target)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise storage_error(exc, path, self.url) from None

    def upload(self, local_path: str | os.PathLike[str], path: str) -> None:
        target = self._local(path)
        tmp = os.path.join(os.path.dirname(target), f".tmp-{secrets.token_hex(6)}")
        try:
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise storage_error(exc, path, self.url) from None

    @contextlib.contextmanager
    def staged(self, path: str):
        """The final path itself: local writers (the movie writers) already write atomically."""
        yield self._local(path)

    # -- arrays ---------------------------------------------------------------------------------
    def zarr_store(self, *, read_only: bool = True) -> Any:
        from .zarr_guard import GuardedLocalStore

        return GuardedLocalStore(self.path, read_only=read_only, guard=self.guard)


def _entry(entry: os.DirEntry, detail: bool) -> Entry:
    try:
        is_dir = entry.is_dir()
    except OSError:
        is_dir = False
    if not detail:
        return Entry(entry.name, is_dir)
    try:
        st = entry.stat()
    except OSError:
        return Entry(entry.name, is_dir)
    return Entry(entry.name, is_dir, size=st.st_size, mtime=st.st_mtime)
