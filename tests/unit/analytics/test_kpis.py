from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics.domain.figures import figures, histogram_median
from services.analytics.domain.kpis import CITY, KpiModel, KpiStateError
from services.analytics.domain.periods import NaiveTimeError, PeriodKind, period_of
from tests.unit.analytics.simulation import SH, feed, simulate


def month_of(at: datetime) -> str:
    return at.astimezone(SH).strftime("%Y-%m")


def test_three_tickets_by_hand() -> None:
    """The worked example of docs/kpis.md."""
    m = KpiModel()
    t0 = datetime(2024, 3, 4, 9, 0, tzinfo=SH)
    for i, county in enumerate(["颍州区", "颍州区", "颍东区"]):
        m.received(f"A{i}", t0, channel="hotline", county=county, category="物业管理")
        m.accepted(f"A{i}", t0)
        m.assigned(f"A{i}", t0, unit="颍州区" if i < 2 else "颍东区")
    m.signed_for("A0", t0, unit="颍州区", elapsed=timedelta(minutes=30))
    m.signed_for("A1", t0, unit="颍州区", elapsed=timedelta(minutes=90))
    m.replied("A0", t0, unit="颍州区", on_time=True, handling_time=timedelta(hours=20))
    m.replied("A1", t0, unit="颍州区", on_time=False, handling_time=timedelta(days=6))
    m.closed("A0", t0, unit="颍州区")
    m.closed("A1", t0, unit="颍州区")
    m.rated("A0", t0, unit="颍州区", rating="satisfied")
    m.rated("A1", t0, unit="颍州区", rating="dissatisfied")
    m.callback("A1", t0, unit="颍州区", outcome="basically_satisfied")
    m.reopened("A1", t0, unit="颍州区")
    m.bounced_back("A2", t0, unit="颍东区")

    city = figures(m, "all", CITY, "month", "2024-03")
    assert (city.received, city.accepted, city.closed) == (3, 3, 1)
    assert city.completion_rate == pytest.approx(1 / 3)
    assert city.on_time_rate == pytest.approx(1 / 2)
    # A0: 100; A1: 0.6*80 + 0.4*0 = 48 → (100 + 48) / 2 = 74%
    assert city.satisfaction == pytest.approx(0.74)
    assert city.reopen_rate == pytest.approx(1 / 2)
    assert city.bounce_back_rate == pytest.approx(1 / 3)
    assert city.sign_for_median_minutes == 60
    assert city.handling_mean_minutes == pytest.approx((20 * 60 + 6 * 24 * 60) / 2)
    east = figures(m, "unit", "颍东区", "month", "2024-03")
    assert (east.received, east.handled, east.completion_rate) == (1, 0, None)
    assert figures(m, "county", "颍州区", "week", "2024-W10").received == 2


def test_periods_follow_shanghai_time() -> None:
    late = datetime(2024, 3, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 April in Fuyang
    assert period_of(late, PeriodKind.MONTH) == "2024-04"
    assert period_of(late, PeriodKind.DAY) == "2024-04-01"
    assert period_of(datetime(2024, 12, 30, 12, tzinfo=SH), PeriodKind.WEEK) == "2025-W01"
    with pytest.raises(NaiveTimeError, match="no time zone"):
        period_of(datetime(2024, 3, 1), PeriodKind.DAY)


def test_city_kpis_match_hand_count(march) -> None:
    tickets, facts = march
    m = feed(KpiModel(), facts)
    ours = [t for t in tickets if month_of(t.at) == "2024-03"]
    finals = [t.assignments[-1] for t in ours if t.assignments]
    every = [a for t in ours for a in t.assignments]
    f = figures(m, "all", CITY, "month", "2024-03")
    assert f.received == len(ours)
    assert f.accepted == sum(t.accepted for t in ours)
    assert f.closed == sum(a.finally_closed for a in finals)
    assert f.completion_rate == pytest.approx(f.closed / f.accepted)
    replies = [a.reply for a in finals if a.reply]
    assert f.on_time_rate == pytest.approx(sum(r[0] for r in replies) / len(replies))
    verdicts = [v for a in finals if (v := a.verdict()) is not None]
    assert f.satisfaction == pytest.approx(sum(verdicts) / len(verdicts) / 100)
    ever = [a for a in finals if a.closed_at]
    assert f.reopen_rate == pytest.approx(sum(a.reopened for a in ever) / len(ever))
    assert f.bounce_back_rate == pytest.approx(sum(a.bounced for a in every) / len(every))
    signs = [a.sign_minutes for a in finals]
    assert f.sign_for_median_minutes == statistics.median(signs)
    assert f.sign_for_mean_minutes == pytest.approx(statistics.mean(signs))
    assert f.handling_median_minutes == statistics.median(r[1] for r in replies)


def test_unit_and_dimension_kpis_match_hand_count(march) -> None:
    tickets, facts = march
    m = feed(KpiModel(), facts)
    for unit in ["市房产局", "颍上县"]:
        pairs = [a for t in tickets for a in t.assignments
                 if a.unit == unit and month_of(a.at) == "2024-03"]
        f = figures(m, "unit", unit, "month", "2024-03")
        kept = [a for a in pairs if not a.bounced]
        assert f.received == len(pairs)
        assert f.handled == len(kept)
        assert f.closed == sum(a.finally_closed for a in kept)
        verdicts = [v for a in kept if (v := a.verdict()) is not None]
        assert f.satisfaction == pytest.approx(sum(verdicts) / len(verdicts) / 100)
    for dim, value in [("county", "界首市"), ("category", "物业管理"), ("channel", "media")]:
        ours = [t for t in tickets if getattr(t, dim) == value and month_of(t.at) == "2024-03"]
        assert figures(m, dim, value, "month", "2024-03").received == len(ours)
    day = [t for t in tickets if t.at.astimezone(SH).date().isoformat() == "2024-03-15"]
    assert figures(m, "all", CITY, "day", "2024-03-15").received == len(day)


def test_state_round_trips_through_json(march) -> None:
    _, facts = march
    m = feed(KpiModel(), facts[:3000])
    state = json.loads(json.dumps(m.to_dict(), ensure_ascii=False))
    again = KpiModel.from_dict(state)
    feed(again, facts[3000:])
    assert again.to_dict() == feed(m, facts[3000:]).to_dict()


def test_merge_of_partitions_equals_one_model(march) -> None:
    _, facts = march
    whole = feed(KpiModel(), facts)
    parts = [KpiModel(), KpiModel(), KpiModel()]
    for fact in facts:
        feed(parts[hash(fact[1]) % 3], [fact])
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.to_dict() == whole.to_dict()
    with pytest.raises(KpiStateError, match="appear in both"):
        whole.merge(parts[0])


def test_unknown_tickets_are_counted_not_fatal() -> None:
    m = KpiModel()
    m.closed("nobody", datetime(2024, 3, 1, tzinfo=SH), unit="市城管局")
    assert m.unmatched_facts == 1 and m.buckets == {}
    with pytest.raises(KpiStateError, match="version"):
        KpiModel.from_dict({"version": 0})


def test_redelivered_received_counts_once() -> None:
    m = KpiModel()
    at = datetime(2024, 3, 1, tzinfo=SH)
    for _ in range(2):
        m.received("X", at, channel="hotline", county="颍州区", category="教育")
        m.accepted("X", at)
    assert figures(m, "all", CITY, "day", "2024-03-01").accepted == 1


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_same_facts_same_order_identical_state(seed: int) -> None:
    _, facts = simulate(seed, 40, datetime(2024, 3, 1, tzinfo=SH))
    assert feed(KpiModel(), facts).to_dict() == feed(KpiModel(), list(facts)).to_dict()


@given(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=60))
def test_histogram_median_is_the_median(values: list[int]) -> None:
    hist: dict[str, int] = {}
    for v in values:
        hist[str(v)] = hist.get(str(v), 0) + 1
    assert histogram_median(hist) == statistics.median(values)


def test_interleaving_across_tickets_does_not_change_numbers(march) -> None:
    _, facts = march
    by_ticket: dict[str, list[tuple]] = {}
    for f in facts:
        by_ticket.setdefault(f[1], []).append(f)
    order = list(by_ticket)
    random.Random(7).shuffle(order)
    regrouped = [f for t in order for f in by_ticket[t]]
    assert feed(KpiModel(), regrouped).to_dict() == feed(KpiModel(), facts).to_dict()
