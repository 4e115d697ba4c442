"""The version tags of run.json files in a run index: what they are, when they are settled."""

from __future__ import annotations

import functools
import time
from collections.abc import Collection

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Code
from ..store.paths import is_run_id
from .columns import scalar
from .query import FALSE, RUNNING, effective_status

MISSING, UNSAFE = "missing", "unsafe"  # versions of folders without a readable run.json
# the version of a run.json the storage failed to read (too many open files, a timeout, no
# permission): "unread@<its listed version>". No listing gives it, so a process that loads the
# index file reads it again at once; the process that kept it reads it again every
# RETRY_UNREAD_S (RunIndex keeps the listed version and when to read it again): a failure that
# passes is no verdict on the run, and one that lasts costs a read now and then
UNREAD = "unread@"
RETRY_UNREAD_S = 30.0


def version_of(name: str, tag: str | None) -> str:
    """The version of a folder's run.json in the index.

    Args:
        name: the folder's name.
        tag: its run.json's tag in the listing (:meth:`~animlib.store.Store.member_versions`:
            the ETag on object stores, inode, mtime, size and ctime locally), None without one.

    Returns:
        ``tag``; :data:`UNSAFE` for a name that is not a run id, :data:`MISSING` without
        run.json.
    """
    if not is_run_id(name):
        return UNSAFE
    return MISSING if tag is None else tag


def kept_version(code: Code | None, tag: str) -> str:
    """The version a row read after a listing of ``tag`` is kept under in the index table:
    ``tag``, or its :data:`UNREAD` version when reading it failed for the storage (``code``
    STORAGE), which is no verdict on the run."""
    return f"{UNREAD}{tag}" if code == Code.STORAGE else tag


def retry_at() -> float:
    """When a run.json that could not be read now is read again (seconds since the epoch)."""
    return time.time() + RETRY_UNREAD_S


def due(unread: dict[str, float], listed: Collection[str]) -> list[str]:
    """The runs of ``unread`` (id -> :func:`retry_at`) still ``listed`` whose time to be read
    again has come."""
    now = time.time()
    return [run_id for run_id, at in unread.items() if at <= now and run_id in listed]


def unread_again(old: pa.Table, rows: list[dict], unread: Collection[str]) -> bool:
    """Whether ``rows`` (read anew) are all run.json files of ``unread`` (kept :data:`UNREAD`
    before) that failed again the same way: nothing to show anew (no page reruns for them)."""
    if not rows or any(r["id"] not in unread or not r["version"].startswith(UNREAD) for r in rows):
        return False
    ids = pa.array([r["id"] for r in rows], pa.string())
    before = old.filter(pc.is_in(old["id"], value_set=ids)).select(["id", "error"]).to_pylist()
    errors = {b["id"]: b["error"] for b in before}
    return all(errors.get(r["id"]) == r["error"] for r in rows)


_SETTLED_PARTS = 4  # inode:mtime:size:ctime; a local run.json changed < 2 s ago: + scan time


def is_hot(status: str | None, version: str) -> bool:
    """Whether a run's run.json is expected to change soon: it is running, its folder has no
    run.json yet, or it changed so recently that its version is not settled."""
    if status == "running" or version == MISSING or version.startswith(UNREAD):
        return True
    return version.count(":") >= _SETTLED_PARTS


def hot_ids(table: pa.Table, now: float | None = None) -> set[str]:
    """The runs of an index table that :func:`is_hot` holds hot, except running runs silent
    for longer than ``ANIMLIB_STALE_SECONDS`` (stale: their writer is likely gone; when one
    resumes, a full refresh finds it and it is hot again).

    Args:
        table: index rows (``id``, ``status``, ``updated`` and ``version`` columns).
        now: the time it is (seconds since the epoch; default: now).

    Returns:
        Their ids.
    """
    version = table["version"]
    running = pc.equal(effective_status(table, now), RUNNING)
    parts = pc.count_substring(version, ":")  # (int32 counts)
    unsettled = pc.greater_equal(parts, scalar(_SETTLED_PARTS, pa.int64()))
    missing = pc.equal(version, scalar(MISSING, pa.string()))
    unread = pc.starts_with(version, UNREAD)
    masks = (pc.fill_null(m, FALSE) for m in (running, missing, unsettled, unread))
    return set(table["id"].filter(functools.reduce(pc.or_, masks)).to_pylist())


def settled(version: str) -> str:
    """``version`` without the scan time that the tag of a local run.json changed in the last
    2 s carries (it differs at every scan until the file settles): what stays the same from
    scan to scan while the file does not change."""
    return ":".join(version.split(":")[:_SETTLED_PARTS])


def utf8(name: str) -> str:
    """A folder name from a listing (undecodable bytes as surrogates) as valid UTF-8 text:
    itself, or with its undecodable parts escaped (``\\udcff``) when it is not UTF-8 (such
    names are not run ids: they are listed as broken)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name
