"""The runs table: one pandas row per run from list_runs, plus filtering and source grouping."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import pyarrow as pa

from .index.query import SUCCESS_LABELS
from .index.rows import RUN_COLUMNS, SEARCHED, SHOWN_COLUMNS, experiment_of, source_key
from .listing import RunInfo
from .meta import effective_status
from .protocol import MAX_COMPARE
from .table_filter import matching_rows

COLUMNS = list(RUN_COLUMNS)
VISIBLE_COLUMNS = list(SHOWN_COLUMNS)  # shown on the runs page


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


def page_frame(rows: pa.Table) -> pd.DataFrame:
    """The runs-table frame of one page of index rows.

    Args:
        rows: the page (:attr:`animlib.index.Result.rows`).

    Returns:
        A DataFrame with the columns :data:`COLUMNS` and the dtypes of :func:`runs_frame`.
    """
    mapper = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get
    frame = rows.select(COLUMNS).to_pandas(types_mapper=mapper)
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    return frame


def broken_frame(infos: Iterable[RunInfo]) -> pd.DataFrame:
    """A DataFrame of the broken runs: id and the reason."""
    rows = [{"id": i.id, "problem": i.error} for i in infos if not i.ok]
    return pd.DataFrame(rows, columns=["id", "problem"])


def problems_frame(
    broken: pa.Table, found: Iterable[RunInfo], limit: int | None = None
) -> pd.DataFrame:
    """The broken-runs frame.

    Args:
        broken: the index's broken rows (id and error columns).
        found: runs found broken by array checks.
        limit: the most rows (default: all).

    Returns:
        A DataFrame of id and problem, by id.
    """
    rows = dict(zip(broken["id"].to_pylist(), broken["error"].to_pylist(), strict=True))
    rows.update((info.id, info.error) for info in found)
    ids = sorted(rows)[:limit]
    return pd.DataFrame({"id": ids, "problem": [rows[i] for i in ids]}, columns=["id", "problem"])


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


def same_source(frame: pd.DataFrame, run_ids: Sequence[str]) -> dict[str, list[str]]:
    """For the sources of ``run_ids``: every run id attacking that same source image."""
    sources = frame.loc[frame["id"].isin(list(run_ids)), "source"]
    out: dict[str, list[str]] = {}
    for source in dict.fromkeys(s for s in sources if s):
        out[source] = frame.loc[frame["source"] == source, "id"].tolist()
    return out


def shortcuts(
    groups: Mapping[str, Sequence[str]], run_ids: Sequence[str], max_runs: int = MAX_COMPARE
) -> list[tuple[str, list[str], int]]:
    """Comparisons worth offering next to ``run_ids``.

    Args:
        groups: for each source image of ``run_ids``, the runs on it.
        run_ids: the runs shown or selected.
        max_runs: the most runs one comparison offers (larger groups offer their first).

    Returns:
        ``(source, ids to compare, runs on that source in all)`` for each group of 2 or more
        runs that is not already exactly ``run_ids``.
    """
    current = sorted(run_ids)
    out = []
    for source, ids in groups.items():
        if len(ids) < 2 or sorted(ids) == current:
            continue
        out.append((source, list(ids[:max_runs]), len(ids)))
    return out


def selection_key(base: str, ids: Sequence[str]) -> str:
    """A widget key that changes whenever the shown runs (or their order) change.

    A table's selection is kept by row position; a new key for new rows means a position
    selected earlier can never silently point at another run.
    """
    digest = hashlib.sha1("\n".join(ids).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{base}-{digest}"


def selected_positions(ids: Sequence[str], chosen: Iterable[str]) -> list[int]:
    """Positions in ``ids`` of the chosen run ids that are shown (the rest are dropped)."""
    where = {run_id: i for i, run_id in enumerate(ids)}
    return [where[c] for c in chosen if c in where]
