"""A run's ``params``: flattened to dotted names, as text, and as the run index stores them."""

# The index keeps each run's scalar parameters in one text column, ``SEP name=value SEP name=value
# SEP`` (names sorted), so that one parameter of every run is a single regular-expression pass in
# Arrow (sort the runs page by ``eps``), and the names alone in another (``SEP name SEP ... ``: a
# folder has few distinct sets of names, so listing them is a ``unique`` over short strings).

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from .text import CONTROL, one_line

__all__ = [
    "INDEXED",
    "PARAM_CHARS",
    "SEP",
    "decode",
    "flatten",
    "index_text",
    "number",
    "param_text",
    "params_problem",
    "search_text",
    "search_words",
]

PARAM_CHARS = 80  # a longer parameter value (a list of class weights, say) is cut with "…"
INDEXED = 256  # parameters of one run the index keeps (by name): a run logging a dict of 1,000
# class weights as params must not make every index row tens of kilobytes long; a whole flattened
# training config (model.*, data.*, optim.*: 73 keys in a review) must stay searchable
SEP = "\x1f"  # between the index's name=value pieces (a control character: never in a piece)
NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
NUMBER_RE2 = f"^{NUMBER.pattern}$"  # the same, anchored (Arrow's match_substring_regex)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as one level: ``{"opt": {"lr": 0.1}}`` -> ``{"opt.lr": 0.1}`` (an empty
    mapping stays a value)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def param_text(value: Any) -> str:
    """A parameter as the tables show it: numbers to 6 significant digits, the rest as JSON
    would spell it (``true``, ``null``, ``[1, 2]``), strings as they are; cut at
    ``PARAM_CHARS``."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= PARAM_CHARS else text[: PARAM_CHARS - 1] + "…"


def _stored(value: Any) -> str:
    """A value as the index keeps it: finite numbers exactly (``repr``), the rest as shown."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return repr(value)
    return one_line(param_text(value))


def index_text(params: Any) -> tuple[str, str]:
    """The index's text of a run's ``params`` and of their names (``("", "")`` for none).

    Names holding ``=`` or control characters are left out (they could not be told apart
    from the value), and names after the first ``INDEXED`` (by name); values are on one line,
    cut at ``PARAM_CHARS``.

    Args:
        params: run.json's ``params`` (anything: a non-mapping gives none).

    Returns:
        ``SEP name=value SEP ... SEP`` and ``SEP name SEP ... SEP``, by name.
    """
    if not isinstance(params, Mapping):
        return "", ""
    flat = flatten(params)
    names = sorted(k for k in flat if isinstance(k, str) and k and "=" not in k)
    names = [k for k in names if not CONTROL.search(k)][:INDEXED]
    if not names:
        return "", ""
    pieces = [f"{k}={_stored(flat[k])}" for k in names]
    return SEP + SEP.join(pieces) + SEP, SEP + SEP.join(names) + SEP


def decode(text: str | None) -> dict[str, str]:
    """The ``{name: value text}`` of an index text made by :func:`index_text`."""
    out: dict[str, str] = {}
    for piece in (text or "").split(SEP):
        name, eq, value = piece.partition("=")
        if eq:
            out[name] = value
    return out


def number(text: str) -> float | None:
    """The number a stored value spells (``"0.1"``, ``"20"``, ``"1e-3"``), else None."""
    return float(text) if NUMBER.fullmatch(text) else None


VALUE_SPACE = "\u00a0"  # a space inside a searched value: ``name=value`` stays one word


def search_text(text: str | None) -> str:
    """The ``name=value`` words the runs page's search finds a run by (values as shown; a
    space inside a value as :data:`VALUE_SPACE`, so ``opt=adam`` is not ``opt=adam w``)."""
    words = []
    for name, value in decode(text).items():
        num = number(value)
        shown = param_text(num) if num is not None else value.replace(" ", VALUE_SPACE)
        words.append(f"{name}={shown}")
    return " ".join(words)


def search_words(text: str) -> list[str]:
    """The words of a search: split at spaces, a double-quoted part kept as one word with its
    spaces and without its quotes (``opt="adam w"``: that whole value; ``"my run"``)."""
    return [w.replace('"', "") for w in _WORD.findall(text) if w.replace('"', "")]


_WORD = re.compile(r'(?:[^\s"]+|"[^"]*"?)+')


SHOWN_DIGITS = 4  # significant digits the experiments table shows numbers with (``%.4g``)
TEXT_DIGITS = 6  # significant digits of a number in the searched text (:func:`param_text`)


def word_pattern(word: str) -> str | None:
    """How a search word is found in a :func:`search_text` haystack (lower-cased words
    joined by spaces): ``name=value`` is a whole word, so ``eps=0.1`` finds ``eps=0.1`` (and
    ``attack.eps=0.1``, ``eps=0.10``) but not ``eps=0.15`` or ``max_eps=0.1``. A number finds
    the values that round to it at its own significant digits, at least ``SHOWN_DIGITS``:
    ``alpha=0.02273`` (what the experiments table shows) finds ``alpha=0.0227273``. The
    regular expression returned works in Python's ``re`` and Arrow's RE2. A bare number is
    found as a substring, or as a value that rounds to it (``0.02273``). None: any other
    word is found as a substring."""
    name, eq, value = word.partition("=")
    if not (name and eq and value):
        if " " in word:  # (quoted: as text, its spaces also those inside a value)
            return re.escape(word).replace("\\ ", f"[ {VALUE_SPACE}]")
        if number(word) is None:
            return None  # (a bare number: as text, or any value that rounds to it)
        values = "|".join(re.escape(text.lower()) for text in rounding_to(word))
        return f"{re.escape(word)}|=(?:{values})(?: |$)"
    num = number(value)
    if num is None:
        values = re.escape(value.lower().replace(" ", VALUE_SPACE))
    else:
        values = "|".join(re.escape(text.lower()) for text in rounding_to(value))
    return f"(?:^|[ .]){re.escape(name.lower())}=(?:{values})(?: |$)"


def rounding_to(value: str) -> list[str]:
    """The texts (:func:`param_text`, ``TEXT_DIGITS`` digits) of the numbers that round to
    the number ``value`` spells at its own significant digits, at least ``SHOWN_DIGITS``
    (``"0.1"``: 0.09995 to 0.10005); a number spelled with more than ``TEXT_DIGITS``
    digits, or zero, is only its own text."""
    exact = Decimal(value)
    digits = len("".join(map(str, exact.as_tuple().digits)).lstrip("0"))
    plain = not exact.is_finite() or exact.is_zero() or digits > TEXT_DIGITS
    if plain or not -300 < exact.adjusted() < 300:  # (1e999999: a float's inf, no rounding)
        return [param_text(float(value))]
    top = exact.copy_abs().adjusted()  # the exponent of its first digit
    half = Decimal(5).scaleb(top - max(digits, SHOWN_DIGITS))  # half its last digit's unit
    low, high = exact.copy_abs() - half, exact.copy_abs() + half
    texts = []
    for power in (top - 1, top):  # (below a power of ten, the numbers have a smaller exponent)
        unit = Decimal(1).scaleb(power - TEXT_DIGITS + 1)
        first = max(low, Decimal(1).scaleb(power))
        last = min(high, Decimal(1).scaleb(power + 1) - unit)
        start, stop = int((first / unit).to_integral_value(ROUND_CEILING)), int(last / unit)
        texts += [param_text(float((k * unit).copy_sign(exact))) for k in range(start, stop + 1)]
    return list(dict.fromkeys(texts))


def params_problem(value: Any, field: str = "params") -> tuple[str, str] | None:
    """The first value in ``params`` a run cannot keep, as ``(field, problem)``, or None.

    A NaN (a float, or in an array or tensor) would be stored as the text ``"nan"``, most
    likely a bug in the caller's sweep; an object with no text of its own would be stored as
    its memory address (``<object object at 0x7f...>``), a different value on every rerun.
    Infinities are kept (``norm=np.inf`` names the L-inf norm): stored as ``"inf"``.

    Args:
        value: the params dict (or a value inside it).
        field: its name in messages (``params.opt.lr``, ``params.eps[2]``).
    """
    if isinstance(value, Mapping):
        for key, item in value.items():
            if found := params_problem(item, f"{field}.{key}"):
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if found := params_problem(item, f"{field}[{i}]"):
                return found
        return None
    return _leaf_problem(value, field)


NAN = "is NaN: give a number, or leave it out"


def _leaf_problem(value: Any, field: str) -> tuple[str, str] | None:
    """:func:`params_problem` of one value that is no dict, list or tuple."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if hasattr(value, "dtype"):  # numpy scalars and arrays, torch tensors, ...
        if getattr(value.dtype, "kind", "") != "f" and "float" not in str(value.dtype):
            return None
        try:
            return (field, NAN) if _any_nan(value) else None
        except Exception:  # noqa: BLE001 -- a tensor type numpy cannot read: kept as text
            return None
    if isinstance(value, float):
        return (field, NAN) if math.isnan(value) else None
    text = str(value)
    if " at 0x" in text and text.startswith("<"):
        return (
            field,
            f"{one_line(text)[:60]} has no value a run can keep (its text is a memory address): "
            "give a number, a string, a list or a dict",
        )
    return None


def _any_nan(value: Any) -> bool:
    import numpy as np

    if hasattr(value, "detach"):  # torch: without a copy to numpy where it can say itself
        return bool(value.detach().isnan().any())
    return bool(np.isnan(np.asarray(value, dtype=np.float64)).any())
