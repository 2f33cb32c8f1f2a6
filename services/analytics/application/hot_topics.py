"""Hot-topic queries over the tickets' masked texts (domain: hot_topics.py), read from the
facts table for the window asked (the live state keeps the facts of recent tickets only)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from backbone.http import ClientError, NotFoundError
from services.analytics.adapters.registry import Names
from services.analytics.domain.facts import Fact
from services.analytics.domain.fold import ticket_texts
from services.analytics.domain.hot_topics import (
    Theme,
    TicketText,
    classify_aspect,
    hot_themes,
    hot_themes_by,
    recurring_problems,
    rising_terms,
    special_report,
)
from services.analytics.domain.text import Segmenter, default_segmenter

MAX_WINDOW = timedelta(days=92)


class WindowError(ClientError):
    code = "bad_window"


def check_window(start: datetime, end: datetime, what: str = "a hot-topic window") -> None:
    """A window read from the facts table: aware times, in order, and at most MAX_WINDOW
    (each request reads its tickets' facts into memory)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise WindowError("from and to must carry a time zone (e.g. 2024-03-01T00:00:00+08:00)")
    if end <= start:
        raise WindowError("to must be after from")
    if end - start > MAX_WINDOW:
        raise WindowError(f"{what} is at most {MAX_WINDOW.days} days")
    try:  # the three earlier windows a hot-topic overview compares with, in the calendar
        (start - 3 * (end - start)).astimezone(UTC), end.astimezone(UTC)
    except OverflowError:
        raise WindowError(f"{what} lies too near the calendar's ends (years 1 to 9999)"
                          ) from None


def _theme(t: Theme) -> dict[str, Any]:
    return {"label": t.label, "terms": list(t.terms), "size": t.size,
            "by_category": t.by_category, "by_county": t.by_county, "by_place": t.by_place,
            "examples": list(t.ticket_ids[:3])}


class HotTopics:
    def __init__(self, window: Callable[[datetime, datetime], Iterable[Iterable[Fact]]],
                 names: Names, segmenter: Segmenter | None = None):
        """`window(start, end)`: the facts of the tickets submitted in [start, end)
        (fact_store.submitted_in); `segmenter`: one for every query (text.hot_topic_segmenter
        with the city's place names; jieba's dictionary is built once)."""
        self.window = window
        self.names = names
        self.segmenter = segmenter or default_segmenter()

    def docs(self, start: datetime, end: datetime) -> list[TicketText]:
        return [dataclasses.replace(d, category=self.names.category(d.category),
                                    county=self.names.county(d.county))
                for d in ticket_texts(self.window(start, end), start, end)]

    def overview(self, start: datetime, end: datetime, *, by: str | None = None,
                 min_count: int = 10) -> dict[str, Any]:
        """Themes, aspects, recurring problems at one place and rising terms in [start, end)."""
        check_window(start, end)
        span = end - start
        docs = self.docs(start - 3 * span, end)
        now = [d for d in docs if d.at >= start]
        before = [[d for d in docs if start - k * span <= d.at < start - (k - 1) * span]
                  for k in (3, 2, 1)]
        seg = self.segmenter
        aspects: Counter[tuple[str, str]] = Counter()
        for d in now:
            a = classify_aspect(d, segmenter=seg)
            if a is not None:
                aspects[(a.theme, a.aspect)] += 1
        try:
            grouped = ({g: [_theme(t) for t in ts]
                        for g, ts in hot_themes_by(now, by, segmenter=seg).items()}
                       if by else None)
        except ValueError as exc:
            raise ClientError(str(exc)) from exc
        return {
            "window": {"from": start.isoformat(), "to": end.isoformat()},
            "tickets": len(now),
            "themes": [_theme(t) for t in hot_themes(now, segmenter=seg)],
            "themes_by": grouped,
            "aspects": [{"theme": t, "aspect": a, "count": n}
                        for (t, a), n in sorted(aspects.items(), key=lambda kv: -kv[1])],
            "recurring": [{"place": p.place, "theme": p.theme, "aspect": p.aspect,
                           "count": p.count}
                          for p in recurring_problems(now, start, end, min_count=min_count,
                                                      segmenter=seg)],
            "rising": rising_terms(now, before, segmenter=seg)[:20],
        }

    def special_report(self, *, place: str, aspect: str, start: datetime,
                       end: datetime) -> dict[str, Any]:
        """热点专报 of one (place, aspect) in [start, end), with 3 earlier windows to compare."""
        check_window(start, end)
        docs = self.docs(start - 3 * (end - start), end)
        found = [p for p in recurring_problems(docs, start, end, min_count=1,
                                               segmenter=self.segmenter)
                 if p.place == place and p.aspect == aspect]
        if not found:
            raise NotFoundError(f"no tickets about {aspect} at {place} in that window")
        report = special_report(found[0], docs, segmenter=self.segmenter)
        report["units"] = {self.names.unit(u): n for u, n in report["units"].items()}
        return report
