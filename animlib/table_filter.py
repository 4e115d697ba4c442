"""Row filter of the experiments table (pandas): chosen values per column, and free text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from .params import search_words, word_pattern
from .text import search_form


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
        text: free text: every word (lower-cased) must appear in the ``searched`` columns
            (``name=value`` as a whole word, see :func:`~animlib.params.word_pattern`).
        searched: the columns the words are looked for in (as text, lower-cased).

    Returns:
        A boolean mask over ``frame``'s rows.
    """
    mask = pd.Series(True, index=frame.index)
    for column, values in chosen.items():
        if values:
            mask &= frame[column].isin(list(values))
    words = search_words(search_form(text))
    if words:
        haystack = frame[list(searched)].astype(str).agg(" ".join, axis=1).map(search_form)
        for word in words:
            pattern = word_pattern(word)
            mask &= haystack.str.contains(pattern or word, regex=pattern is not None)
    return mask
