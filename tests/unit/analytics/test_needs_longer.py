"""需较长时间办理: a needs_longer reply is an interim answer; the unit keeps the ticket and its
final reply is the one counted (replied, on time, handling time), both ways of folding."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.analytics.domain import fold
from services.analytics.domain.facts import Fact
from services.analytics.domain.fold import fold_ticket
from services.analytics.domain.kpis import KpiModel
from tests.unit.analytics.simulation import SH

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=SH)


def facts() -> list[Fact]:
    items: list[Fact] = []

    def add(kind: str, minutes: float, **attrs: object) -> None:
        items.append(Fact(f"N-{len(items)}", "N", kind, T0 + timedelta(minutes=minutes),
                          dict(attrs)))

    add("submitted", 0, channel="web")
    add("accepted", 1)
    add("assigned", 2, unit="housing", assignment_no=1)
    add("replied", 60, unit="housing", outcome="needs_longer")
    add("reply_reviewed", 61, unit="housing", accepted=True)
    add("replied", 600, unit="housing", outcome="resolved")
    add("reply_reviewed", 601, unit="housing", accepted=True)
    add("deadline_met", 600, unit="housing", clock_no=1)
    return items


def test_the_final_reply_is_counted_not_the_interim_needs_longer_one():
    by_calls = KpiModel()
    fold._fold_by_calls(sorted(facts(), key=Fact.sort_key), by_calls)
    for model in (fold_ticket(facts()), by_calls):
        b = model.bucket("unit", "housing", "month", "2024-03")
        assert (b["replied"], b["replied_on_time"]) == (1, 1)
        assert b["handling_minutes"] == {"598": 1}
