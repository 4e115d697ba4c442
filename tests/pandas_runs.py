"""The pandas runs table the index replaced: the reference its queries must equal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from animlib.index.query import SUCCESS_LABELS
from animlib.index.rows import SEARCHED, experiment_of, source_key
from animlib.listing import RunInfo
from animlib.meta import effective_status
from animlib.runs_table import COLUMNS
from animlib.table_filter import matching_rows


def runs_frame(infos: Iterable[RunInfo]) -> pd.DataFrame:
    """A DataFrame of the good runs (one row each, columns :data:`COLUMNS`)."""
    rows = []
    for info in infos:
        if not info.ok:
            continue
        meta = info.meta or {}
        summary = meta.get("summary") or {}
        rows.append(
            {
                "id": info.id,
                "name": meta.get("name"),
                "attack": meta.get("attack") or "",
                "model": meta.get("model") or "",
                "experiment": experiment_of(meta),
                "status": effective_status(meta),
                "steps": meta.get("steps"),
                "success": summary.get("success"),
                "flip_step": summary.get("flip_step"),
                "final_true_conf": summary.get("final_true_conf"),
                "linf": summary.get("linf"),
                "l2": summary.get("l2"),
                "created": pd.to_datetime(meta.get("created"), errors="coerce", utc=True),
                "tags": ", ".join(meta.get("tags") or []),
                "source": source_key(meta) or "",
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["success"] = frame["success"].astype("boolean")
    frame["flip_step"] = frame["flip_step"].astype("Int64")
    frame["steps"] = frame["steps"].astype("Int64")
    for col in ("final_true_conf", "linf", "l2"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def filter_runs(
    frame: pd.DataFrame,
    *,
    attacks: Sequence[str] = (),
    models: Sequence[str] = (),
    statuses: Sequence[str] = (),
    success: Sequence[str] = (),
    text: str = "",
) -> pd.DataFrame:
    """Rows matching every given filter (empty filter = no constraint); ``text`` is free text."""
    chosen = {"attack": attacks, "model": models, "status": statuses}
    mask = matching_rows(frame, chosen, text, (*SEARCHED, "status"))
    if success:
        wanted = [SUCCESS_LABELS[s] for s in success if s in SUCCESS_LABELS]
        ok = pd.Series(False, index=frame.index)
        for value in wanted:
            ok |= frame["success"].isna() if value is None else (frame["success"] == value)
        mask &= ok.fillna(False).astype(bool)
    return frame[mask]


def same_source(
    frame: pd.DataFrame, run_ids: Sequence[str], originals: dict[str, str]
) -> dict[str, list[str]]:
    """For the sources of ``run_ids``: every run id attacking that source image, by its name or
    by its pixels (``originals``: run id -> ``sha1:<hash>`` or ""); one entry per distinct
    group, a hash named after the first named run of its pixels."""
    original = frame["id"].map(originals).fillna("")
    chosen = frame[frame["id"].isin(list(run_ids))]
    keys: dict[str, set[str]] = {}
    for run_id, source in zip(chosen["id"], chosen["source"], strict=True):
        if source:
            keys.setdefault(source, set()).update({source, originals.get(run_id, "")} - {""})
    out: dict[str, list[str]] = {}
    for source, group in keys.items():
        ids = frame.loc[frame["source"].isin(group) | original.isin(group), "id"].tolist()
        if ids in out.values():
            continue
        of_pixels = frame[(original == source) & ~frame["source"].str.startswith("sha1:")]
        name = of_pixels["source"].iloc[0] if len(of_pixels) else source
        out[source if name in keys or name in out else name] = ids
    return out
