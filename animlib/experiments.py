"""Experiments in a results folder: list them, and summarize their runs (accuracy, success)."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import meta as M
from .errors import AnimlibError, Code
from .experiment_info import ExperimentInfo
from .listing import RunInfo
from .outcomes import outcome_of
from .summary_pools import RERUNS, GroupPools, warn_reruns
from .summary_rows import SUMMARY_COLUMNS, group_order, summary_row

if TYPE_CHECKING:
    import pandas as pd

    from .index import RunIndex

NO_STEP = "no step"  # why a run is left out when it has stored no step
OUTCOME_COLUMNS = ("id", "experiment", "sample", "clean_correct", "robust", "success", "linf",
                   "l2", "flip_step")  # fmt: skip
_STATUS_ORDER = ("running", "stale", "failed", "finished")
CHECK_BUDGET_S = 10.0  # seconds a summary checks runs' arrays (the rest: by the next summaries)
CHECKED_ELSEWHERE = "checked_elsewhere"  # table.attrs: another check was under way (its budget)
UNCHECKED = "unchecked"  # table.attrs: runs whose arrays are not checked yet (see summarize)
DAMAGED = "damaged"  # table.attrs: runs left out because their arrays cannot be read
SAMPLES_FIELD = "experiment_samples"  # run.json: how many sample runs the experiment made (B)
# what the pages call an image the model got wrong unattacked (an untargeted run "fooled" it
# at step 0: a success with flip step 0, as summarize counts it; a targeted one only if the
# model already predicted the target)
AT_START = "misclassified before the attack"


def _index(root: Any, storage_options: dict[str, Any] | None) -> RunIndex:
    """``root``'s run index, refreshed (as :func:`animlib.list_runs` reads it)."""
    from .index import open_index

    index = open_index(root, storage_options)
    index.refresh()
    return index


def indexed_runs(
    index: RunIndex, *, experiments_only: bool = False, within: Collection[str] | None = None
) -> list[RunInfo]:
    """The readable runs a run index holds (no refresh: a dashboard keeps its index fresh);
    with ``experiments_only``, only those naming an experiment (picked out by the index's
    experiment column before any run.json is parsed: 100,000 plain runs cost no parsing);
    ``within``: only those runs."""
    from .index.query import experiment_runs

    wanted = experiment_runs(index.table) if experiments_only else None
    if within is not None:
        wanted = [i for i in (wanted or index.table["id"].to_pylist()) if i in within]
    return [i for i in index.infos(wanted) if i.ok]


def aggregate_status(statuses: Iterable[str]) -> str:
    """An experiment's status from its runs' (running, stale, failed, else finished)."""
    seen = set(statuses)
    return next((s for s in _STATUS_ORDER if s in seen), "finished")


def left_out_reason(meta: dict[str, Any], *, writer_gone: bool = False) -> str | None:
    """Why :func:`summarize` leaves a run out of its numbers (unless asked to count it): its
    status when ``failed`` or ``stale`` (running, but silent too long or its writer gone:
    :func:`animlib.meta.effective_status`), or :data:`NO_STEP` when it stored no step; None for
    a result or progress: finished, or running (live), with at least one step."""
    status = M.effective_status(meta, writer_gone=writer_gone)
    if status not in ("finished", "running"):
        return str(status or "no status")
    return None if int(meta.get("steps") or 0) > 0 else NO_STEP


def list_experiments(
    root: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> list[ExperimentInfo]:
    """One entry per experiment in ``root``, newest first, read from run.json files only.

    Args:
        root: Results folder (local path or fsspec URL).
        storage_options: fsspec options for remote folders.

    Returns:
        ExperimentInfo per experiment; ``meta`` holds ``name`` (as given to BatchWriter, the
        id made safe for paths from it; None for older experiments), ``attack``, ``model``,
        ``params``,
        ``tags``, ``class_names``, ``targeted``, ``n_runs`` (its sample runs found),
        ``n_samples`` (the sample runs BatchWriter made: more than ``n_runs`` when some were
        deleted; None for older experiments), ``status`` (running, stale, failed or finished
        over its runs), ``steps`` (the most of any run), ``created`` and ``updated``.

    Raises:
        RunFormatError: ``root`` does not exist or is not a folder.
    """
    from .index.experiments import experiments  # from the index's columns: no run.json parsed

    return experiments(_index(root, storage_options))


def group_experiments(
    runs: Iterable[RunInfo], *, writers_gone: Collection[str] = ()
) -> list[ExperimentInfo]:
    """:func:`list_experiments` of runs already listed (a dashboard's index keeps them fresh:
    no second scan of the folder).

    Args:
        runs: listed runs (those without an experiment are left out).
        writers_gone: runs whose writer is gone: ``stale`` when running
            (:attr:`~animlib.index.RunIndex.writers_gone`).

    Returns:
        ExperimentInfo per experiment, newest first.
    """
    groups: dict[str, list[RunInfo]] = {}
    for info in runs:
        exp = info.get("experiment")
        if isinstance(exp, str) and exp:
            groups.setdefault(exp, []).append(info)
    out = []
    for exp, infos in groups.items():
        infos.sort(key=lambda i: (sample_key(i.get("sample")), i.id))
        created = [str(i.get("created")) for i in infos if i.get("created")]
        updated = [str(i.get("updated")) for i in infos if i.get("updated")]
        meta = experiment_meta(
            infos[0].meta or {},
            n_runs=len(infos),
            targeted=any(i.get("target_label") is not None for i in infos),
            status=aggregate_status(
                M.effective_status(i.meta or {}, writer_gone=i.id in writers_gone) for i in infos
            ),
            steps=max(experiment_steps(i.meta or {}) for i in infos),
            created=min(created) if created else None,
            updated=max(updated) if updated else None,
        )
        out.append(ExperimentInfo(exp, meta, [i.id for i in infos]))
    return newest_first(out)


def experiment_steps(meta: dict[str, Any]) -> int:
    """The steps an experiment had logged as its sample run's run.json says: its
    ``experiment_steps`` (a sample paused with ``active=`` stops storing steps, the experiment
    goes on), else the run's own ``steps``."""
    own, logged = meta.get("steps"), meta.get("experiment_steps")
    return max(int(v) for v in (own, logged, 0) if type(v) is int)


def experiment_meta(first: dict[str, Any], **over_runs: Any) -> dict[str, Any]:
    """An experiment's ``meta`` (see :func:`list_experiments`): the run.json of its first run
    (by sample) for what its runs share, ``over_runs`` for what is taken over all of them."""
    samples, name = first.get(SAMPLES_FIELD), first.get("experiment_name")
    meta = {
        "name": name if isinstance(name, str) else None,
        "attack": first.get("attack"),
        "model": first.get("model"),
        "params": first.get("params") or {},
        "tags": first.get("tags") or [],
        "class_names": first.get("class_names"),
        "n_samples": samples if type(samples) is int else None,  # (not a bool)
    }
    keys = ("targeted", "n_runs", "status", "steps", "created", "updated")
    return {**meta, **{key: over_runs[key] for key in keys}}


def _surplus(info: ExperimentInfo) -> int:
    """An experiment's ``n_runs`` minus its ``n_samples`` (as BatchWriter made them; None for
    experiments written before it was stored); 0 when either is unknown."""
    samples, runs = info.get("n_samples"), info.get("n_runs")
    if not isinstance(samples, int) or not isinstance(runs, int):
        return 0
    return runs - samples


def missing_runs(info: ExperimentInfo) -> int:
    """How many of an experiment's sample runs are not in its folder (deleted or moved): its
    ``n_samples`` minus its ``n_runs``; 0 when unknown."""
    return max(-_surplus(info), 0)


def mixed_runs(info: ExperimentInfo) -> int:
    """How many more sample runs an experiment has than its writer made (its ``n_runs`` over
    its ``n_samples``): runs of another experiment of that id among them (its folders renamed,
    then the name logged again; runs copied in from another results folder), whose numbers
    the experiment's pool; 0 when unknown."""
    return max(_surplus(info), 0)


def mixed_problem(info: ExperimentInfo) -> str | None:
    """What ``validate`` (its ``MIXED experiment ID:`` report) and ``summary`` say of an
    experiment with :func:`mixed_runs`, or None."""
    extra = mixed_runs(info)
    if not extra:
        return None
    return (
        f"{info.get('n_runs')} sample runs where its "
        f"writer made {info.get('n_samples')}: runs of another experiment of this id are among "
        "them (folders renamed, then the name logged again, or runs copied in from another "
        "results folder), and its numbers pool both; give one of them another `experiment` "
        "in run.json, or remove its runs"
    )


def unreadable_samples(experiment: str, broken_ids: Iterable[str]) -> list[str]:
    """The runs among ``broken_ids`` (runs that cannot be read) named like sample runs of
    ``experiment`` (``{experiment}-NNNN``): where its missing sample runs most likely are,
    damaged rather than gone."""
    named = re.compile(re.escape(experiment) + r"-\d{4,}")
    return sorted(run_id for run_id in broken_ids if named.fullmatch(run_id))


def newest_first(experiments: list[ExperimentInfo]) -> list[ExperimentInfo]:
    """Experiments in :func:`list_experiments`' order: newest first, then by id."""
    experiments.sort(key=lambda e: e.id)
    experiments.sort(key=lambda e: e.get("created") or "", reverse=True)
    return experiments


def sample_key(sample: Any) -> tuple[int, Any]:
    """Orders the samples of an experiment: numbers by value, then anything else as text."""
    return (0, int(sample)) if isinstance(sample, int | np.integer) else (1, str(sample))


def image_key(meta: dict[str, Any]) -> str:
    """What identifies the attacked image across experiments: its sample id (e.g. the data set
    index) together with the clean image's hash when stored, so two samples that happen to look
    alike stay two rows and one image keeps one row across experiments."""
    sha = meta.get("original_sha1")
    return f"{meta.get('sample')}:{sha if isinstance(sha, str) else ''}"


def lookup(meta: dict[str, Any], key: str) -> Any:
    """``meta[key]``, where ``key`` may be dotted (``params.eps``); lists become tuples."""
    value: Any = meta
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return tuple(json.dumps(v) if isinstance(v, (dict, list)) else v for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def shown_names(experiments: Iterable[ExperimentInfo]) -> dict[str, str]:
    """What the pages call each experiment: its name where it differs from its id and no
    other experiment has it as name or id (a rerun with ``if_exists="new"``, ``pgd-2``, keeps
    the name ``pgd``: it read as the first run), else its id."""
    names = {x.id: x.get("name") or x.id for x in experiments}
    taken = Counter(names.values()) + Counter(i for i, n in names.items() if n != i)
    return {i: n if n != i and taken[n] == 1 else i for i, n in names.items()}


def has_key(meta: dict[str, Any], key: str) -> bool:
    """Whether run.json ``meta`` holds ``key`` (dotted: ``params.eps``), even as null."""
    *parents, last = key.split(".")
    for part in parents:
        meta = meta.get(part) if isinstance(meta, dict) else None
    return isinstance(meta, dict) and last in meta


def _by_keys(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return ["experiment"]
    keys = [k.strip() for k in by.split(",")] if isinstance(by, str) else [str(k) for k in by]
    keys = [k for k in keys if k]
    if not keys:
        raise AnimlibError(
            "needs at least one run.json key (such as experiment or params.eps)", field="by"
        )
    return keys


def run_outcomes(
    root: str | os.PathLike[str],
    by: str | Sequence[str] | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
    experiments_only: bool = True,
    experiments: str | Sequence[str] | None = None,
    search: str = "",
) -> pd.DataFrame:
    """One row per run: the ``by`` keys and the per-run values behind :func:`summarize`.

    Args:
        root: Results folder.
        by: run.json keys (dotted for nested ones, e.g. ``params.eps``) to add as columns.
        storage_options: fsspec options for remote folders.
        experiments_only: Only runs that belong to an experiment (run.json ``experiment``).
        experiments: Only the runs of these experiments, as for :func:`summarize`.
        search: Only the runs with every word, as for :func:`summarize`.

    Returns:
        A pandas DataFrame with the ``by`` columns, then ``id``, ``experiment``, ``sample``,
        ``clean_correct``, ``robust``, ``success`` (bools or None), ``linf``, ``l2`` and
        ``flip_step`` (None unless the run succeeds in the end, as ``ls`` shows it:
        :func:`animlib.outcomes.shown_outcome`).

    Raises:
        RunFormatError: ``root`` does not exist or is not a folder.
        ValueError: ``experiments`` names an experiment not in ``root``.
    """
    import pandas as pd

    from .summary_scope import run_scope

    keys = _by_keys(by) if by is not None else []
    index = _index(root, storage_options)
    scope = run_scope(index, experiments=experiments, search=search, where=str(root))
    runs = indexed_runs(index, experiments_only=experiments_only, within=scope)
    rows = _outcome_rows(runs, keys, storage_options, experiments_only)
    columns = list(dict.fromkeys([*keys, *OUTCOME_COLUMNS]))
    return pd.DataFrame(rows, columns=columns)


def _outcome_rows(
    runs: Iterable[RunInfo],
    keys: list[str],
    storage_options: dict[str, Any] | None,
    experiments_only: bool,
) -> list[dict[str, Any]]:
    rows = []
    for info in runs:
        if experiments_only and not info.get("experiment"):
            continue
        row = {key: lookup(info.meta or {}, key) for key in keys}
        row.update(outcome_of(info, storage_options))
        rows.append(row)
    return rows


def summarize(
    root: str | os.PathLike[str],
    by: str | Sequence[str] | None = ("experiment",),
    *,
    storage_options: dict[str, Any] | None = None,
    experiments_only: bool = True,
    include_incomplete: bool = False,
    experiments: str | Sequence[str] | None = None,
    search: str = "",
    over: str | None = None,
) -> pd.DataFrame:
    """Attack results per group of runs, as a pandas DataFrame (one row per group).

    Columns: the ``by`` keys, then ``n`` (runs), ``clean_acc`` (step-0 argmax == true label),
    ``robust_acc`` (last-step argmax == true label), ``success_rate`` (untargeted: last argmax
    != true label; targeted: == target label), ``median_linf`` and ``median_l2`` (last-step image
    minus original, over successful runs), ``median_flip_step`` (first step that leaves the
    true label / reaches the target, over successful runs) and ``left_out`` (the group's runs
    that are no result and count in no other column: see ``include_incomplete``). ``n`` and
    every statistic are over the same runs: finished ones, and running ones still written
    (their progress so far), with at least one step. Rates ignore runs without labels or
    confidences; a statistic with no runs to go on is NaN (a group whose runs are all left out
    has ``n`` 0). A run whose arrays fail the quick check of the runs page (a truncated chunk,
    a missing array: ``validate`` calls it broken) is never counted, only in ``left_out``
    (verdicts kept per run.json version and shared by the processes using the same cache
    folder; a summary checks for ``CHECK_BUDGET_S`` s, ~100 runs a second, the next ones go
    on: ``table.attrs["unchecked"]`` counts the runs left; ``SHARED_BUDGET_S`` s while another
    check is under way, as an open dashboard's: ``table.attrs["checked_elsewhere"]``). Values
    come from run.json summaries; arrays are read only for runs whose
    run.json lacks them (no stored original, or an old targeted run without ``initial_pred``).

    Args:
        root: Results folder (local path or fsspec URL).
        by: run.json keys to group by; dotted keys reach into objects (``params.eps``); a
            comma-separated string works too. Default ``["experiment"]``.
        storage_options: fsspec options for remote folders.
        experiments_only: Only runs that belong to an experiment (the default); False takes
            every readable run.
        include_incomplete: Also count the runs that are no result (False, the default, leaves
            them out and counts them in ``left_out``): ``failed`` ones (e.g. an attack that
            crashed after its clean step: its images would count as robust), ``stale`` ones
            (running, but killed or silent for longer than ``ANIMLIB_STALE_SECONDS``) and
            runs with no step stored. True counts every run, as before ``left_out`` existed
            (which then counts only damaged runs).
        experiments: Only the runs of these experiments (ids or the names they were made
            from; a list, or ``"a,b"``): a table for one
            sweep when the folder holds others of the same attack (CLI: ``--experiment``).
        search: Only the runs with every word in their id, name, attack, model, status, tags,
            source or parameters (``name=value``), as the runs page's search (CLI:
            ``--search``).
        over: One more run.json key (``params.seed``): each row also gets ``over_n``, how
            many values of it its runs hold, and each rate's standard deviation across them
            (``robust_acc_sd``, ...; :func:`animlib.summary_spread.with_spread`; CLI:
            ``--over``).

    Returns:
        The summary table, sorted by the ``by`` columns. ``table.attrs["mixed_models"]``
        names the rows that pool the runs of several models (``{label: models}``);
        ``table.attrs["reruns"]`` the rows holding reruns, which count an image once per
        experiment that attacked it alike (``pgd`` and ``pgd-2``, made by ``if_exists="new"``;
        ``{label: {"images": n, "experiments": ids}}``; never by experiment), and a
        ``UserWarning`` says so, as the CLI's note does.

    Raises:
        RunFormatError: ``root`` does not exist or is not a folder.
        ValueError: ``by`` names no key, or a key no run has; ``experiments`` names an
            experiment not in ``root``.
    """
    from .index.checks import damaged_sample_runs, summary_budget
    from .index.experiments import experiment_summary
    from .summary_scope import run_scope
    from .summary_spread import with_spread

    index = _index(root, storage_options)
    scope = run_scope(index, experiments=experiments, search=search, where=str(root))
    budget = summary_budget(index)
    damaged, unchecked = damaged_sample_runs(
        index, experiments_only=experiments_only, budget_s=budget, within=scope
    )

    def by_keys(keys: list[str]) -> pd.DataFrame:  # (one index refresh and check for both)
        if scope is None and experiments_only and keys == ["experiment"]:  # (columns)
            return experiment_summary(
                index, storage_options=storage_options, include_incomplete=include_incomplete,
                damaged=damaged,
            )  # fmt: skip
        return summarize_runs(
            indexed_runs(index, experiments_only=experiments_only, within=scope), keys,
            storage_options=storage_options, experiments_only=experiments_only,
            include_incomplete=include_incomplete, writers_gone=index.writers_gone,
            damaged=damaged,
        )  # fmt: skip

    table = by_keys(_by_keys(by)) if over is None else with_spread(by_keys, _by_keys(by), over)
    table.attrs.update({UNCHECKED: unchecked, DAMAGED: len(damaged)})
    table.attrs[CHECKED_ELSEWHERE] = budget != CHECK_BUDGET_S
    table.attrs.setdefault(RERUNS, {})  # (by experiment: none)
    warn_reruns(table)  # (once: not for the spread's groups by ``over`` too)
    return table


def summarize_runs(
    runs: Iterable[RunInfo],
    by: str | Sequence[str] | None = ("experiment",),
    *,
    storage_options: dict[str, Any] | None = None,
    experiments_only: bool = True,
    include_incomplete: bool = False,
    writers_gone: Collection[str] = (),
    damaged: Collection[str] = (),
) -> pd.DataFrame:
    """:func:`summarize` of runs already listed (a dashboard's index keeps them fresh: no
    second scan of the folder).

    Args:
        runs: listed runs (arrays are read from their folders for runs whose run.json lacks
            values).
        by: as for :func:`summarize`.
        storage_options: fsspec options for remote folders.
        experiments_only: leave out the runs that belong to no experiment.
        include_incomplete: as for :func:`summarize`.
        writers_gone: runs whose writer is gone: ``stale`` when running, so left out
            (:attr:`~animlib.index.RunIndex.writers_gone`).
        damaged: runs whose arrays cannot be read: always left out.

    Returns:
        The summary table, sorted by the ``by`` columns.

    Raises:
        ValueError: ``by`` names no key.
    """
    import pandas as pd

    keys = _by_keys(by)
    groups: dict[tuple, list[dict | None]] = {}  # None: a run left out
    pools = GroupPools(keys)  # the models and images of each group's counted runs
    held = [False] * len(keys)  # some run holds the key (a null value is a value: no typo)
    for info in runs:
        meta = info.meta or {}
        if experiments_only and not meta.get("experiment"):
            continue
        held = [h or has_key(meta, k) for h, k in zip(held, keys, strict=True)]
        counted = info.id not in damaged and (
            include_incomplete or not left_out_reason(meta, writer_gone=info.id in writers_gone)
        )
        outcome = outcome_of(info, storage_options) if counted else None
        group = tuple(lookup(meta, k) for k in keys)
        groups.setdefault(group, []).append(outcome)
        pools.add(group, meta if counted else None)
    for i, key in enumerate(keys):  # a key no run has is a typo more often than a choice
        if groups and not held[i]:
            raise AnimlibError(
                f"no run has {key!r} (run.json keys, or params.NAME)",
                field="by",
                code=Code.NOT_FOUND,
            )
    order = sorted(groups, key=group_order)
    rows = [{**dict(zip(keys, g, strict=True)), **summary_row(groups[g])} for g in order]
    table = pd.DataFrame(rows, columns=[*keys, *SUMMARY_COLUMNS])
    table.attrs.update(pools.attrs(order))
    return table
