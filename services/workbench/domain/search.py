"""Searching masked Chinese text without a word segmenter: overlapping character bigrams.

Chinese has no spaces, and the most common searches are two characters long (路灯, 噪音,
物业). pg_trgm cannot use its index for a two-character LIKE (no full trigram inside it), so
each ticket keeps the set of bigrams of its masked text in an indexed array: a query's bigrams
must all be present (GIN `@>`), then the plain substring test confirms the order. The bench
(bench/workbench_list.py) measures both approaches.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s，。、；：！？,.;:!?（）()【】\[\]“”\"'《》<>/\\|·…—\-*]+")


def normalise(text: str) -> str:
    return text.strip().lower()


def bigrams(text: str) -> list[str]:
    """The distinct bigrams of each run of text between separators (a one-character run gives
    itself), sorted: the same text always gives the same array."""
    grams: set[str] = set()
    for run in _SEPARATORS.split(normalise(text)):
        if len(run) == 1:
            grams.add(run)
        grams.update(run[i:i + 2] for i in range(len(run) - 1))
    grams.discard("")
    return sorted(grams)


def query_terms(query: str) -> list[str]:
    """The words typed (split on spaces and punctuation); each must appear in the text."""
    return [t for t in _SEPARATORS.split(normalise(query)) if t][:8]
