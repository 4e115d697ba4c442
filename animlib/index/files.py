"""Where run indexes live (the cache folder); their Parquet files read and replaced atomically."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import time

import pyarrow as pa
import pyarrow.parquet as pq

from ..settings import Settings, settings
from ..store import scheme_of
from ..store.paths import shown_inside
from .rows import SCHEMA, SCHEMA_VERSION

log = logging.getLogger("animlib.index")

MAX_FILES = 64  # index files kept in the cache folder (the least recently written go first)
TMP_MAX_AGE_S = 3600.0  # temporary files older than this were left by a crashed process
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_KEY_URL, _KEY_VERSION = b"animlib.url", b"animlib.index_version"


def index_folder() -> str:
    """The folder holding run indexes: ``index/`` in the cache folder
    (:meth:`animlib.settings.Settings.cache_location`). When the cache is an object-store URL
    the index stays on this machine, in the default cache folder: it is a per-machine view of
    the results folder, and the listing it saves is made on every refresh anyway.

    Returns:
        A local folder path (it may not exist yet).
    """
    location = settings().cache_location()
    scheme = scheme_of(location)
    if scheme in ("file", "local") and "::" not in location:
        location = location.split("://", 1)[1] or "/"
    elif scheme is not None:
        location = Settings().cache_location()
    return os.path.join(os.path.expanduser(location), "index")


def index_path(url: str) -> str:
    """The index file of the results folder ``url``, keyed by the URL: its last part for
    people, a hash of all of it for uniqueness.

    Args:
        url: the results folder's URL or absolute path (``Store.url``).

    Returns:
        The path of its Parquet file in :func:`index_folder`.
    """
    tail = _SLUG.sub("-", url.rstrip("/").rsplit("/", 1)[-1]).strip("-.")[:40] or "root"
    # the index keeps each run's verdict, and the size limits decide some (a run of more steps
    # than ANIMLIB_MAX_STEPS is broken): other limits, another index
    now, default = settings(), Settings()
    limits = (now.max_steps, now.max_side, now.max_classes)
    same = limits == (default.max_steps, default.max_side, default.max_classes)
    key = url if same else f"{url}\n{limits}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return os.path.join(index_folder(), f"{tail}-{digest}.parquet")


def load(path: str, url: str) -> pa.Table | None:
    """The rows of the index file ``path``.

    Args:
        path: the index file.
        url: the results folder it must have been written for.

    Returns:
        The rows, or None if the file is missing, damaged, written for another folder or with
        another schema (the index is then rebuilt: it is only a cache).
    """
    try:  # one file: ParquetFile, not read_table (whose datasets layer imports pandas)
        with pq.ParquetFile(path, page_checksum_verification=True) as file:  # (a flipped bit)
            table = file.read(use_threads=False)  # 100,000 rows: 0.25-0.37 s, threads 0.57 s
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged or foreign file: rebuild, never fail the listing
        log.warning("run index %s cannot be read (%s); rebuilding it", path, exc)
        return None
    meta = table.schema.metadata or {}
    if meta.get(_KEY_URL) != url.encode("utf-8", "surrogatepass") or (
        meta.get(_KEY_VERSION) != SCHEMA_VERSION.encode()
    ):
        return None
    try:
        return table.replace_schema_metadata(None).cast(SCHEMA)
    except (pa.ArrowInvalid, ValueError):
        return None


def save(path: str, url: str, table: pa.Table) -> bool:
    """Replace the index file ``path`` by ``table`` atomically (a temporary file in the same
    folder, then a rename): a reader or a crash sees the old file or the new one, never a
    part. Two processes saving at once both write whole files; the last rename wins.

    Args:
        path: the index file.
        url: the results folder the rows describe (kept in the file's metadata).
        table: the rows.

    Returns:
        True if written; False if the cache folder cannot be written, or is inside the results
        folder (it would list as a broken run there) (logged; the index then lives in memory
        only).
    """
    folder = os.path.dirname(path)
    if scheme_of(url) is None and shown_inside(folder, url):
        log.warning("run index %s would be inside the results folder %s; kept in memory", path, url)
        return False
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(4)}.parquet")
    meta = {_KEY_URL: url.encode("utf-8", "surrogatepass"), _KEY_VERSION: SCHEMA_VERSION.encode()}
    try:
        os.makedirs(folder, exist_ok=True)
        pq.write_table(
            table.replace_schema_metadata(meta),
            tmp,
            compression="zstd",
            write_page_checksum=True,  # a damaged page is found when read: the index rebuilt
            row_group_size=64 * 1024,
            use_dictionary=["classes", "attack", "model", "experiment", "status", "code", "field"],
        )
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        log.warning("run index %s cannot be written (%s); keeping it in memory", path, exc)
        return False
    prune(folder, keep=path)
    return True


def prune(folder: str, keep: str) -> None:
    """Delete the oldest index files beyond :data:`MAX_FILES` and temporary files left by
    crashed processes.

    Args:
        folder: the index folder.
        keep: an index file never deleted (the one just written).
    """
    now = time.time()
    found = []
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        for entry in it:
            with contextlib.suppress(OSError):
                mtime = entry.stat().st_mtime
                if entry.name.startswith(".tmp-") and now - mtime > TMP_MAX_AGE_S:
                    os.unlink(entry.path)
                elif entry.name.endswith(".parquet") and not entry.name.startswith("."):
                    found.append((mtime, entry.path))
    found.sort(reverse=True)
    for _, old in found[MAX_FILES:]:
        if old != keep:
            with contextlib.suppress(OSError):
                os.unlink(old)
