"""A summary's spread over one more key (seeds, restarts): each rate's deviation across it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from .errors import AnimlibError, Code

RATES = ("clean_acc", "robust_acc", "success_rate")
OVER_N = "over_n"  # how many values of the ``over`` key a row's counted runs with rates hold
SD = "_sd"  # the suffix of a rate's standard deviation across them
WITHOUT = "over_missing"  # table.attrs: counted runs that hold no value of ``over`` (or null)


def with_spread(
    summarize: Callable[[list[str]], pd.DataFrame], keys: Sequence[str], over: str
) -> pd.DataFrame:
    """The summary by ``keys`` with, per row, :data:`OVER_N` (how many values of ``over`` its
    counted runs with rates hold: seeds, restarts) and each rate's sample standard deviation
    across the groups those values make (``robust_acc_sd``, ...; NaN below two), as W&B shows
    a group's spread: a paper reports robust accuracy 0.42 ± 0.03 over 3 seeds. The rates
    themselves stay over the row's runs pooled (the mean over the values when each holds as
    many runs). Runs that hold no value of ``over`` (or null) are in the rates, not in the
    spread: ``table.attrs["over_missing"]`` counts them.

    Args:
        summarize: the summary by the keys it is given (``by``).
        keys: the row keys.
        over: the key the spread is over, not one of ``keys``.

    Raises:
        AnimlibError: (INVALID, field ``over``) ``over`` is one of ``keys`` or empty;
            (NOT_FOUND) no run holds it.
    """
    over = over.strip()
    if not over or over in keys:
        what = "got none" if not over else f"{over!r} is one of them"
        raise AnimlibError(
            f"must be a run.json key besides the row keys (--by): {what}",
            field="over",
            code=Code.INVALID,
        )
    table = summarize(list(keys))
    try:
        inner = summarize([*keys, over])
    except AnimlibError as exc:
        if exc.field != "by" or over not in exc.message:
            raise
        raise AnimlibError(exc.message, field="over", code=Code.NOT_FOUND) from None
    held = inner[over].notna()  # (a run without the key, or null, is no value of it)
    counted = inner[held & (inner["n"] > 0) & inner["robust_acc"].notna()]
    stats = (
        counted.groupby(list(keys), dropna=False, sort=False)
        .agg(**{OVER_N: ("n", "size"), **{f"{r}{SD}": (r, "std") for r in RATES}})
        .reset_index()
    )
    out = table.merge(stats, on=list(keys), how="left")
    out[OVER_N] = out[OVER_N].fillna(0).astype(int)
    out.attrs = {**table.attrs, WITHOUT: int(inner.loc[~held, "n"].sum())}
    return out
