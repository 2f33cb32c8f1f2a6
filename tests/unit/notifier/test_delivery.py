"""Delivering notices: route by kind, back off, give up into the dead letters (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from minsheng.v1 import feedback_notices_pb2

from backbone import events
from services.notifier.application.deliveries import outcome_envelope, sms_text
from services.notifier.domain.delivery import (
    Outcome,
    RetryPolicy,
    State,
    decide,
    route_of,
)
from services.notifier.entrypoints.loops import notice_row

NOW = datetime(2025, 3, 20, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(first_delay=timedelta(seconds=30), factor=4,
                     max_delay=timedelta(hours=1), max_attempts=6)


def test_routes_follow_the_kind_of_message():
    assert route_of("sms") == "sms"
    assert route_of("subscription_message") == route_of("template_message") == "wechat"
    assert route_of("letter") is None and route_of("open311_status") is None


def test_backoff_grows_and_is_capped():
    delays = [POLICY.delay_after(n) for n in range(1, 7)]
    assert delays[:4] == [timedelta(seconds=s) for s in (30, 120, 480, 1920)]
    assert delays[4] == delays[5] == timedelta(hours=1)


def test_a_failure_is_retried_until_the_last_attempt_then_dead():
    failed = Outcome(False, reason="the SMS gateway answered HTTP 503")
    again = decide(POLICY, failed, 2, NOW)
    assert again.state is State.PENDING and not again.final
    assert again.next_at == NOW + timedelta(seconds=120)
    dead = decide(POLICY, failed, 6, NOW)
    assert dead.state is State.DEAD and dead.final


def test_a_refusal_that_cannot_change_is_dead_at_once():
    erased = Outcome(False, reason="the citizen's identity was erased", retryable=False)
    assert decide(POLICY, erased, 1, NOW).state is State.DEAD


def test_a_delivered_notice_is_done():
    decision = decide(POLICY, Outcome(True, gateway_ref="m1"), 3, NOW)
    assert decision.state is State.DELIVERED and decision.final


def test_policies_that_make_no_sense_are_refused():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def row(**over):
    base = {"notice_id": "n-1", "ticket_id": "t-1", "ticket_code": "FY-250320-00001-K",
            "channel": "hotline_12345", "kind": "sms", "route": "sms", "citizen": "p-1",
            "subject": "答复", "body": "您的诉求已办理。评价：", "link": "https://r/x",
            "reply_round": 1, "attempts": 2}
    return base | over


def test_the_sms_text_carries_the_rating_link_once():
    assert sms_text(row()) == "您的诉求已办理。评价： https://r/x"
    assert sms_text(row(body="已办理 https://r/x")) == "已办理 https://r/x"


@pytest.mark.parametrize("outcome", [Outcome(True, gateway_ref="m1"),
                                     Outcome(False, reason="timeout")])
def test_outcome_events_round_trip_with_an_id_per_attempt(outcome):
    decision = decide(POLICY, outcome, 2, NOW)
    env = outcome_envelope(row(), decision, outcome, NOW)
    decoded = events.decode(env.SerializeToString())
    assert decoded.envelope.producer == "notifier" and decoded.ticket_id == "t-1"
    assert decoded.payload.notice_id == "n-1" and decoded.payload.attempts == 2
    assert outcome_envelope(row(), decision, outcome, NOW).event_id == env.event_id
    assert outcome_envelope(row(attempts=3), decision, outcome, NOW).event_id != env.event_id


def test_only_the_notifiers_notices_become_rows():
    notice = feedback_notices_pb2.CitizenNotice(notice_id="n", ticket_id="t", ticket_code="c",
                                                channel="wechat_mini",
                                                kind="subscription_message")
    assert notice_row(notice.SerializeToString())["route"] == "wechat"
    notice.kind = "letter"
    assert notice_row(notice.SerializeToString()) is None
    assert notice_row(b"\xff\xff not a notice") is None


def test_under_an_event_clock_a_notice_is_delivered_at_its_own_business_time():
    """A simulated month runs under MINSHENG_CLOCK=event: a receipt stamped with the wall clock
    would move every consumer's watermark to today (the demo month's open rating windows all
    closed unrated, 80 citizens' ratings refused with 409)."""
    from services.notifier.adapters.store import due_at
    from services.notifier.entrypoints.loops import attempt_time

    composed = datetime(2026, 11, 9, 14, 30, tzinfo=UTC)
    notice = feedback_notices_pb2.CitizenNotice(notice_id="n", ticket_id="t", ticket_code="c",
                                                channel="hotline_12345", kind="sms")
    notice.composed_at.FromDatetime(composed)
    row = notice_row(notice.SerializeToString())
    assert row is not None and row["composed_at"] == composed
    assert due_at(row, NOW, event_time=True) == composed
    assert due_at(row, NOW, event_time=False) == NOW  # production: due when taken
    notice.ClearField("composed_at")
    assert due_at(notice_row(notice.SerializeToString()), NOW, event_time=True) == NOW
    # the attempt happens at its due time, and the receipt's event says so
    claimed = {**row, "next_at": composed, "attempts": 1}
    at = attempt_time(claimed, event_time=True)
    assert at == composed
    env = outcome_envelope(claimed, decide(POLICY, Outcome(delivered=True, gateway_ref="g"), 1, at),
                           Outcome(delivered=True, gateway_ref="g"), at)
    assert env.occurred_at.ToDatetime(tzinfo=UTC) == composed
    assert attempt_time(claimed, event_time=False) > composed + timedelta(days=20)


def test_every_attempt_is_counted_on_metrics_by_route_and_what_it_ended_in():
    """The notifier's /metrics showed only its HTTP routes: answers not reaching citizens (a
    gateway down, notices going dead) were visible to no alert."""
    import asyncio

    from prometheus_client import REGISTRY

    from services.notifier.application.deliveries import Deliverer

    class Phones:
        async def phone_of(self, code):
            return "13900001111", None

    class Sms:
        async def send(self, *, phone, text, client_ref):
            if client_ref == "n-gone":
                return Outcome(False, reason="the number does not exist", retryable=False)
            return Outcome(True, gateway_ref="g-1")

    class Store:
        def settle_all(self, settlements, stale_after):
            return [], None

    def counted(state):
        return REGISTRY.get_sample_value("minsheng_notifier_attempts_total",
                                         {"route": "sms", "state": state}) or 0.0

    before = counted("delivered"), counted("dead")
    deliverer = Deliverer(store=Store(), sms=Sms(), wechat=None, contacts=Phones(),
                          policy=POLICY)
    asyncio.run(deliverer.attempt_all([row(), row(notice_id="n-gone", attempts=1)],
                                      [NOW, NOW]))
    assert (counted("delivered"), counted("dead")) == (before[0] + 1, before[1] + 1)
