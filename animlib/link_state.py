"""A page's view (its search, filters, sort, columns, page) as link parameters and back."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

from .text import CONTROL, printable

# A view: (the widget's session-state key, its link parameter, what kind of value it holds)
Spec = tuple[tuple[str, str, str], ...]
RUNS_VIEW: Spec = (
    ("f_text", "q", "text"),
    ("f_attack", "attack", "list"),
    ("f_model", "model", "list"),
    ("f_experiment", "experiment", "list"),
    ("f_status", "status", "list"),
    ("f_success", "outcome", "list"),
    ("f_sort", "sort", "choice"),
    ("f_desc", "desc", "flag"),
    ("f_rows", "rows", "choice"),
    ("f_params", "params", "list"),
    ("f_page", "page", "number"),
)
EXPERIMENTS_VIEW: Spec = (
    ("e_text", "q", "text"),
    ("e_attack", "attack", "list"),
    ("e_model", "model", "list"),
)
TRUE = ("1", "true", "yes")

Parsed = tuple[object, str]  # the value for the widget (None: leave it) and what was wrong


def _text(name: str, values: Sequence[str], options: Sequence[object]) -> Parsed:
    if CONTROL.search(values[0]):
        return None, f"{name}={printable(values[0])} in the link holds control characters"
    return values[0], ""


def _list(name: str, values: Sequence[str], options: Sequence[object]) -> Parsed:
    """Known values in link order; a value that is no option is split on commas (the
    ``a,b`` form this page writes and other pages link with)."""
    known, unknown = [], []
    folded: dict[str, list[object]] = {}  # a typed link's "cw" is the folder's "CW" (if alone)
    for option in options:
        folded.setdefault(str(option).casefold(), []).append(option)
    for value in values:
        for part in [value] if value in options else value.split(","):
            if part not in options and len(folded.get(part.casefold(), [])) == 1:
                part = folded[part.casefold()][0]
            if part in options and part not in known:
                known.append(part)
            elif part and part not in options:
                unknown.append(part)
    noun = "parameter" if name == "params" else name
    return known, none_such(noun, unknown, options) if unknown else ""


def none_such(noun: str, unknown: Sequence[str], options: Sequence[object]) -> str:
    """What a link names that this folder has not: ``No experiment x in this folder (the
    choices: ...)``."""
    problem = f"No {noun} {', '.join(map(printable, unknown))} in this folder"
    return problem + (f" (the choices: {_shown(options)})" if options else "")


def not_one_of(name: str, value: str, options: Sequence[object]) -> str:
    """A link's ``name=value`` that is none of ``options``."""
    return f"{name}={printable(value)} in the link is not one of: {_shown(options)}"


def _shown(options: Sequence[object]) -> str:
    """The first options, for a message."""
    return ", ".join(printable(str(o)) for o in options[:8]) + (", …" if len(options) > 8 else "")


def _choice(name: str, values: Sequence[str], options: Sequence[object]) -> Parsed:
    by_text = {str(option): option for option in options}
    if values[0] in by_text:
        return by_text[values[0]], ""
    return None, not_one_of(name, values[0], options)


def _flag(name: str, values: Sequence[str], options: Sequence[object]) -> Parsed:
    return values[0].lower() in TRUE, ""


def _number(name: str, values: Sequence[str], options: Sequence[object]) -> Parsed:
    if re.fullmatch(r"[0-9]{1,12}", values[0]) and int(values[0]) >= 1:  # ("³" is no number)
        return int(values[0]), ""
    return None, f"{name}={printable(values[0])} in the link is not a page number"


def _int(name: str, values: Sequence[str], options: Sequence[object]) -> Parsed:
    """A whole number inside ``options`` = ``(lowest, highest)``."""
    low, high = options
    text = values[0].strip()
    if re.fullmatch(r"-?[0-9]{1,12}", text) and low <= int(text) <= high:  # type: ignore[operator]
        return int(text), ""  # (ASCII digits only: int() refuses "--5", takes "³" nowhere)
    return (
        None,
        f"{name}={printable(values[0])} in the link is not a whole number from {low} to {high}",
    )


def _decimal(name: str, values: Sequence[str], options: Sequence[object]) -> Parsed:
    """A number inside ``options`` = ``(lowest, highest)``."""
    low, high = options
    try:
        value = float(values[0])
    except ValueError:
        value = math.nan
    if low <= value <= high:  # type: ignore[operator]  (NaN: never)
        return value, ""
    return (
        None,
        f"{name}={printable(values[0])} in the link is not a number from {low:g} to {high:g}",
    )


READERS: dict[str, Callable[[str, Sequence[str], Sequence[object]], Parsed]] = {
    "text": _text,
    "list": _list,
    "choice": _choice,
    "flag": _flag,
    "number": _number,
    "int": _int,  # a number widget's whole number (options: its range)
    "decimal": _decimal,  # a number widget's number (options: its range)
}


def parameters(view: Spec) -> tuple[str, ...]:
    """The link parameters of a view."""
    return tuple(name for _, name, _ in view)


def view_from_link(
    view: Spec, link: Mapping[str, Sequence[str]], *, options: Mapping[str, Sequence[object]]
) -> tuple[dict[str, object], list[str]]:
    """The widgets' values a link asks for, and what in it could not be used.

    Args:
        view: the page's widgets and their link parameters.
      link: every value of each link parameter (``st.query_params.get_all``); absent or empty
        parameters leave their widget at its default.
      options: per widget key of a list or choice, the values it offers (a filter's values in
        this folder, the sort columns, the page sizes); of an int or decimal, its range.

    Returns:
      ``(state, problems)``: session-state values by widget key (values no widget offers left
      out) and one sentence per parameter that was not used as written.
    """
    state: dict[str, object] = {}
    problems: list[str] = []
    for key, name, kind in view:
        values = [v for v in link.get(name, ()) if v]
        if not values:
            continue
        value, problem = READERS[kind](name, values, options.get(key, ()))
        if value is not None:
            state[key] = value
        if problem:
            problems.append(problem)
    return state, problems


def view_to_link(
    view: Spec, state: Mapping[str, object], *, defaults: Mapping[str, object]
) -> dict[str, str | list[str]]:
    """The link parameters that show the view ``state`` holds (by widget key); values at their
    default are left out, so an untouched page has a bare link. Lists are written ``a,b``, or
    as repeated parameters when a value holds a comma."""
    link: dict[str, str | list[str]] = {}
    for key, name, kind in view:
        value = state.get(key)
        if value in (None, "", False) or value == defaults.get(key):
            continue
        if kind == "list":
            values = [str(v) for v in value]  # type: ignore[attr-defined]
            if values:
                link[name] = values if any("," in v for v in values) else ",".join(values)
        elif kind == "flag":
            link[name] = "1"
        elif kind == "decimal":
            link[name] = f"{value:g}"
        else:
            link[name] = str(value)
    return link


def page_in_link(text: str, pages: int) -> int:
    """The page a link's ``page=`` names, within 1..``pages`` (1 for anything else)."""
    page, _ = _number("page", [text], ())  # (the same rule as the runs page's page=)
    return min(int(page or 1), pages)
