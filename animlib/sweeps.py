"""Which experiments form one sweep over a parameter: by id without its value, or by the rest."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from typing import Any

import pandas as pd

EPS = "eps"  # the swept parameter by default: params.eps (or params.epsilon)
PARAMS_PREFIX = "params."  # the experiments table's column of another swept parameter
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\d.])")
_WORD = re.compile(r" (?=[^ =]+=)")  # between two name=value words of the table's params text


def _names(written: str, value: float) -> bool:
    """Whether a number as written in an id names ``value``: equal, or ``value`` rounded to the
    decimals written (``0.0314`` for ε = 0.031373); a whole number only when equal (``m3`` is
    no ε of 3.2)."""
    named = float(written)
    mantissa, _, exponent = written.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    if not decimals:
        return math.isclose(named, value, rel_tol=1e-6)
    half_unit = 0.5 * 10.0 ** (int(exponent or 0) - decimals)
    return abs(named - value) <= half_unit * (1 + 1e-9) or math.isclose(named, value, rel_tol=1e-6)


def sweep_of(experiment: str, value: float) -> str:
    """The experiment id with the swept parameter's value replaced by ``*``: the last number
    naming ``value`` (see :func:`_names`), or ``255 value`` as in ``eps8`` for ε = 8/255
    (``v8-eps8`` is ``v8-eps*``); the id itself when it names no such number."""
    for m in reversed(list(_NUMBER.finditer(experiment))):
        written = m.group()
        if _names(written, value) or math.isclose(float(written), 255 * value, rel_tol=1e-3):
            return experiment[: m.start()] + "*" + experiment[m.end() :]
    return experiment


def sweep_key(experiment: str, attack: Any, model: Any, value: float | None) -> tuple[str, ...]:
    """The sweep an experiment belongs to by its id alone: its attack, model and id without
    the value of the swept parameter (:func:`sweep_of`); :func:`sweep_keys` also groups the
    experiments whose ids do not spell the value."""
    sweep = experiment if value is None else sweep_of(experiment, value)
    return (str(attack or ""), str(model or ""), sweep)


def swept_names(column: str) -> tuple[str, ...]:
    """The parameter names an experiments-table column holds: ``eps`` (and ``epsilon``) for
    ``eps``, ``NAME`` for ``params.NAME``."""
    if column == EPS:
        return (EPS, "epsilon")
    return (column.removeprefix(PARAMS_PREFIX),)


def param_words(text: str, skip: Collection[str] = ()) -> dict[str, str]:
    """The ``{name: value}`` of the table's ``params`` text (``name=value`` words), but for
    the names in ``skip``."""
    pieces = (word.partition("=") for word in _WORD.split(text or "") if word)
    return {name: value for name, eq, value in pieces if eq and name not in skip}


def sweep_keys(frame: pd.DataFrame, column: str = EPS) -> list[tuple[str, ...]]:
    """Each row's sweep over the parameter in the frame's ``column`` (rows of
    :func:`~animlib.experiment_views.experiment_table`: ``experiment``, ``attack``,
    ``model``, ``column`` and, when there, ``params``).

    An id that spells the swept value gives the sweep (:func:`sweep_key`: ``pgd-eps*``). The
    experiments of one attack and model whose ids do not (``pgd-eps0.03`` in a sweep over
    ``alpha``) are grouped by their other parameters, those left out that change with the
    swept one value for value (``eps`` of a PGD logged with ``alpha = eps / 4``); a group
    with two experiments at one value, or a row with no value, stays one sweep per id.

    Returns:
        One key per row: ``(attack, model, id with ``*``)``, or ``(attack, model, "",
        name=value, ...)`` for a sweep found by its parameters.
    """
    values = pd.to_numeric(frame[column], errors="coerce").tolist()
    texts = frame["params"].tolist() if "params" in frame else [""] * len(frame)
    ids, attacks, models = (frame[c].tolist() for c in ("experiment", "attack", "model"))
    keys: list[tuple[str, ...]] = []
    loose: dict[tuple[str, ...], list[int]] = {}  # (attack, model) -> rows not spelling it
    for i, (exp, value) in enumerate(zip(ids, values, strict=True)):
        known = None if value is None or math.isnan(value) else float(value)
        keys.append(sweep_key(str(exp), attacks[i], models[i], known))
        if known is not None and keys[i][2] == str(exp):
            loose.setdefault(keys[i][:2], []).append(i)
    skip = set(swept_names(column))
    for head, rows in loose.items():
        others = {i: param_words(texts[i], skip) for i in rows}
        tied = _tied(rows, values, others)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i in rows:
            words = tuple(sorted(f"{k}={v}" for k, v in others[i].items() if k not in tied))
            groups.setdefault(words, []).append(i)
        for words, members in groups.items():
            if len({values[i] for i in members}) == len(members):  # (else: one sweep per id)
                for i in members:
                    keys[i] = (*head, "", *words)
    return keys


def _tied(rows: Sequence[int], values: Sequence[float], others: dict[int, dict[str, str]]) -> set:
    """The parameters of ``rows`` that change with the swept value, one value of theirs for
    each swept one and back (``eps`` of ``alpha = eps / 4``)."""
    names = {name for i in rows for name in others[i]}
    tied = set()
    for name in names:
        pairs = {(values[i], others[i].get(name)) for i in rows}
        theirs = {b for _, b in pairs}
        if len(theirs) > 1 and len(pairs) == len({a for a, _ in pairs}) == len(theirs):
            tied.add(name)
    return tied


def sweep_labels(keys: Sequence[tuple[str, ...]]) -> list[str]:
    """How the chart names the sweeps of ``keys`` (of one series): the id with the value
    left out (``art-pgd-eps*``), or the parameters that tell the sweep from the others
    (``eps=0.03``)."""
    found = [set(key[3:]) for key in keys if not key[2]]
    # (the words shared by two sweeps or more: one sweep's own words are all it has)
    shared = set.intersection(*found) if len({frozenset(f) for f in found}) > 1 else set()
    words = [" ".join(w for w in key[3:] if w not in shared) for key in keys]
    return [key[2] or w or "no other parameter" for key, w in zip(keys, words, strict=True)]
