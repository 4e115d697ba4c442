"""Which runs a summary covers: the runs of named experiments, those a search finds."""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    wanted = resolve_experiments(index, experiment_ids(experiments), where)
    rows = index.query(Query(experiments=tuple(wanted), text=search or "")).rows
    return set(rows["id"].to_pylist())


def narrows(experiments: str | Sequence[str] | None, search: str) -> bool:
    """Whether ``experiments`` or ``search`` narrow a summary (an empty list or blank words
    do not)."""
    return bool(experiment_ids(experiments) or (search or "").strip())


def resolve_experiments(index: RunIndex, wanted: Sequence[str], where: str = "") -> list[str]:
    """The experiment ids ``wanted`` names: each an experiment's id, or the name it was made
    from (``BatchWriter(experiment=...)``, as ``tag`` takes it), in the order given.

    Args:
        index: the results folder's run index (refreshed by the caller).
        wanted: ids or names.
        where: the results folder as messages name it.

    Returns:
        The ids, each once.

    Raises:
        AnimlibError: (NOT_FOUND, field ``experiments``) a name of no experiment there (a typo
            must not read as a table of the others alone); (INVALID) a name several
            experiments were made from, with their ids.
    """
    known = known_experiments(index)
    ids, unknown = _named(index, wanted, known)
    _refuse_unknown(unknown, where, suggest=known)
    return ids


def known_experiments(index: RunIndex) -> set[str]:
    """The ids of the experiments the runs of ``index`` belong to."""
    return set(pc.unique(index.table["experiment"]).to_pylist()) - {None, ""}


def named_experiments(index: RunIndex, wanted: Sequence[str]) -> tuple[list[str], list[str]]:
    """:func:`resolve_experiments` without refusing unknown names: (the ids, each once; the
    names of no experiment in the folder).

    Raises:
        AnimlibError: (INVALID, field ``experiments``) a name several experiments were made
            from, with their ids.
    """
    return _named(index, wanted, known_experiments(index))


def _named(index: RunIndex, wanted: Sequence[str], known: set[str]) -> tuple[list[str], list[str]]:
    unknown = [w for w in wanted if w not in known]
    made = _made_from(index, set(unknown), known) if unknown else {}
    out: list[str] = []
    for name in wanted:
        ids = [name] if name in known else made.get(name, [])
        if len(ids) > 1:
            raise AnimlibError(
                f"{len(ids)} experiments were made from the name {printable(name)!r} "
                f"({', '.join(printable(i) for i in ids)}): name one by its id",
                field="experiments",
                code=Code.INVALID,
            )
        out += ids
    return list(dict.fromkeys(out)), [w for w in unknown if w not in made]


def _made_from(index: RunIndex, names: set[str], known: set[str]) -> dict[str, list[str]]:
    """For each of ``names`` that experiments were made from, their ids: by run.json's
    ``experiment_name`` (one run's run.json read per experiment), else (runs written before
    it was kept) the id that name makes, if there is one."""
    from .experiment_ids import experiment_id

    table = index.table.select(["id", "experiment"])
    table = table.filter(pc.fill_null(pc.not_equal(table["experiment"], ""), False))
    first = table.group_by("experiment", use_threads=False).aggregate([("id", "min")])
    found: dict[str, set[str]] = {}
    named: dict[str, object] = {}  # experiment id -> the name its run.json gives (None: none)
    for info in index.infos(first["id_min"].to_pylist()):
        name = info.get("experiment_name") if info.ok else None
        named[str(info.get("experiment"))] = name
        if name in names:
            found.setdefault(name, set()).add(str(info.get("experiment")))
    for name in names:
        try:
            made = experiment_id(name)
        except AnimlibError:
            continue  # (not a name an experiment could have)
        if made in known and named.get(made) in (None, name):  # (an older one, nameless)
            found.setdefault(name, set()).add(made)
    return {n: sorted(ids, key=natural_key) for n, ids in found.items()}


def _refuse_unknown(
    unknown: Sequence[str], where: str = "", *, suggest: Collection[str] = ()
) -> None:
    """Refuse the experiments ``unknown`` (none: nothing to refuse) of the results folder
    ``where``; for one, the id of ``suggest`` it is a typo of, if one is close ("did you
    mean").

    Raises:
        AnimlibError: (NOT_FOUND, field ``experiments``) naming them: a typo must not read
            as a table of the others alone.
    """
    unknown = sorted(unknown, key=natural_key)
    if unknown:
        names = ", ".join(repr(printable(e)) for e in unknown)
        near = near_experiment(unknown[0], suggest) if len(unknown) == 1 else None
        raise AnimlibError(
            f"no experiment {names} in {printable(where or 'the results folder')}"
            + (f" (did you mean {printable(near)!r}?)" if near else ""),
            field="experiments",
            code=Code.NOT_FOUND,
        )


def near_experiment(name: str, ids: Collection[str]) -> str | None:
    """The id of ``ids`` closest to ``name`` or to the id ``name`` would make (a typo of an
    experiment's name: "PGD swep" for "PGD-sweep"), if one is close."""
    import difflib

    from .experiment_ids import experiment_id

    tries = [name]
    try:
        tries.append(experiment_id(name))
    except AnimlibError:
        pass  # (no id can be made from it)
    for typed in tries:
        if near := difflib.get_close_matches(typed, sorted(ids), n=1, cutoff=0.75):
            return near[0]
    return None


def mixed_models(labels: Sequence[str], models: Sequence[set]) -> dict[str, list[str]]:
    """The groups (by label) whose runs come from more than one model, with those models:
    a row that pools models averages results that are not comparable."""
    return {
        label: sorted(("no model" if m is None else str(m) for m in found), key=natural_key)
        for label, found in zip(labels, models, strict=True)
        if len(found) > 1
    }
