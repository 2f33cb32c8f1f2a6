"""Hot topics: frequent and rising themes, their aspects, and recurring problems at one place
(解决一件事 → 解决一类事), plus the hot-topic special report (热点专报).

Texts arrive already masked by intake; nothing here sees personal data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.analytics.domain.periods import PeriodKind, local_date, period_of
from services.analytics.domain.text import (
    Segmenter,
    default_segmenter,
    idf_table,
    load_aspect_lexicon,
    single_pass_clusters,
    tfidf,
)

# Estates and roads as people write them: "锦绣华庭小区", "人民路", "清河花园". A name ends
# where an administrative name (county, town, sub-district: 县, 区 but not 小区, 市 but not
# 市场, 镇, 乡, 街道, 社区) or a lead-in word (在, 的, 我, 这个 ...) ends: "太和县城关镇幸福家园小区",
# "我住在太和县幸福家园小区" and "幸福家园小区" are one place, not three (before, the name ran
# back over whatever preceded it, up to 8 characters, and a sub-district "东城街道" was taken
# for a street "东城街"). An estate is named before the road it is on ("和平路幸福家园小区").
_BREAK = re.compile(r"[省县镇乡在的我]|市(?![场民府政])|(?<!小)区|街道|社区|这个|那个|一个")
_ESTATE = re.compile(
    r"((?:(?![路街])[\u4e00-\u9fa5]){2,8}?(?:小区|(?:花园|家园|华庭|公寓|新村)(?:小区)?))")
_ROAD = re.compile(r"([\u4e00-\u9fa5]{2,8}?(?:大道|路|街))")
_NO_COUNTY = frozenset({"", "未知"})  # analytics' UNKNOWN_COUNTY, as the docs carry it
OTHER_ASPECT = "其他"


def place_in(text: str | None) -> str | None:
    """The estate or road a text names ("锦绣华庭小区", "人民路"), or None; an estate first."""
    parts = _BREAK.split(text or "")
    for pattern in (_ESTATE, _ROAD):
        for part in parts:
            found = pattern.search(part)
            if found:
                return found.group(1)
    return None


@dataclass(frozen=True)
class TicketText:
    """What analytics knows of one ticket's text: masked text, time, and where it belongs."""

    ticket_id: str
    text: str
    at: datetime
    category: str
    county: str
    place: str | None = None  # estate or road from intake's masked location, if any
    units: tuple[str, ...] = ()

    def where(self) -> str | None:
        """The place within its county ("太和县幸福家园小区"): the same road or estate name
        in two counties is two places (人民路 runs through every county seat)."""
        place = self.place or place_in(self.text)
        if place is None or self.county in _NO_COUNTY or place.startswith(self.county):
            return place
        return self.county + place


@dataclass(frozen=True)
class Theme:
    label: str  # the top terms of the centroid, joined by '/'
    terms: tuple[str, ...]
    ticket_ids: tuple[str, ...]
    by_category: dict[str, int]
    by_county: dict[str, int]
    by_place: dict[str, int]

    @property
    def size(self) -> int:
        return len(self.ticket_ids)


@dataclass(frozen=True)
class Aspect:
    theme: str
    aspect: str


@dataclass(frozen=True)
class RecurringProblem:
    """One class of problem: the same aspect at the same place, again and again."""

    place: str
    theme: str
    aspect: str
    count: int
    ticket_ids: tuple[str, ...]
    start: datetime
    end: datetime


def _ordered(docs: Iterable[TicketText]) -> list[TicketText]:
    return sorted(docs, key=lambda d: (d.at, d.ticket_id))


# threshold 0.2: measured on the simulated month in tests: at 0.3 a 40-ticket fee
# complaint spot fell apart (largest piece 10), at 0.2 it stayed whole and apart from the rest.
def hot_themes(docs: Iterable[TicketText], *, threshold: float = 0.2, min_size: int = 5,
               segmenter: Segmenter | None = None) -> list[Theme]:
    """High-frequency themes: clusters of at least `min_size` tickets, largest first."""
    seg = segmenter or default_segmenter()
    ordered = _ordered(docs)
    term_lists = [seg.terms(d.text) for d in ordered]
    idf = idf_table(term_lists)
    clusters = single_pass_clusters([tfidf(t, idf) for t in term_lists], threshold)
    themes = []
    for cluster in clusters:
        if len(cluster.members) < min_size:
            continue
        members = [ordered[i] for i in cluster.members]
        terms = tuple(cluster.top_terms(5))
        themes.append(Theme(
            label="/".join(terms[:3]), terms=terms,
            ticket_ids=tuple(d.ticket_id for d in members),
            by_category=_count(d.category for d in members),
            by_county=_count(d.county for d in members),
            by_place=_count(d.where() or "未知" for d in members),
        ))
    return sorted(themes, key=lambda t: (-t.size, t.label))


def hot_themes_by(docs: Iterable[TicketText], by: str, **options: Any) -> dict[str, list[Theme]]:
    """Themes within each group: by 'category', 'county', 'place', 'day', 'week' or 'month'."""
    key = _grouping(by)
    groups: dict[str, list[TicketText]] = {}
    for doc in docs:
        groups.setdefault(key(doc), []).append(doc)
    return {g: hot_themes(groups[g], **options) for g in sorted(groups)}


def _grouping(by: str) -> Callable[[TicketText], str]:
    if by in ("category", "county"):
        return lambda d: getattr(d, by)
    if by == "place":
        return lambda d: d.where() or "未知"
    if by in {k.value for k in PeriodKind}:
        return lambda d: period_of(d.at, PeriodKind(by))
    raise ValueError(f"cannot group hot topics by {by!r}; use category, county, place, "
                     "day, week or month")


def classify_aspect(doc: TicketText, lexicon: Sequence[dict[str, Any]] | None = None,
                    segmenter: Segmenter | None = None) -> Aspect | None:
    """The theme and aspect of a text by keyword lexicon, or None when no theme applies.

    The aspect is the one with most keyword hits among the text's words; ties go to the
    aspect listed first in data/aspects.json; no hit at all gives '其他'.
    """
    themes = lexicon if lexicon is not None else _lexicon()
    words = (segmenter or default_segmenter()).terms(doc.text)
    bag = Counter(words)
    for theme in themes:
        if doc.category not in theme["categories"] and not any(
                k in bag or k in doc.text for k in theme["theme_keywords"]):
            continue
        best, best_hits = OTHER_ASPECT, 0
        for aspect in theme["aspects"]:
            hits = sum(bag[k] for k in aspect["keywords"])
            if hits > best_hits:
                best, best_hits = aspect["aspect"], hits
        return Aspect(theme["theme"], best)
    return None


def recurring_problems(docs: Iterable[TicketText], start: datetime, end: datetime, *,
                       min_count: int = 10,
                       segmenter: Segmenter | None = None) -> list[RecurringProblem]:
    """(place, aspect) pairs with at least `min_count` tickets in [start, end), most first.

    '其他' is never flagged: a pile of unclassified texts at one estate is not one problem.
    """
    groups: dict[tuple[str, str, str], list[TicketText]] = {}
    for doc in _ordered(docs):
        if not start <= doc.at < end:
            continue
        place, aspect = doc.where(), classify_aspect(doc, segmenter=segmenter)
        if place is None or aspect is None or aspect.aspect == OTHER_ASPECT:
            continue
        groups.setdefault((place, aspect.theme, aspect.aspect), []).append(doc)
    found = [RecurringProblem(place, theme, aspect, len(items),
                              tuple(d.ticket_id for d in items), start, end)
             for (place, theme, aspect), items in groups.items() if len(items) >= min_count]
    return sorted(found, key=lambda p: (-p.count, p.place, p.aspect))


def rising_terms(current: Iterable[TicketText], previous: Sequence[Iterable[TicketText]], *,
                 min_count: int = 10, ratio: float = 2.0,
                 segmenter: Segmenter | None = None) -> list[dict[str, Any]]:
    """Terms whose document count in the current window is at least `min_count` and at least
    `ratio` times (count + 1 smoothing) their mean over the previous windows."""
    seg = segmenter or default_segmenter()
    now = _doc_freq(current, seg)
    before = [_doc_freq(window, seg) for window in previous]
    rising = []
    for term, count in now.items():
        baseline = sum(w.get(term, 0) for w in before) / len(before) if before else 0.0
        growth = (count + 1) / (baseline + 1)
        if count >= min_count and growth >= ratio:
            rising.append({"term": term, "count": count, "baseline": baseline,
                           "growth": round(growth, 3)})
    return sorted(rising, key=lambda r: (-r["growth"], -r["count"], r["term"]))


def _doc_freq(docs: Iterable[TicketText], seg: Segmenter) -> Counter[str]:
    return Counter(t for d in docs for t in set(seg.terms(d.text)))


def special_report(problem: RecurringProblem, docs: Iterable[TicketText], *,
                   previous_windows: int = 3, examples: int = 3,
                   segmenter: Segmenter | None = None) -> dict[str, Any]:
    """热点专报 for one recurring problem: counts, daily trend, earlier windows of the same
    length for comparison, masked examples, and the units and counties involved."""
    all_docs = _ordered(docs)
    chosen = set(problem.ticket_ids)
    members = [d for d in all_docs if d.ticket_id in chosen]
    span = problem.end - problem.start
    history = []
    for k in range(previous_windows, 0, -1):
        lo, hi = problem.start - k * span, problem.end - k * span
        history.append({"start": lo.isoformat(), "end": hi.isoformat(),
                        "count": len(recurring_matches(problem, all_docs, lo, hi,
                                                       segmenter=segmenter))})
    daily = Counter(local_date(d.at).isoformat() for d in members)
    return {
        "title": f"关于{problem.place}{problem.theme}（{problem.aspect}）问题的热点专报",
        "place": problem.place, "theme": problem.theme, "aspect": problem.aspect,
        "window": {"start": problem.start.isoformat(), "end": problem.end.isoformat()},
        "count": problem.count,
        "trend": {"daily": dict(sorted(daily.items())), "previous_windows": history},
        "examples": [{"ticket_id": d.ticket_id, "at": d.at.isoformat(), "text": d.text}
                     for d in members[:examples]],
        "units": _count(u for d in members for u in d.units),
        "counties": _count(d.county for d in members),
        "categories": _count(d.category for d in members),
    }


def recurring_matches(problem: RecurringProblem, docs: Iterable[TicketText],
                      start: datetime, end: datetime, *,
                      segmenter: Segmenter | None = None) -> list[TicketText]:
    """Tickets in [start, end) at the problem's place with the problem's aspect."""
    out = []
    for d in docs:
        if start <= d.at < end and d.where() == problem.place:
            aspect = classify_aspect(d, segmenter=segmenter)
            if aspect is not None and aspect.aspect == problem.aspect:
                out.append(d)
    return out


def weekly_windows(start: datetime, weeks: int) -> list[tuple[datetime, datetime]]:
    return [(start + timedelta(weeks=i), start + timedelta(weeks=i + 1)) for i in range(weeks)]


def _count(values: Iterable[str]) -> dict[str, int]:
    counts = Counter(values)
    return {k: counts[k] for k in sorted(counts, key=lambda k: (-counts[k], k))}


_LEXICON: list[list[dict[str, Any]]] = []


def _lexicon() -> list[dict[str, Any]]:
    if not _LEXICON:  # read on first use, never at import
        _LEXICON.append(load_aspect_lexicon())
    return _LEXICON[0]
