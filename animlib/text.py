"""User strings and numbers as text: safe on one line or in a CSV cell, sorted by their numbers."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
CONTROL = re.compile(f"[{_CONTROLS}]")
# shown as escapes too: the bidi embedding, override and isolate controls, which make text read
# as other text ("RTL \u202eevil\u202c" reads "RTL live"); kept in names and paths
_SHOWN_ESCAPED = re.compile(f"[{_CONTROLS}\\u202a-\\u202e\\u2066-\\u2069]")
_CONTROL_RUNS = re.compile(_SHOWN_ESCAPED.pattern + "+")
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")
_LONE_CR = re.compile(r"\r(?!\n)")


def printable(text: object) -> str:
    """``text`` on one line: control characters (newlines, NUL, bidi overrides, ...) shown as
    escapes."""
    return _SHOWN_ESCAPED.sub(lambda m: repr(m.group())[1:-1], str(text))


def search_form(text: str) -> str:
    """``text`` as a search compares it: lower-case and in Unicode's composed form (NFC), so
    "café" typed finds "café" stored decomposed (a macOS file name, a PDF's text), and back."""
    return unicodedata.normalize("NFC", text.lower())


def display_width(text: str) -> int:
    """How many terminal cells ``text`` takes: a wide (East Asian W/F: "攻撃", most emoji)
    character two, a combining mark or a zero-width character none, any other one."""
    if text.isascii():
        return len(text)
    return sum(_cells(char) for char in text)


def _cells(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def padded(text: str, width: int, *, right: bool = False) -> str:
    """``text`` with spaces to ``width`` terminal cells (:func:`display_width`), on the left
    when ``right`` (right-aligned)."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def clipped(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal cells (:func:`display_width`), ending in "…"
    where it was cut."""
    if display_width(text) <= width:
        return text
    out, used = [], 1  # (the ellipsis)
    for char in text:
        used += _cells(char)
        if used > width:
            break
        out.append(char)
    return "".join(out) + "…"


def middle_clipped(text: str, width: int) -> str:
    """``text`` cut in its middle to at most ``width`` terminal cells (:func:`display_width`):
    its start, "…" and its end, so names that differ at their end (``crane [134]``,
    ``crane [517]``; ``...eps0.031-0000``, ``...-0001``) stay apart."""
    if display_width(text) <= width:
        return text
    head_room = width // 2  # (of the cells beside the ellipsis, the start gets the odd one)
    head, tail, used = [], [], 0
    for char in text:
        used += _cells(char)
        if used > head_room:
            break
        head.append(char)
    used = display_width("".join(head)) + 1
    for char in reversed(text[len(head) :]):
        used += _cells(char)
        if used > width:
            break
        tail.append(char)
    return "".join(head).rstrip() + "…" + "".join(reversed(tail)).lstrip()


def distinct_clipped(texts: Sequence[str], width: int) -> list[str]:
    """Each of ``texts`` cut in its middle to at most ``width`` cells (:func:`middle_clipped`),
    but texts whose cuts read alike are cut around where they differ from each other instead
    (``pgd-linf-eps0.0157-resnet18-cifar10-0000`` and ``…eps0.0314…`` both read
    ``pgd-linf-eps0.…-cifar10-0000``; now ``…0157-resnet18-cifar10-0000``), or left whole."""
    cuts = [middle_clipped(t, width) for t in texts]
    groups: dict[str, set[str]] = {}
    for text, cut in zip(texts, cuts, strict=True):
        groups.setdefault(cut, set()).add(text)
    for i, text in enumerate(texts):
        others = groups[cuts[i]] - {text}
        if others:
            at = min(_first_difference(text, other) for other in others)
            cuts[i] = _cut_at(text, at, width)
    seen: dict[str, set[str]] = {}
    for text, cut in zip(texts, cuts, strict=True):
        seen.setdefault(cut, set()).add(text)
    return [t if len(seen[c]) > 1 else c for t, c in zip(texts, cuts, strict=True)]


def _first_difference(a: str, b: str) -> int:
    pairs = enumerate(zip(a, b, strict=False))
    return next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))


def _cut_at(text: str, at: int, width: int) -> str:
    """``text`` shown from a little before position ``at`` (where it differs from another),
    its end kept: ``…0157-resnet18-cifar10-0000``, or ``…0157-res…0-0000`` when that is
    still too wide."""
    start = max(at - 3, 0)
    shown = ("…" if start else "") + text[start:]
    if display_width(shown) <= width:
        return shown
    return ("…" if start else "") + middle_clipped(text[start:], width - (1 if start else 0))


def one_line(text: object) -> str:
    """``text`` on one line with each run of control characters replaced by one space."""
    return _CONTROL_RUNS.sub(" ", str(text)).strip()


def csv_cell(value: object) -> object:
    """A value safe to write into a CSV cell: text a spreadsheet would run as a formula
    (starting with ``= + - @``, a tab or a line break) gets a leading apostrophe; a lone CR
    inside text becomes a newline. Numbers pass.

    pandas quotes a cell holding a newline but not one holding a lone CR, which a spreadsheet
    (and Python's csv) reads as the end of the row: ``"cat\r=cmd|..."`` started a new row with
    an unquoted formula. A cell with a newline is quoted, so it stays one cell."""
    if not isinstance(value, str):
        return value
    if "\r" in value:
        value = _LONE_CR.sub("\n", value)
    return "'" + value if value.startswith(_CSV_FORMULA) else value


def csv_safe_columns(frame: Any) -> None:
    """Make every text column of the pandas DataFrame ``frame`` safe to open in a spreadsheet
    (:func:`csv_cell` on each of its cells), in place: the one rule of every CSV download."""
    from pandas.api.types import is_string_dtype

    for column in frame.columns:
        if frame[column].dtype == object or is_string_dtype(frame[column]):
            frame[column] = frame[column].map(csv_cell)


def run_titles(runs: Sequence[Any]) -> list[str]:
    """Each run's title beside the others (the compare page, its player and tables): its name,
    with its id where another of ``runs`` has the same name (two reruns of "pgd" read "pgd"
    twice)."""
    read = [_as_read(run.name) for run in runs]
    counts = Counter(read)
    return [
        f"{run.name} ({run.id})" if counts[seen] > 1 and run.id != run.name else run.name
        for run, seen in zip(runs, read, strict=True)
    ]


_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")  # soft hyphen, zero widths


def _as_read(name: object) -> str:
    """``name`` as a reader sees it: composed (NFC: "café" typed or decomposed reads the
    same) and without zero-width characters ("zero\u200bwidth" reads "zerowidth")."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", str(name)))


def unique_label(name: str, taken: Collection[str]) -> str:
    """``name``, with spaces appended until it is none of ``taken`` (table columns that must
    differ but read the same)."""
    while name in taken:
        name += " "
    return name


_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def natural_key(text: str) -> tuple:
    """A sort key ordering the numbers inside ``text`` by value: ``pgd-eps4 < pgd-eps16``,
    ``eps0.05 < eps0.1``."""
    parts = _NUMBER.split(text)
    return tuple((0, float(p), p) if i % 2 else (1, 0.0, p) for i, p in enumerate(parts))


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: ``plural(1, "step")`` is ``"1 step"``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def some_of(items: Sequence[str], most: int = 3) -> str:
    """The first ``most`` of ``items`` joined with commas, and how many more there are."""
    more = f" and {len(items) - most:,} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def confidence_text(x: float, digits: int = 4) -> str:
    """``x`` with ``digits`` decimals, or as ``2.0e-9`` where that would read as 0: after an
    attack the true class's confidence is often 1e-9, and "0.0000" hides how far it fell (the
    browser player's ``fmtConf`` writes the same)."""
    if x != 0 and abs(x) < 0.5 * 10.0**-digits:
        mantissa, exponent = f"{x:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{x:.{digits}f}"


SHORT_REPR_CHARS = 160  # longest string value a short repr shows whole


def short_repr(kind: str, /, **fields: Any) -> str:
    """``kind(key=value, ...)`` of the ``fields`` that are not None, each value as its repr
    (a string cut to :data:`SHORT_REPR_CHARS` characters): the one line a notebook cell shows
    for what animlib returns, instead of every field it holds."""
    shown = []
    for key, value in fields.items():
        if isinstance(value, str) and len(value) > SHORT_REPR_CHARS:
            value = value[: SHORT_REPR_CHARS - 1] + "…"
        if value is not None:
            shown.append(f"{key}={value!r}")
    return f"{kind}({', '.join(shown)})"


def comma_list(value: object) -> list[str] | None:
    """Names asked for as a list of strings or one comma-separated string (as the CLI takes
    them): each stripped, empty ones dropped, the order kept, repeats once; [] for None, and
    None for anything else (the caller says what is wrong with it)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        return None
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def unique_names(names: Sequence[Any]) -> list[str]:
    """Class names as unique strings, the one rule wherever a class is named (the player's and
    the viewer's tables, the experiments grid and its outcomes): a repeated name gets its index
    appended (ImageNet, for one, has two classes called "crane": ``crane [134]``, ``crane [517]``);
    should that still leave two alike, every name gets its index."""
    return list(_unique_names(tuple(str(n) for n in names)))


@functools.lru_cache(maxsize=64)  # (the grid names 3 classes of every run from one list)
def _unique_names(names: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    out = tuple(f"{n} [{k}]" if seen[n] > 1 else n for k, n in enumerate(names))
    return out if len(set(out)) == len(out) else tuple(f"{n} [{k}]" for k, n in enumerate(names))


def unique_name(names: Sequence[Any], label: Any) -> str | None:
    """The name of class ``label`` in ``names`` as :func:`unique_names` gives it (None: no
    such class, or ``label`` is no int)."""
    ok = isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(names)
    return _unique_names(tuple(str(n) for n in names))[label] if ok else None
