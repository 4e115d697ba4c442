"""Experiment ids: a safe id per name, and what a rerun does with the runs already there."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from . import lock
from .batch_input import ExperimentInputError
from .errors import AnimlibError, Code, RunInputError
from .experiment_claim import busy, claim_holder, claimed
from .listing import RunInfo, list_runs, read_infos
from .run_folder import aborted_creation, check_root, refuse_added_files
from .store import Store, open_store
from .store.paths import is_run_id, run_id_for
from .text import natural_key, plural

MAX_EXPERIMENT_ID = 64  # leaves room for "-NN" and "-0000" in an 80-character run id


def experiment_id(name: str) -> str:
    """The id of an experiment named ``name``: safe for paths and short enough for run ids. A
    name too long for :data:`MAX_EXPERIMENT_ID` is cut and ends in a hash of the whole name, so
    two long names that differ only at their ends stay two experiments."""
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise ExperimentInputError(
            f"must be a non-empty string; got {name!r}", field="experiment", experiment=None
        )
    whole = run_id_for(name, limit=len(name) * 8)  # a character may be spelled out
    if len(whole) <= MAX_EXPERIMENT_ID:
        return whole
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{whole[: MAX_EXPERIMENT_ID - 9].rstrip('-._')}-{digest}"


def existing_runs(root: str, storage_options: dict[str, Any] | None) -> list[RunInfo]:
    """The runs in ``root`` from their run.json files (none when the folder does not exist)."""
    try:
        return list_runs(root, storage_options=storage_options)
    except (AnimlibError, FileNotFoundError, NotADirectoryError):
        return []  # no results folder yet


def _folder_names(root: str, storage_options: dict[str, Any] | None) -> list[str]:
    """The folder names in ``root``, from one listing (no run.json is read; none when the
    folder does not exist yet)."""
    try:
        return [e.name for e in open_store(root, storage_options).list() if e.is_dir]
    except (AnimlibError, FileNotFoundError, NotADirectoryError):
        return []  # no results folder yet


def _looks_like_sample(run_id: str, experiment: str) -> bool:
    prefix = experiment + "-"
    return run_id.startswith(prefix) and run_id[len(prefix) :].isdigit()


def named_like_samples(
    root: str, experiment: str, storage_options: dict[str, Any] | None = None
) -> list[RunInfo]:
    """The runs in ``root`` whose folders are named like samples of ``experiment``
    (``{experiment}-NNNN``, what a rerun with ``if_exists="overwrite"`` replaces), from their
    run.json alone (unreadable ones as broken rows)."""
    names = [n for n in _folder_names(root, storage_options) if _looks_like_sample(n, experiment)]
    return read_infos(open_store(root, storage_options), names) if names else []


def is_member(info: RunInfo, experiment: str) -> bool:
    """True if the readable run ``info`` belongs to ``experiment``."""
    return info.ok and info.get("experiment") == experiment


def next_free(
    root: str,
    name: str,
    storage_options: dict[str, Any] | None = None,
    skip: Collection[str] = (),
) -> str:
    """The first experiment id made from ``name`` with no sample runs in ``root`` yet, other
    than those of ``skip`` (ids another writer was seen starting)."""
    return resolve_experiment_id(root, experiment_id(name), "new", storage_options, skip=skip)[0]


def resolve_experiment_id(
    root: str,
    base: str,
    if_exists: str,
    storage_options: dict[str, Any] | None = None,
    *,
    held: bytes | None = None,
    skip: Collection[str] = (),
) -> tuple[str, list[str]]:
    """The experiment id to write under, applying ``if_exists`` to the runs already in ``root``.

    Args:
        root: Results folder.
        base: The experiment id asked for.
        if_exists: ``"new"``, ``"overwrite"`` or ``"error"`` (see :class:`BatchWriter`).
        storage_options: fsspec options.
        held: The claim of ``base`` this writer holds, if it does (:func:`make_room`).
        skip: Ids ``"new"`` passes over (another writer is starting them).

    Returns:
        ``base``, or with ``"new"`` the first free ``base-N``; and with ``"overwrite"`` the runs
        to replace (:func:`remove_runs`, once the new experiment has a checked first step, so
        a crash or a bad first batch leaves them as they were).

    Raises:
        ExperimentInputError: (BUSY) another live writer is starting or writing ``base``;
            runs exist and ``if_exists="error"``; with ``"overwrite"``, a folder named like a
            sample run that belongs to no experiment.
        RunInputError: ``root`` is a run folder (:func:`~animlib.run_folder.check_root`).
    """
    check_root(open_store(root, storage_options), base, "experiment")  # (once, not per sample run)
    names = _folder_names(root, storage_options)  # a sample run is always named exp-NNNN

    def taken(exp: str) -> list[str]:
        return [n for n in names if _looks_like_sample(n, exp)]

    if if_exists == "new":
        for n in range(1, 10_000):
            candidate = base if n == 1 else f"{base}-{n}"
            if not taken(candidate) and candidate not in skip:
                return candidate, []
    mine = taken(base)
    if not mine:
        return base, []
    store = open_store(root, storage_options)
    if who := claim_holder(store, base, held):  # (read after the listing: a sample run another
        raise busy(store, base, who)  # writer is creating was made under its claim)
    check_free(store, mine, base, if_exists)  # another writer's live runs: refused as BUSY
    if if_exists == "error":
        raise ExperimentInputError(
            f"{plural(len(mine), 'run')} named like this experiment's samples "
            f"{'exists' if len(mine) == 1 else 'exist'} in {root} "
            f"({mine[0]!r}{', ...' if len(mine) > 1 else ''}; pass if_exists='new' for a fresh "
            "experiment id, or 'overwrite' to replace an earlier run of it)",
            field="if_exists",
            experiment=base,
        )
    infos = read_infos(store, mine)  # only these run.json files
    strangers = [
        i
        for i in infos
        if (not i.ok and not aborted_creation(store.child(i.id), empty_after=0))
        or (i.ok and i.get("experiment") != base and (i.get("steps") or 0))
    ]  # (a folder that is no run, a damaged run, another's: never removed by an overwrite;
    # a sample a writer was killed making is, even empty: no writer holds the claim to make it)
    if strangers:
        what = "cannot be read as a run" if not strangers[0].ok else "is not part of it"
        raise ExperimentInputError(
            f"{strangers[0].id!r} is named like a sample of this experiment but {what}; it is "
            "left alone (remove it or pick another experiment name)",
            field="if_exists",
            experiment=base,
        )
    check_no_added_files(store, mine, base)  # refused now rather than at the first step
    return base, mine


@contextmanager
def starting(
    root: str,
    experiment: str,
    if_exists: str,
    replace: list[str],
    storage_options: dict[str, Any] | None,
) -> Iterator[None]:
    """Hold the claim of ``experiment`` (:func:`~animlib.experiment_claim.claimed`) while the
    block creates its sample runs, after refusing if runs named like them appeared since the
    writer chose the id (another writer's: a clear BUSY error, not a half experiment) and
    removing the old runs ``replace`` of ``if_exists="overwrite"``.

    Raises:
        ExperimentInputError: (BUSY) another writer started the experiment meanwhile (with
            ``"new"``: its runs appeared), or as :func:`resolve_experiment_id` and
            :func:`remove_runs`.
    """
    with claimed(root, experiment, storage_options) as held:
        _make_room(root, experiment, if_exists, replace, storage_options, held)
        yield


def _make_room(
    root: str,
    experiment: str,
    if_exists: str,
    replace: list[str],
    storage_options: dict[str, Any] | None,
    held: bytes,
) -> None:
    names = [n for n in _folder_names(root, storage_options) if _looks_like_sample(n, experiment)]
    if set(names) - set(replace):
        if if_exists == "new":
            raise busy(open_store(root, storage_options), experiment, None)
        replace = resolve_experiment_id(root, experiment, if_exists, storage_options, held=held)[1]
    if replace:
        remove_runs(root, replace, storage_options, experiment)


def check_free(
    base: Store, run_ids: list[str], experiment: str | None, if_exists: str = "overwrite"
) -> None:
    """Refuse if a live writer holds one of the runs ``run_ids`` (of ``experiment``) in the
    results folder ``base`` (``if_exists``: what the refused writer was asked to do).

    Raises:
        ExperimentInputError: (code BUSY) naming the run and the writer's pid and host.
    """
    found = lock.first_holder(base, [r for r in run_ids if is_run_id(r)])
    if found is not None:
        raise busy_error(*found, experiment, if_exists)


def busy_error(
    run_id: str, holder: dict, experiment: str | None, if_exists: str
) -> ExperimentInputError:
    """The error for an experiment whose run ``run_id`` the live writer ``holder`` holds, to a
    writer asked to write it with ``if_exists`` (or to ``"resume"`` it)."""
    then = {
        "overwrite": "it cannot be overwritten",
        "resume": "it cannot be resumed until that writer has finished",
    }.get(
        if_exists, "pass if_exists='new' for a fresh experiment id, or wait until it has finished"
    )
    if lock.in_this_process(holder):
        then += f" ({lock.CLOSE_IT})"
    return ExperimentInputError(
        f"{lock.who(holder)} is writing this experiment (its run {run_id!r}); {then}",
        run=run_id,
        field="lock" if if_exists == "resume" else "if_exists",
        code=Code.BUSY,
        experiment=experiment,
    )


def check_no_added_files(base: Store, run_ids: list[str], experiment: str | None) -> None:
    """Refuse the overwrite if one of the runs ``run_ids`` in ``base`` holds a file its writer
    did not make (a user's notes, renders), before any of them is touched.

    Raises:
        ExperimentInputError: (field ``if_exists``) naming the run and a few such files.
    """
    for run_id in run_ids:
        if not is_run_id(run_id):
            continue
        try:
            refuse_added_files(base.child(run_id), run_id)
        except RunInputError as exc:
            raise ExperimentInputError(
                exc.message, run=exc.run, field=exc.field, code=exc.code, experiment=experiment
            ) from None


def remove_runs(
    root: str,
    run_ids: list[str],
    storage_options: dict[str, Any] | None = None,
    experiment: str | None = None,
) -> None:
    """Delete the run folders ``run_ids`` in ``root``, refusing all if a live writer holds one.

    Args:
        root: Results folder.
        run_ids: Ids of runs inside it.
        storage_options: fsspec options.
        experiment: The experiment they belong to (named in the error).

    Raises:
        ExperimentInputError: (code BUSY) another live writer holds one of the runs, or one
            holds files its writer did not make (:func:`check_no_added_files`).
    """
    base = open_store(root, storage_options)
    check_no_added_files(base, run_ids, experiment)  # (added since the writer was made)
    folders = [base.child(run_id) for run_id in run_ids if is_run_id(run_id)]
    taken = []
    try:
        for folder in folders:
            lock.take_to_remove(folder, folder.name)
            taken.append(folder)
    except BaseException as exc:  # (a symlink, storage: the locks taken are given back too)
        for folder in taken:
            lock.release(folder)
        if not (isinstance(exc, RunInputError) and exc.code == Code.BUSY):
            raise
        if holder := lock.holder(folders[len(taken)]):  # (said of the experiment, not one run)
            raise busy_error(folders[len(taken)].name, holder, experiment, "overwrite") from None
        raise ExperimentInputError(
            exc.message, run=exc.run, field=exc.field, code=exc.code, experiment=experiment
        ) from None
    for folder in [folder.set_aside() for folder in folders]:  # (out of sight in a few renames:
        folder.remove(recursive=True)  # a kill leaves whole samples, which a rerun removes)


def resumed_members(infos: list[RunInfo], experiment: str) -> tuple[str, list[RunInfo]]:
    """The experiment id ``experiment`` names (an id, or the name it was made from) and its
    sample runs among ``infos``, by sample id (none: no such experiment)."""
    found = members(infos, experiment)
    if found:
        return experiment, found
    made = _named(infos, experiment) or experiment_id(experiment)
    return made, members(infos, made)


def members(infos: list[RunInfo], experiment: str) -> list[RunInfo]:
    """The sample runs of ``experiment`` among ``infos``, by sample id."""
    mine = [i for i in infos if is_member(i, experiment) and isinstance(i.get("sample"), int)]
    return sorted(mine, key=lambda i: int(i.get("sample") or 0))


def _named(infos: list[RunInfo], name: str) -> str | None:
    """The one experiment made from ``name`` (run.json ``experiment_name``), if any."""
    ids = {i.get("experiment") for i in infos if i.get("experiment_name") == name}
    named = sorted((e for e in ids if isinstance(e, str)), key=natural_key)
    if len(named) > 1:  # (it resumed the first silently: an earlier, finished one)
        raise ExperimentInputError(
            f"{len(named)} experiments were made from this name ({', '.join(named)}): resume one "
            "by its id",
            field="experiment",
            experiment=name,
        )
    return named[0] if named else None
