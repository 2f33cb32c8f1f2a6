"""The faster scans of a request's words find exactly what the plain ones did, on every
labelled request: the gazetteer's names (candidate positions by a regular expression, not a
Python step per character), the responsibility list's phrases (one alternation grouped by first
character), the danger keywords (one scan first), the character n-grams and the sum of one
unit's subcategories."""

from __future__ import annotations

import re

import pytest

from services.dispatch.domain.datafiles import load_jsonl
from services.dispatch.domain.linear import LinearClassifier, char_ngrams, normalise
from services.dispatch.domain.places import (
    _PLACE_FOLLOWS,
    Gazetteer,
    Hit,
    Name,
    _starts_a_name,
)
from services.dispatch.domain.responsibilities import Duty, ListMatch, load_responsibilities
from services.dispatch.domain.routing import load_routing_table, unit_confidence


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rows = load_jsonl("labelled_requests.jsonl")
    return ([r["text"] for r in rows] + [r["address"] for r in rows if r.get("address")]
            + ["", "颍州区", "城关镇另外还有河东那边", "Ab-c 12 路灯", "煤气泄漏了"])


def plain_hits(gazetteer: Gazetteer, words: str, field: str) -> list[Hit]:
    """`Gazetteer.hits` as it was: a look-up at every character."""
    found: list[Hit] = []
    taken = [False] * len(words)
    for i, ch in enumerate(words):
        for n in gazetteer._by_first.get(ch, ()):
            if words.startswith(n.text, i):
                found.append(Hit(n, i, field))
    found.sort(key=lambda h: (-len(h.name.text), h.start))
    kept: list[Hit] = []
    for h in found:
        if any(taken[h.start:h.end]):
            continue
        if h.name.needs_place_word and not (
                _PLACE_FOLLOWS.match(words[h.end:h.end + 4])
                and _starts_a_name(words[h.start - 1] if h.start else "")):
            continue
        for k in range(h.start, h.end):
            taken[k] = True
        kept.append(h)
    return kept


def test_gazetteer_finds_the_same_names(texts: list[str], gazetteer: Gazetteer) -> None:
    for words in texts:
        assert gazetteer.hits(words, "f") == plain_hits(gazetteer, words, "f")


def test_names_of_one_character_are_found_too() -> None:
    """An operator's landmark file may name a place with one character."""
    gazetteer = Gazetteer(names=[Name("河", ("a",), None, 0.6, "地标"),
                                 Name("河东", ("a",), "a.1", 0.75, "乡镇街道", True),
                                 Name("东", ("b",), None, 0.6, "地标"),
                                 Name("东城区", ("b",), None, 0.95, "县区")],
                          boxes={}, within={})
    for words in ("河", "河东", "河东那边", "在河东村", "东城区河", "东河东城区东", "", "西"):
        assert gazetteer.hits(words, "f") == plain_hits(gazetteer, words, "f")


def test_responsibility_phrases_match_as_one_plain_alternation(texts: list[str]) -> None:
    duties = load_responsibilities()
    plain = re.compile("|".join(map(re.escape, sorted(duties.duties,
                                                      key=lambda p: (-len(p), p)))))
    for text in texts:
        found: dict[str, Duty] = {}
        for m in plain.finditer(text.lower()):
            found.setdefault(m.group(), duties.duties[m.group()])
        assert duties.match(text) == ListMatch(tuple(found.values()))


def test_urgent_keywords_and_ngrams_as_plainly_found(texts: list[str],
                                                     linear: LinearClassifier) -> None:
    keywords = linear.taxonomy.urgent_keywords
    assert any(linear.urgent_keywords_in(text) for text in texts)
    for text in texts:
        assert linear.urgent_keywords_in(text) == tuple(k for k in keywords if k in text)
        for lo, hi in ((1, 2), (1, 3), (2, 2)):
            assert char_ngrams(text, lo, hi) == [
                run[i:i + n] for run in normalise(text).split() for n in range(lo, hi + 1)
                for i in range(len(run) - n + 1)]


def test_unit_confidence_sums_the_subcategories_sent_the_same_way() -> None:
    table = load_routing_table(2)
    n = len(table.rules)
    for sub, top in table.rules.items():
        class Suggestion:
            subcategory = sub
            confidence = 0.3
            distribution = tuple((s, (i + 1) / (n * n)) for i, s in enumerate(table.rules))

        want = min(1.0, sum(p for s, p in Suggestion.distribution if table.rules.get(s) == top))
        assert unit_confidence(Suggestion(), table) == want
