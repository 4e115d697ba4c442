"""Row filter of the experiments table (pandas): chosen values per column, and free text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd


def matching_rows(
    frame: pd.DataFrame,
    chosen: Mapping[str, Sequence[str]],
    text: str,
    searched: Sequence[str],
) -> pd.Series:
    """Which rows pass every filter (an empty filter is no constraint).

    Args:
        frame: the table.
        chosen: for some columns, the values a row may have there.
        text: free text: every word (lower-cased) must appear in the ``searched`` columns.
        searched: the columns the words are looked for in (as text, lower-cased).

    Returns:
        A boolean mask over ``frame``'s rows.
    """
    mask = pd.Series(True, index=frame.index)
    for column, values in chosen.items():
        if values:
            mask &= frame[column].isin(list(values))
    words = text.lower().split()
    if words:
        haystack = frame[list(searched)].astype(str).agg(" ".join, axis=1).str.lower()
        for word in words:
            mask &= haystack.str.contains(word, regex=False)
    return mask
