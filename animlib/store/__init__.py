"""Where runs live: ``open_store(url_or_path)`` picks the backend by URL scheme."""

# - a plain path, or a ``file://`` URL: :class:`~animlib.store.local.LocalStore` (plain file calls);
# - any other protocol fsspec knows (``s3://``, ``gs://``, ``memory://``, chained URLs):
#   :class:`~animlib.store.remote.RemoteStore`;
# - a scheme fsspec does not know: :class:`~animlib.errors.StoreError` with code UNSUPPORTED naming
#   the scheme.
#
# See :mod:`animlib.store.base` for the interface and :mod:`animlib.store.paths` for path safety.

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import Code, StoreError
from .base import Entry, Store
from .local import LocalStore

__all__ = [
    "Entry",
    "LocalStore",
    "Store",
    "StoreError",
    "local_file",
    "open_store",
    "remote_file",
    "scheme_of",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
LOCAL_SCHEMES = ("file", "local")

StoreLike = Store | str | os.PathLike


def scheme_of(url: str) -> str | None:
    """The URL scheme (protocol) of ``url``, ``None`` for a plain path. For a chained fsspec
    URL (``simplecache::s3://bucket/x``) the first protocol of the chain."""
    if "::" in url:
        first = url.split("::", 1)[0]
        m = _SCHEME.match(first)
        return m.group(1) if m else first.rstrip(":")
    m = _SCHEME.match(url)
    return m.group(1) if m else None


def _protocols(url: str) -> list[str]:
    out = []
    for part in url.split("::"):
        m = _SCHEME.match(part)
        out.append(m.group(1) if m else part.split(":", 1)[0])
    return out


def _check_known(url: str) -> None:
    import fsspec

    known = set(fsspec.available_protocols())
    for protocol in _protocols(url):
        if protocol not in known:
            raise StoreError(
                f"unknown storage scheme {protocol!r} (give a local path or a URL fsspec "
                "knows, such as s3://bucket/runs)",
                field="url",
                code=Code.UNSUPPORTED,
            )


def open_store(url_or_path: StoreLike, storage_options: dict[str, Any] | None = None) -> Store:
    """The store of the folder ``url_or_path`` (returned unchanged if it already is a Store).

    The store is confined to that folder: nothing is read through a symlink leading outside
    it, and its ``child`` stores (run folders) stay confined to it too.
    """
    if isinstance(url_or_path, Store):
        return url_or_path
    text = os.fspath(url_or_path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    if not text:  # (an unset variable: it read or wrote the current folder)
        raise StoreError(
            "the path is empty (give '.' for the current folder)", field="url", code=Code.INVALID
        )
    if "\x00" in text:
        raise StoreError("the path contains a NUL byte", field="url", code=Code.UNSAFE)
    scheme = scheme_of(text)
    if scheme is None:
        return LocalStore(text)
    if scheme in LOCAL_SCHEMES and "::" not in text:
        return LocalStore(text.split("://", 1)[1] or "/")
    _check_known(text)
    from .remote import RemoteStore

    return RemoteStore(text, storage_options)


def local_file(path: StoreLike) -> StoreLike:
    """A file given as a ``file://`` URL, as the local path it names (it made a folder named
    ``file:`` in the current one); anything else as it is."""
    if isinstance(path, str) and scheme_of(path) in LOCAL_SCHEMES and "::" not in path:
        return path.split("://", 1)[1] or "/"
    return path


def remote_file(
    path: StoreLike, storage_options: dict[str, Any] | None = None
) -> tuple[Store, str] | None:
    """For a file given as a remote URL (``s3://bucket/videos/a.mp4``): the store of its
    folder and its name, to write it with :meth:`Store.staged`; None for a local path."""
    if not isinstance(path, str) or scheme_of(path) in (None, *LOCAL_SCHEMES):
        return None
    folder, _, name = path.rstrip("/").rpartition("/")
    if "/" not in path.rstrip("/").rsplit("://", 1)[-1]:  # no bucket, or no name after it
        raise StoreError(
            "give the file's full URL (s3://bucket/folder/out.mp4)", field="path", code=Code.UNSAFE
        )
    return open_store(folder, storage_options), name
