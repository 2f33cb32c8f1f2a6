"""Surge alerts: hopping-window counts per county x subcategory against a baseline (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from minsheng.v1 import analytics_events_pb2

from backbone import events
from services.analytics.domain.surge_tickets import Count, Follow, follow, step
from services.analytics.domain.surges import SurgeRule, baseline_of, new_state, observe
from services.analytics.entrypoints.surges import alert_envelope

RULE = SurgeRule(window=timedelta(minutes=30), hop=timedelta(minutes=5), baseline_days=14,
                 min_count=4, ratio=6.0)
T0 = datetime(2025, 3, 20, 7, 0, tzinfo=UTC)


def feed(state, moments, county="yingzhou", sub="pipe-burst", prefix="FY"):
    return [a for i, at in enumerate(moments)
            if (a := observe(RULE, state, county=county, subcategory=sub, at=at,
                             ticket=f"{prefix}{i}"))]


def test_a_burst_alerts_once_when_the_window_reaches_the_threshold():
    state = new_state()
    alerts = feed(state, [T0 + timedelta(minutes=3 * i) for i in range(10)])
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.count == 4 and alert.detected_at == T0 + timedelta(minutes=9)
    assert alert.window_end - alert.window_start == timedelta(minutes=30)
    assert alert.window_start <= T0 and alert.tickets == ("FY0", "FY1", "FY2", "FY3")
    assert alert.subject == f"surge:yingzhou:pipe-burst:{alert.window_start:%Y%m%dT%H%M}"


def test_a_ticket_counted_late_completes_the_window_after_its_own_time():
    # three tickets at 07:25-07:27 are counted first, the fourth (07:06) arrives late (another
    # partition, a later assignment): 07:00-07:30 holds all four, although the window that
    # ends with 07:06's hop (06:40-07:10) holds it alone
    state = new_state()
    early = [T0 + timedelta(minutes=25 + i) for i in range(3)]
    assert feed(state, early, prefix="E") == []
    late = observe(RULE, state, county="yingzhou", subcategory="pipe-burst",
                   at=T0 + timedelta(minutes=6), ticket="L")
    assert late is not None and late.count == 4
    assert late.window_start == T0
    assert sorted(late.tickets) == ["E0", "E1", "E2", "L"]
    # the burst goes on: a fifth ticket in the same minutes starts no second alert
    assert observe(RULE, state, county="yingzhou", subcategory="pipe-burst",
                   at=T0 + timedelta(minutes=28), ticket="F") is None


def test_counted_in_order_or_late_a_burst_alerts_once():
    moments = [T0 + timedelta(minutes=m) for m in (2, 9, 14, 21, 26, 33)]
    in_order = feed(new_state(), moments)
    shuffled = [moments[i] for i in (4, 1, 5, 0, 3, 2)]
    late = feed(new_state(), shuffled)
    assert len(in_order) == 1 and len(late) == 1


def test_scattered_tickets_never_alert():
    state = new_state()
    assert feed(state, [T0 + timedelta(hours=2 * i) for i in range(50)]) == []


def test_a_second_burst_after_a_quiet_window_alerts_again():
    state = new_state()
    first = [T0 + timedelta(minutes=i) for i in range(5)]
    second = [T0 + timedelta(hours=5, minutes=i) for i in range(5)]
    assert len(feed(state, first, prefix="A")) == 1
    assert len(feed(state, second, prefix="B")) == 1


def test_a_redelivered_ticket_is_counted_once():
    state = new_state()
    for _ in range(6):
        assert observe(RULE, state, county="c", subcategory="s", at=T0, ticket="same") is None


def test_the_baseline_raises_the_threshold_where_many_calls_are_usual():
    state = new_state()
    # 10 days with 300 tickets a day of this key: ~6 per 30-minute window
    for day in range(10):
        for i in range(300):
            at = T0.replace(hour=0) - timedelta(days=day + 1) + timedelta(seconds=288 * i)
            observe(RULE, state, county="c", subcategory="s", at=at, ticket=f"d{day}-{i}")
    base = baseline_of(RULE, state, int(T0.timestamp()) // 86400)
    assert base == pytest.approx(300 * 10 / (14 * 48))
    assert RULE.threshold(base) == 27
    assert feed(state, [T0 + timedelta(minutes=i) for i in range(20)], "c", "s") == []


def test_state_stays_bounded():
    state = new_state()
    feed(state, [T0 + timedelta(minutes=7 * i) for i in range(3_000)])
    assert len(state["hops"]) <= 2 * RULE.hops_per_window + 1
    assert len(state["days"]) <= RULE.baseline_days + 1


def test_rules_that_make_no_sense_are_refused():
    with pytest.raises(ValueError):
        SurgeRule(window=timedelta(minutes=30), hop=timedelta(minutes=7))
    with pytest.raises(ValueError):
        SurgeRule(min_count=1)


def payloads():
    place = SimpleNamespace(county="yingzhou")
    return (SimpleNamespace(place=place),
            SimpleNamespace(county="yingzhou", subcategory="pipe-burst", category="water"))


def test_a_ticket_counts_once_at_acceptance_under_its_classification():
    submitted, assigned = payloads()
    row: dict = {}
    assert step(row, "TicketSubmitted", submitted, code="FY1", at=T0) == []
    assert step(row, "TicketAccepted", None, code="FY1", at=T0 + timedelta(minutes=1)) == []
    out = step(row, "TicketAssigned", assigned, code="FY1", at=T0 + timedelta(minutes=3))
    assert out == [Count("yingzhou", "pipe-burst", T0 + timedelta(minutes=1), "FY1")]
    assert step(row, "TicketAssigned", assigned, code="FY1", at=T0 + timedelta(hours=1)) == []


def test_a_merged_duplicate_counts_under_its_primary_subcategory_even_before_it_is_known():
    submitted, assigned = payloads()
    dup: dict = {}
    step(dup, "TicketSubmitted", submitted, code="FY2", at=T0)
    step(dup, "TicketAccepted", None, code="FY2", at=T0)
    merged = SimpleNamespace(primary_ticket_id="primary-id")
    [wanted] = step(dup, "TicketMergedIntoCase", merged, code="FY2", at=T0)
    assert isinstance(wanted, Follow) and wanted.primary_ticket_id == "primary-id"
    assert Follow.from_dict(wanted.as_dict()) == wanted
    primary: dict = {}
    assert follow(primary, wanted) == []  # the primary is not classified yet
    assert follow(primary, wanted) == []  # asked twice: still one pending
    step(primary, "TicketAccepted", None, code="FY1", at=T0)
    out = step(primary, "TicketAssigned", assigned, code="FY1", at=T0 + timedelta(minutes=2))
    assert [c.code for c in out] == ["FY1", "FY2"]
    assert follow(primary, wanted) == [Count("yingzhou", "pipe-burst", T0, "FY2")]


def test_the_alert_event_round_trips_and_has_a_deterministic_id():
    state = new_state()
    [alert] = feed(state, [T0 + timedelta(minutes=i) for i in range(4)])
    env = alert_envelope(alert)
    decoded = events.decode(env.SerializeToString())
    assert decoded.event_type == "SurgeDetected" and env.producer == "analytics"
    assert isinstance(decoded.payload, analytics_events_pb2.SurgeDetected)
    assert list(decoded.payload.ticket_codes) == list(alert.tickets)
    assert alert_envelope(alert).event_id == env.event_id


def test_a_busy_key_needs_more_than_chance_gives_it():
    from services.analytics.domain.surges import poisson_quantile
    assert [poisson_quantile(rate, 1e-6) for rate in (0, 0.01, 0.1, 1, 5)] == [1, 3, 5, 10, 20]
    quiet, busy = RULE.threshold(0.01), RULE.threshold(0.5)
    assert quiet == RULE.min_count and busy == 10  # 2 x 0.5 a window in office hours
