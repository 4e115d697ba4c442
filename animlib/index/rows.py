"""Index rows: the columns kept per run folder (run.json summary, raw metadata, problem)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ..errors import Code
from ..listing import RunInfo
from ..outcomes import current_outcome, shown_flip_step
from ..params import index_text, search_text
from ..text import search_form
from .columns import column
from .samples import SAMPLE_COLUMNS, SAMPLE_TYPES, sample_values

# 2: experiment; 3: params, param_names; 4: samples.py's; 5: original; 6: experiment_flip (a
# sample run's flip step in its experiment's steps: outcomes.experiment_flip_step); 7:
# target_label (the outcomes CSV names each sample's target); 8: experiment_steps; 9: the
# version tag of a local run.json holds its ctime (an index of 8 would read every run again);
# 10: haystack in NFC (text.search_form: searching it again per query took 130 ms a 100k rows);
# 11: created_key in UTC (a run.json written with another offset was ordered by its text); 12:
# a space inside a parameter's value is params.VALUE_SPACE in the haystack (opt=adam w is one word);
# 13: no flip_step for a run whose flip was undone by its last step (outcomes.shown_flip_step);
# 14: params.INDEXED 256 parameters of a run, not 64; 16: success and flip_step under the labels
# run.json holds now (outcomes.current_outcome), final_true_conf blank when a label was edited;
# 17: no experiment_flip either for a run whose flip was undone (outcomes.shown_outcome)
SCHEMA_VERSION = "17"
UTC_US = pa.timestamp("us", tz="UTC")
_INT64 = (-(2**63), 2**63 - 1)

TYPED = {  # the columns that do not hold text
    "steps": pa.int64(),
    "success": pa.bool_(),
    "flip_step": pa.int64(),
    "final_true_conf": pa.float64(),
    "linf": pa.float64(),
    "l2": pa.float64(),
    "created": UTC_US,
    "updated": UTC_US,
    **SAMPLE_TYPES,
}
NAMES = (
    "id",
    # the version tag of run.json (ETag, or inode:mtime:size:ctime) in the listing it was read after
    "version",
    # run.json as compact JSON, ``class_names`` left null (kept once per class list below)
    "meta",
    "classes",
    "name",
    "attack",
    "model",
    "experiment",  # the BatchWriter experiment of a sample run ("" for others)
    "status",  # as written; "stale" is decided at query time
    "steps",
    "success",
    "flip_step",
    "final_true_conf",
    "linf",
    "l2",
    "created",
    "created_key",  # ``created`` in UTC as text (created_key): list_runs orders by it
    "updated",
    "tags",
    "source",
    "original",  # original_key: the clean image's pixels, whatever its source is called
    "params",  # the scalar params as animlib.params.index_text spells them
    "param_names",  # their names (the same text without the values)
    "haystack",  # the SEARCHED columns and the params as name=value, lower-case
    "error",
    "field",
    "code",
    *SAMPLE_COLUMNS,  # the experiment columns of a sample run (null for other runs)
)
SCHEMA = pa.schema([(name, TYPED.get(name, pa.string())) for name in NAMES])
SEARCHED = ("id", "name", "attack", "model", "tags", "source")  # + the status, at query time
# what the index keeps for itself: all other columns make a run's row of the runs table
INTERNAL = (
    "version",
    "original",
    "meta",
    "classes",
    "created_key",
    "updated",
    "params",
    "param_names",
    "haystack",
    "error",
    "field",
    "code",
    *SAMPLE_COLUMNS,
)
RUN_COLUMNS = tuple(name for name in NAMES if name not in INTERNAL)
# all but ``id``, ``experiment`` (a filter; a sample's name holds it) and ``source`` are shown
# (and sortable)
SHOWN_COLUMNS = tuple(c for c in RUN_COLUMNS if c not in ("id", "experiment", "source"))


def source_key(meta: dict[str, Any]) -> str | None:
    """What identifies the attacked image.

    Args:
        meta: a run's run.json.

    Returns:
        ``params.source``, else a ``source:`` tag, else ``sha1:<hash of the original>``, else
        None.
    """
    params = meta.get("params") or {}
    if isinstance(params, dict) and isinstance(params.get("source"), str) and params["source"]:
        return params["source"]
    for tag in meta.get("tags") or []:
        if isinstance(tag, str) and tag.startswith("source:"):
            return tag[len("source:") :]
    return original_key(meta) or None


def original_key(meta: dict[str, Any]) -> str:
    """``sha1:<hash>`` of a run's clean image when run.json has it (the same pixels under any
    source name), else ``""``."""
    sha = meta.get("original_sha1")
    return f"sha1:{sha}" if isinstance(sha, str) else ""


def experiment_of(meta: dict[str, Any]) -> str:
    """The experiment a run belongs to (its run.json ``experiment``), or ``""``."""
    experiment = meta.get("experiment")
    return experiment if isinstance(experiment, str) else ""


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time from run.json.

    Args:
        value: anything found in run.json.

    Returns:
        An aware datetime (UTC when no zone is given), or None when it is not such a time.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def created_key(value: Any) -> str:
    """The text runs are ordered by ``created``: the instant in UTC (``isoformat``, as the
    writer writes it), so "21:00+05:30" is before "16:00+00:00"; text that is no time as
    written, nothing as ""."""
    when = parse_time(value)
    if when is None:
        return value if isinstance(value, str) else ""
    return when.astimezone(UTC).isoformat()


def _int(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return value if ok and _INT64[0] <= value <= _INT64[1] else None


def _current(meta: dict[str, Any], summary: Any) -> tuple[Any, Any, bool]:
    """:func:`~animlib.outcomes.current_outcome` of a run (the summary as written where its
    labels or predictions are no numbers: such a run.json is refused when read)."""
    if not isinstance(summary, dict):
        return None, None, False
    try:
        return current_outcome(meta)
    except (TypeError, ValueError):
        return summary.get("success"), summary.get("flip_step"), False


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _compact(meta: dict[str, Any]) -> tuple[str, str | None]:
    """run.json as compact JSON without its class list, and the class list as JSON."""
    names = meta.get("class_names")
    if names is None:
        return json.dumps(meta, separators=(",", ":")), None
    light = dict(meta, class_names=None)  # the key keeps its place
    return json.dumps(light, separators=(",", ":")), json.dumps(names, separators=(",", ":"))


def row_of(info: RunInfo, version: str) -> dict[str, Any]:
    """The index row of one run folder.

    Args:
        info: the run folder as read (broken ones keep their problem; a readable run.json of
            a broken run is kept too).
        version: the version tag of its run.json in the listing it was read after.

    Returns:
        The row: one value per column of :data:`SCHEMA`.
    """
    row: dict[str, Any] = dict.fromkeys(SCHEMA.names)
    row.update(id=info.id, version=version, error=info.error, field=info.field, created_key="")
    row["code"] = info.code.value if info.code is not None else None
    meta = info.meta
    if meta is None:
        return row
    row["meta"], row["classes"] = _compact(meta)
    created = meta.get("created")
    row["created_key"] = created_key(created)
    if not info.ok:  # readable run.json but unusable (zero steps): only the problem is listed
        return row
    summary = meta.get("summary") or {}
    success, flip, stale = _current(meta, summary)
    tags = ", ".join(meta.get("tags") or [])
    source = source_key(meta) or ""
    row.update(
        name=meta.get("name"),
        attack=meta.get("attack") or "",
        model=meta.get("model") or "",
        experiment=experiment_of(meta),
        status=meta.get("status"),
        steps=_int(meta.get("steps")),
        success=success if isinstance(success, bool) else None,
        # its own steps (experiment_flip: samples.py); none for a flip undone by the last step
        flip_step=_int(shown_flip_step(success, flip)),
        # (of the true class the summary was written for: unknown once the label was edited)
        final_true_conf=None if stale else _float(summary.get("final_true_conf")),
        linf=_float(summary.get("linf")),
        l2=_float(summary.get("l2")),
        created=parse_time(created),
        updated=parse_time(meta.get("updated")),
        tags=tags,
        source=source,
        original=original_key(meta),
    )
    if row["experiment"]:
        row.update(sample_values(meta))
    row["params"], row["param_names"] = index_text(meta.get("params"))
    words = [str(row[name]) for name in SEARCHED]
    row["haystack"] = search_form(" ".join([*words, search_text(row["params"])]))
    return row


def table_of(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """An index table.

    Args:
        rows: rows made by :func:`row_of`.

    Returns:
        The table (:data:`SCHEMA`), in the order given.
    """
    rows = list(rows)
    columns = [column([r[f.name] for r in rows], f.type) for f in SCHEMA]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


_UNPARSED = object()


class IndexedRunInfo(RunInfo):
    """A :class:`RunInfo` made from an index row: its ``meta`` is parsed from the stored JSON
    on first use (listing 100,000 runs then costs no JSON parsing until someone looks)."""

    def __init__(
        self,
        id: str,
        url: str,
        meta: dict[str, Any] | None = None,
        error: str | None = None,
        field: str | None = None,
        code: Code | None = None,
        *,
        stored: tuple[str, str | None, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(id, url, meta, error, field, code)
        if stored is not None:
            self.__dict__["_meta"], self.__dict__["_stored"] = _UNPARSED, stored

    @property  # type: ignore[override]
    def meta(self) -> dict[str, Any] | None:
        """The run.json (parsed on first use), None for a run without a readable one."""
        state = self.__dict__
        value = state.get("_meta")
        if value is _UNPARSED:
            stored = state.get("_stored")
            if stored is None:  # another thread parsed it just now (it sets _meta first)
                return state.get("_meta")
            text, classes, cache = stored
            value = json.loads(text)
            if classes is not None:
                names = cache.get(classes)
                if names is None:
                    names = cache[classes] = json.loads(classes)
                value["class_names"] = names
            state["_meta"] = value
            state.pop("_stored", None)
        return value

    @meta.setter
    def meta(self, value: dict[str, Any] | None) -> None:
        self.__dict__["_meta"] = value
        self.__dict__.pop("_stored", None)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its run.json parsed (a copy's ``meta`` was a bare placeholder object:
        the marker of "not parsed yet" is compared by identity, which unpickling breaks)."""
        return IndexedRunInfo, (self.id, self.url, self.meta, self.error, self.field, self.code)


def info_of(row: tuple[Any, ...], url: str, classes: dict[str, Any]) -> RunInfo:
    """The :class:`RunInfo` of an index row, its ``meta`` parsed when first used.

    Args:
        row: id, version, meta, classes, error, field and code of the row.
        url: the run folder's path or URL.
        classes: a cache of parsed class lists, shared by the runs that have the same classes
            (so treat them as read-only).

    Returns:
        The run's RunInfo (an :class:`IndexedRunInfo`).
    """
    run_id, _, text, names, error, field, code = row
    info = IndexedRunInfo.__new__(IndexedRunInfo)  # (as __init__ does, minus its overhead)
    info.__dict__.update(
        id=run_id,
        url=url,
        error=error,
        field=field,
        code=Code(code) if code is not None else None,
        _meta=None if text is None else _UNPARSED,
    )
    if text is not None:
        info.__dict__["_stored"] = (text, names, classes)
    return info
