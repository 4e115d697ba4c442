"""One listing of an S3 prefix with Zarr chunk keys rolled up, in key ranges listed in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

CHUNK_DELIMITER = "/c/"  # Zarr v3 chunk keys: <array>/c/<i>/<j>...; a listing rolls them up
RANGES = 16  # key ranges listed at once (at most) when folder names are known
ENTRIES_PER_FOLDER = 8  # about what a run costs in the delimited listing
PAGES_PER_RANGE = 4  # ranges are only cut when each gets at least this many pages to list


def split_points(names: Sequence[str], ranges: int | None = None) -> list[str]:
    """Folder names cutting ``names`` (sorted) into equal key ranges: as many as the listing
    has pages to share out (:data:`PAGES_PER_RANGE` each), at most ``ranges``.

    Args:
        names: folder names seen by an earlier listing.
        ranges: the most ranges (default :data:`RANGES`).

    Returns:
        The names starting the second, third, ... range (none when one range will do).
    """
    ordered = sorted(set(names))
    pages = len(ordered) * ENTRIES_PER_FOLDER // 1000 + 1
    ranges = min(ranges or RANGES, pages // PAGES_PER_RANGE, len(ordered))
    if ranges < 2:
        return []
    return sorted({ordered[i * len(ordered) // ranges] for i in range(1, ranges)})


def list_below(fs: Any, root: str, hints: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every object below ``root`` (``bucket/key``) with the chunk keys of each Zarr array
    rolled up into one entry (ListObjectsV2 delimited by ``/c/``): about 8 entries per run
    however many steps it has, 1,000 per request. With ``hints`` (folder names from an earlier
    listing) the key space is cut into :data:`RANGES` ranges listed at once, so the pages of a
    large bucket do not have to follow one another.

    Args:
        fs: an s3fs filesystem.
        root: the folder, as ``bucket/key``.
        hints: folder names of an earlier listing (any strings: they only cut the key space).

    Returns:
        fsspec-style info dicts: ``name`` (``bucket/key``), ``type``, ``size``, ``ETag``,
        ``LastModified``.

    Raises:
        Exception: what s3fs raises for a failed request (the caller maps it).
    """
    from fsspec.asyn import sync

    bucket, key, _ = fs.split_path(root)
    prefix = f"{key}/" if key else ""
    cuts = [prefix + name for name in split_points(hints)]
    starts, stops = [None, *cuts], [*cuts, None]

    async def everything() -> list[dict[str, Any]]:
        parts = await asyncio.gather(
            *(_range(fs, bucket, prefix, a, b) for a, b in zip(starts, stops, strict=True))
        )
        return [info for part in parts for info in part]

    return sync(fs.loop, everything)


async def _range(
    fs: Any, bucket: str, prefix: str, start: str | None, stop: str | None
) -> list[dict[str, Any]]:
    """The entries with keys after ``start`` up to ``stop`` (both None: unbounded)."""
    kwargs: dict[str, Any] = dict(Bucket=bucket, Prefix=prefix, Delimiter=CHUNK_DELIMITER)
    kwargs.update(getattr(fs, "req_kw", {}) or {})
    if start is not None:
        kwargs["StartAfter"] = start
    out: list[dict[str, Any]] = []
    while True:
        page = await fs._call_s3("list_objects_v2", **kwargs)  # noqa: SLF001
        found = [(p["Prefix"], None) for p in page.get("CommonPrefixes", [])]
        found += [(c["Key"], c) for c in page.get("Contents", [])]
        for name, obj in sorted(found, key=lambda item: item[0]):
            if stop is not None and name > stop:
                return out
            out.append(_info(bucket, name, obj))
        if not page.get("IsTruncated"):
            return out
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _info(bucket: str, name: str, obj: dict[str, Any] | None) -> dict[str, Any]:
    if obj is None:  # a common prefix: the chunks of one array
        return {"name": f"{bucket}/{name.rstrip('/')}", "type": "directory", "size": 0}
    return {
        "name": f"{bucket}/{name}",
        "type": "file",
        "size": obj.get("Size"),
        "ETag": obj.get("ETag"),
        "LastModified": obj.get("LastModified"),
    }
