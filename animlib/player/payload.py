"""What the browser player gets for one or more runs: one binary payload, sent once per run."""

# No Streamlit here. A run is read only through its public attributes (``len(run)``, ``run.images``,
# ``run.original``, ``run.confidences``, ``run.class_names``, ``run.true_label``,
# ``run.target_label``, ``run.name``, ``run.id``, ``run.image_shape``).
#
# Layout (little-endian)::
#
# b"ANLP" | u32 version | u32 n = header length | n bytes of JSON header | zero padding to a
# multiple of 8 | array data (each array starts at a multiple of 8 from the data start)
#
# The header names every array with its ``offset`` (from the data start), ``dtype`` (``f4``, ``i4``)
# and ``shape``, so the browser makes typed-array views with no parsing or copying and Python tests
# decode it with :func:`unpack`. Per step the player needs the top-k classes with their confidences
# and ranks, the true/target class's confidence and rank, and the curves: for 1,000 steps x top-10
# of 1,000 classes that is 146 KB, 13 KB of it the header with the class names (the same numbers as
# JSON: 365 KB, to be parsed instead of viewed). Images are not in the payload: they come as PNG
# strips (see :mod:`animlib.player.strips`) whose URLs are in the header.

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache.keys import is_live
from ..text import printable, run_titles

MAGIC = b"ANLP"
VERSION = 1
ROWS_PER_BLOCK = 1024  # steps sorted at once (bounds the temporary memory of argsort)
_DTYPES = {"f4": np.dtype("<f4"), "i4": np.dtype("<i4")}


def pack(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The payload bytes of ``header`` (JSON-able) and named numeric ``arrays``."""
    index: dict[str, Any] = {}
    chunks: list[bytes] = []
    offset = 0
    for name, array in arrays.items():
        code = "f4" if np.issubdtype(array.dtype, np.floating) else "i4"
        data = np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
        index[name] = {"offset": offset, "dtype": code, "shape": list(array.shape)}
        pad = -len(data) % 8
        chunks.append(data + b"\0" * pad)
        offset += len(data) + pad
    text = json.dumps({**header, "arrays": index}, allow_nan=False).encode("ascii")
    head = MAGIC + struct.pack("<II", VERSION, len(text)) + text
    return head + b"\0" * (-len(head) % 8) + b"".join(chunks)


def unpack(payload: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(header, arrays)`` of a payload made by :func:`pack`."""
    if payload[:4] != MAGIC:
        raise ValueError("not a player payload")
    version, n = struct.unpack_from("<II", payload, 4)
    if version != VERSION:
        raise ValueError(f"player payload version {version}, expected {VERSION}")
    header = json.loads(payload[12 : 12 + n])
    base = 12 + n + (-(12 + n) % 8)
    arrays = {}
    for name, spec in header.pop("arrays").items():
        dtype = _DTYPES[spec["dtype"]]
        count = int(np.prod(spec["shape"], dtype=np.int64))
        flat = np.frombuffer(payload, dtype, count, base + spec["offset"])
        arrays[name] = flat.reshape(spec["shape"])
    return header, arrays


def top_k(conf: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step the ``k`` strongest classes (ties: lower index first, as the step table),
    their confidences, and their rank (1 + how many classes are strictly more confident)."""
    steps, n = conf.shape
    k = max(1, min(int(k), n))
    idx = np.empty((steps, k), np.int32)
    for a in range(0, steps, ROWS_PER_BLOCK):
        block = conf[a : a + ROWS_PER_BLOCK]
        idx[a : a + len(block)] = np.argsort(-block, axis=1, kind="stable")[:, :k]
    val = np.take_along_axis(conf, idx, axis=1).astype(np.float32)
    rank = np.empty((steps, k), np.int32)
    rank[:, 0] = 1
    for j in range(1, k):  # every stronger class is earlier in the sorted row
        rank[:, j] = np.where(val[:, j] == val[:, j - 1], rank[:, j - 1], j + 1)
    return idx, val, rank


def class_rank(conf: np.ndarray, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidence and rank of class ``label`` at every step."""
    value = np.ascontiguousarray(conf[:, label], dtype=np.float32)
    rank = np.empty(len(conf), np.int32)
    for a in range(0, len(conf), ROWS_PER_BLOCK):
        block = conf[a : a + ROWS_PER_BLOCK]
        rank[a : a + len(block)] = 1 + (block > value[a : a + len(block), None]).sum(axis=1)
    return value, rank


def _names(run: Any, n: int) -> list[str]:
    from ..text import unique_names

    names = list(run.class_names or [])
    if len(names) != n:
        names = [str(k) for k in range(n)]
    return [printable(s) for s in unique_names(names)]


def _label(run: Any, name: str, n: int) -> int | None:
    label = getattr(run, name)
    if label is None or not 0 <= int(label) < n:
        return None
    return int(label)


def confidence_part(run: Any, prefix: str, k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header fields and arrays of one run's confidences (empty without confidences)."""
    conf = run.confidences
    if conf is None or conf.ndim != 2 or conf.shape[0] == 0:
        return {"classes": None, "true": None, "target": None, "k": 0, "curves": []}, {}
    conf = np.asarray(conf[: len(run)], dtype=np.float32)
    n = conf.shape[1]
    names = _names(run, n)
    idx, val, rank = top_k(conf, k)
    arrays = {f"{prefix}topk": idx, f"{prefix}topv": val, f"{prefix}rank": rank}
    fields: dict[str, Any] = {"classes": names, "k": int(idx.shape[1]), "curves": []}
    for role in ("true", "target"):
        label = _label(run, f"{role}_label", n)
        fields[role] = label
        if label is not None:
            value, r = class_rank(conf, label)
            arrays[f"{prefix}{role}_v"], arrays[f"{prefix}{role}_r"] = value, r
            fields["curves"].append(
                {"label": f"{role}: {names[label]}", "role": role, "array": f"{prefix}{role}_v"}
            )
    excluded = [fields[r] for r in ("true", "target") if fields[r] is not None]
    if excluded and n > len(excluded):
        rival = conf.copy()
        rival[:, excluded] = -1.0
        arrays[f"{prefix}rival"] = rival.max(axis=1)
        fields["curves"].append({"label": "top rival", "role": "rival", "array": f"{prefix}rival"})
    if not fields["curves"]:
        arrays[f"{prefix}top"] = val[:, 0]
        fields["curves"].append({"label": "top class", "role": "top", "array": f"{prefix}top"})
    return fields, arrays


def build_payload(
    runs: Sequence[Any],
    images: Sequence[dict[str, Any] | None],
    *,
    top_k: int = 10,
    fps: float = 10.0,
    mode: str = "viewer",
) -> bytes:
    """The payload for ``runs`` (one for the viewer, 2-6 for compare). ``images[i]`` is what
    :func:`image_part` made for run i (strip URLs), or None to show no images."""
    header_runs = []
    arrays: dict[str, np.ndarray] = {}
    titles = run_titles(runs)
    for i, (run, image) in enumerate(zip(runs, images, strict=True)):
        fields, part = confidence_part(run, f"{i}.", top_k)
        arrays.update(part)
        header_runs.append(
            {
                "id": printable(run.id),
                "name": printable(run.name),
                "title": printable(titles[i]),  # (as the page's caption and tables title it)
                "steps": len(run),
                "image": image,
                # an attack's image is "adversarial"; without a classifier (an image edit), not
                "attacked": fields["classes"] is not None or run.true_label is not None,
                **fields,
            }
        )
    # a link without ?step= opens a run still being written at its newest step (and follows it)
    header = {"mode": mode, "fps": float(fps), "live": is_live(runs), "runs": header_runs}
    return pack(header, arrays)


def image_part(
    plan: Any,
    gain: float | None,
    image_urls: Sequence[str],
    perturbation_urls: Sequence[str] | None,
    original_url: str | None,
) -> dict[str, Any]:
    """The header entry telling the browser where a run's strips are and how they are cut."""
    return {
        "height": plan.height,
        "width": plan.width,
        "stride": plan.stride,
        "per_strip": plan.per_strip,
        "strips": list(image_urls),
        "perturbation": list(perturbation_urls) if perturbation_urls is not None else None,
        "original": original_url,
        "gain": gain,
    }
