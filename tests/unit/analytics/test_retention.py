"""The live total keeps the buckets of recent periods only (fold.Retention); an older period
is folded on demand from the facts table, exactly: every period's figures equal those of a
model that keeps everything."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from services.analytics.domain.facts import Fact
from services.analytics.domain.figures import table
from services.analytics.domain.fold import LiveKpis, Retention
from services.analytics.domain.kpis import COUNTERS, DIMENSIONS
from services.analytics.domain.periods import first_kept, period_bounds
from tests.unit.analytics.simulation import SH
from tests.unit.analytics.test_fold import Table, month_facts

PLACING = ("submitted", "assigned", "transferred", "coordinated", "closed")


def period_source(rows: list[Fact], calls: list[tuple[datetime, datetime]]):
    """fact_store.period_tickets over the rows inserted so far: every fact of each ticket with
    a 'submitted', assigning or 'closed' fact in [start, end)."""

    def period_facts(start: datetime, end: datetime):
        calls.append((start, end))
        tickets: dict[str, list[Fact]] = {}
        for f in rows:
            tickets.setdefault(f.ticket_id, []).append(f)
        for facts in tickets.values():
            if any(f.kind in PLACING and start <= f.at < end for f in facts):
                yield facts

    return period_facts


def periods_of_model(kpis: LiveKpis) -> set[tuple[str, str]]:
    return {tuple(k.rsplit("|", 2)[1:]) for k in kpis.model.buckets}


def feed(live: LiveKpis, table_: Table, facts: list[Fact], seed: int) -> None:
    rng, i = random.Random(seed), 0
    while i < len(facts):
        n = rng.randint(1, 40)
        table_.insert(facts[i:i + n])
        i += n
        copies = rng.sample(table_.rows, min(len(table_.rows), rng.randint(0, 3)))
        got, earlier = table_.read(live.away, copies)
        live.apply(got, earlier)


def everything(facts: list[Fact]) -> LiveKpis:
    by_ticket: dict[str, dict[str, Fact]] = {}
    for f in facts:
        by_ticket.setdefault(f.ticket_id, {})[f.event_id] = f
    return LiveKpis.of_tickets(by_ticket)


def assert_same_figures(live: LiveKpis, expected: LiveKpis) -> int:
    """Every period and dimension: the same figures (old periods folded on demand)."""
    compared = 0
    for kind, period in sorted(periods_of_model(expected)):
        for dimension in DIMENSIONS:
            want = table(expected.model, dimension, kind, period)
            assert table(live.model_for(kind, period, dimension), dimension, kind,
                         period) == want, (kind, period, dimension)
            assert table(live.model_for(kind, period), dimension, kind, period) == want
            compared += len(want)
    return compared


@pytest.mark.parametrize("tickets_kept", [None, 3])
def test_a_history_applied_with_few_periods_kept_gives_every_figure_exactly(tickets_kept):
    facts = month_facts()
    expected = everything(facts)
    rng = random.Random(7)
    late = [f for f in facts if rng.random() < 0.05]  # they arrive after everything else
    ids = {f.event_id for f in late}
    arriving = sorted((f for f in facts if f.event_id not in ids), key=lambda f: f.at) + late
    table_, calls = Table(), []
    live = LiveKpis(tickets_kept=tickets_kept,
                    retention=Retention(days=3, weeks=2, months=1, cached_buckets=64),
                    period_facts=period_source(table_.rows, calls))
    feed(live, table_, arriving, seed=tickets_kept or 0)
    latest = max(f.at for f in facts)
    assert live.latest == latest
    first = first_kept(latest.astimezone(SH).date(), 3, 2, 1)
    assert live.first_kept == first
    kept = periods_of_model(live)
    # nothing older than the periods kept, not even from the late facts' pours
    assert all(period >= first[kind] for kind, period in kept)
    assert len([p for k, p in kept if k == "day"]) <= 3
    assert {(k, p) for k, p in periods_of_model(expected) if p >= first[k]} == kept
    for key, bucket in live.model.buckets.items():  # the periods kept: the very buckets
        assert bucket == expected.model.buckets[key], key
    assert assert_same_figures(live, expected) > 500
    assert calls  # old periods were folded from the "table"
    # all time: the months out of memory still add up
    months = {}
    for key, bucket in expected.model.buckets.items():
        dim, value, kind, _ = key.split("|")
        if kind == "month":
            row = months.setdefault((dim, value), dict.fromkeys(COUNTERS, 0))
            for name in COUNTERS:
                row[name] += bucket[name]
    for dim in DIMENSIONS:
        assert live.month_totals(dim) == {v: c for (d, v), c in months.items() if d == dim}
    assert live.months() == ["2024-02", "2024-03", "2024-04"] == sorted(
        p for k, p in periods_of_model(expected) if k == "month")


def test_an_old_period_read_again_comes_from_the_cache_until_a_late_fact_touches_it():
    facts = sorted(month_facts(), key=lambda f: f.at)
    feb = [f for f in facts if f.at < datetime(2024, 3, 1, tzinfo=SH)]
    submitted = next(f for f in feb if f.kind == "submitted")
    ticket = [f for f in facts if f.ticket_id == submitted.ticket_id]
    held = ticket[-1]  # the ticket's last fact comes late
    table_, calls = Table(), []
    live = LiveKpis(tickets_kept=3, retention=Retention(days=5, weeks=1, months=1),
                    period_facts=period_source(table_.rows, calls))
    feed(live, table_, [f for f in facts if f is not held], seed=1)
    day = submitted.at.astimezone(SH).date().isoformat()
    assert not live.in_memory("day", day) and not live.in_memory("month", "2024-02")
    first = live.model_for("day", day)
    assert len(calls) == 1
    city = live.model_for("day", day, "all", "全市").bucket("all", "全市", "day", day)
    assert city == first.bucket("all", "全市", "day", day) and city["received"]
    assert len(calls) == 1  # from the cache (the whole day answers one value too)
    before = dict(live.model.buckets)
    feed(live, table_, [held], seed=2)
    assert live.model.buckets.keys() == before.keys()  # the late pour made no old bucket
    again = live.model_for("day", day)
    assert len(calls) == 2  # the late fact made the cached day stale
    expected = everything(facts)
    assert again.buckets == {k: b for k, b in expected.model.buckets.items()
                             if k.endswith(f"|day|{day}")}
    assert again.buckets != first.buckets


def test_a_trend_over_old_and_kept_days_folds_the_old_ones_once():
    facts = sorted(month_facts(), key=lambda f: f.at)
    table_, calls = Table(), []
    live = LiveKpis(retention=Retention(days=10, weeks=1, months=1),
                    period_facts=period_source(table_.rows, calls))
    feed(live, table_, facts, seed=3)
    expected = everything(facts)
    days = [(date(2024, 3, 1) + timedelta(days=i)).isoformat() for i in range(40)]
    models = live.models_for("day", days, "county")
    assert len(calls) == 1
    start, end = calls[0]
    assert start == datetime(2024, 3, 1, tzinfo=SH) and end < datetime(2024, 4, 10, tzinfo=SH)
    for day in days:
        assert table(models[day], "county", "day", day) == table(
            expected.model, "county", "day", day)


def test_without_retention_or_with_zeros_everything_stays_in_memory():
    facts = sorted(month_facts(), key=lambda f: f.at)
    expected = everything(facts)
    for retention in (None, Retention(days=0, weeks=0, months=0)):
        live = LiveKpis(retention=retention)
        feed(live, Table(), facts, seed=4)
        assert live.model.buckets == expected.model.buckets
    kept = LiveKpis.of_tickets({}, Retention())
    assert kept.first_kept is None and kept.months() == []


def test_the_periods_kept_and_their_bounds():
    assert first_kept(date(2024, 3, 31), 62, 15, 25) == {
        "day": "2024-01-30", "week": "2023-W51", "month": "2022-03"}
    assert first_kept(date(2021, 1, 3), 1, 1, 1) == {  # ISO week 2020-W53
        "day": "2021-01-03", "week": "2020-W53", "month": "2021-01"}
    assert "2020-W53" < "2021-W01" and "2024-12" < "2025-01"
    assert period_bounds("day", "2024-03-05") == (datetime(2024, 3, 5, tzinfo=SH),
                                                  datetime(2024, 3, 6, tzinfo=SH))
    assert period_bounds("week", "2020-W53") == (datetime(2020, 12, 28, tzinfo=SH),
                                                 datetime(2021, 1, 4, tzinfo=SH))
    assert period_bounds("month", "2024-12") == (datetime(2024, 12, 1, tzinfo=SH),
                                                 datetime(2025, 1, 1, tzinfo=SH))
