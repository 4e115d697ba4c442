"""Which runs a summary covers: the runs of named experiments, those a search finds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from .errors import AnimlibError, Code
from .text import comma_list, natural_key, printable

if TYPE_CHECKING:
    from .index import RunIndex

MIXED_MODELS = "mixed_models"  # summary.attrs: {group label: its models} when a row pools several


def experiment_ids(experiments: str | Sequence[str] | None) -> list[str]:
    """The experiment ids asked for: a list, or one comma-separated string (as the CLI takes
    them); empty ids are dropped, the order kept, repeats once.

    Raises:
        AnimlibError: (INVALID, field ``experiments``) not a string or a list of strings.
    """
    if (ids := comma_list(experiments)) is None:
        raise AnimlibError(
            f"must be experiment ids (a list of strings or 'a,b'); got {experiments!r}",
            field="experiments",
            code=Code.INVALID,
        )
    return ids


def run_scope(
    index: RunIndex,
    *,
    experiments: str | Sequence[str] | None = None,
    search: str = "",
    where: str = "",
) -> set[str] | None:
    """The good runs of ``index`` a summary narrowed to ``experiments`` and ``search`` covers.

    Args:
        index: the results folder's run index (refreshed by the caller).
        experiments: only the runs of these experiments (ids; ``"a,b"`` works too).
        search: only the runs with every word in their id, name, attack, model, status, tags,
            source or parameters (``name=value``): the runs page's search, ``ls --search``.
        where: the results folder as messages name it.

    Returns:
        Their ids; None when nothing narrows the summary (every run).

    Raises:
        AnimlibError: (NOT_FOUND, field ``experiments``) an experiment no run of the folder
            belongs to: a typo must not read as a summary of the others alone.
    """
    from .index import Query

    if not narrows(experiments, search):
        return None
    wanted = experiment_ids(experiments)
    if wanted:
        check_known(wanted, set(pc.unique(index.table["experiment"]).to_pylist()), where)
    rows = index.query(Query(experiments=tuple(wanted), text=search or "")).rows
    return set(rows["id"].to_pylist())


def narrows(experiments: str | Sequence[str] | None, search: str) -> bool:
    """Whether ``experiments`` or ``search`` narrow a summary (an empty list or blank words
    do not)."""
    return bool(experiment_ids(experiments) or (search or "").strip())


def check_known(wanted: Sequence[str], known: set, where: str = "") -> None:
    """Refuse experiments of ``wanted`` that are not ``known`` in the results folder ``where``.

    Raises:
        AnimlibError: (NOT_FOUND, field ``experiments``) naming them: a typo must not read
            as a table of the others alone.
    """
    unknown = sorted((e for e in wanted if e not in known), key=natural_key)
    if unknown:
        names = ", ".join(repr(printable(e)) for e in unknown)
        raise AnimlibError(
            f"no experiment {names} in {printable(where or 'the results folder')}",
            field="experiments",
            code=Code.NOT_FOUND,
        )


def mixed_models(labels: Sequence[str], models: Sequence[set]) -> dict[str, list[str]]:
    """The groups (by label) whose runs come from more than one model, with those models:
    a row that pools models averages results that are not comparable."""
    return {
        label: sorted(("no model" if m is None else str(m) for m in found), key=natural_key)
        for label, found in zip(labels, models, strict=True)
        if len(found) > 1
    }
