"""并单 and 需较长时间办理: a ticket merged into a case whose primary has only an interim answer
(needs longer: why, by when) is told that explanation too, without a rating; the final reply
reaches it as before."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_events_pb2, envelope_pb2, intake_events_pb2

from backbone.consumer import UnitOfWork
from backbone.events import DecodedEvent
from services.feedback.application.upstream import Upstream, expected_day
from services.feedback.domain.policy import FeedbackPolicy
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PRIMARY, FOLLOWER = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def _missing(*_: Any, **__: Any) -> Any:
    raise AggregateNotFoundError("not stored")


def _uow() -> UnitOfWork:
    return UnitOfWork(SimpleNamespace(repository=SimpleNamespace(get=_missing)))  # type: ignore[arg-type]


def _event(kind: str, ticket_id: str, code: str, payload: Any, at: datetime) -> DecodedEvent:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    envelope = envelope_pb2.Envelope(event_id=f"{kind}-{ticket_id}", ticket_id=ticket_id,
                                     ticket_code=code, event_type=kind, occurred_at=stamp)
    return DecodedEvent(envelope=envelope, payload=payload)


def _submitted(uow: UnitOfWork, upstream: Upstream, ticket_id: str, code: str) -> None:
    payload = intake_events_pb2.TicketSubmitted(channel="hotline_12345",
                                                citizen_pseudonym=f"cz-{code}")
    upstream.ticket_submitted(_event("TicketSubmitted", ticket_id, code, payload, T0), uow)


def _interim(uow: UnitOfWork, upstream: Upstream, at: datetime) -> None:
    reviewed = dispatch_events_pb2.ReplyReviewed(
        unit="housing", accepted=True, reply_masked="需协调燃气公司改造管网", outcome="needs_longer",
        interim=True, expected_by="2027-01-15")
    upstream.reply_reviewed(_event("ReplyReviewed", PRIMARY, "FY-P", reviewed, at), uow)


def _merge(uow: UnitOfWork, upstream: Upstream, at: datetime) -> None:
    """Intake's merge and dispatch's take of it (answered with the case only once taken)."""
    merged = intake_events_pb2.TicketMergedIntoCase(case_id="c-1", primary_ticket_id=PRIMARY,
                                                     primary_code="FY-P", confirmed=True)
    merge = _event("TicketMergedIntoCase", FOLLOWER, "FY-F", merged, at)
    upstream.ticket_merged(merge, uow)
    taken = dispatch_events_pb2.CaseMergeTaken(case_id="c-1", primary_ticket_id=PRIMARY,
                                               primary_code="FY-P", merge_event_id=merge.event_id)
    upstream.merge_taken(_event("CaseMergeTaken", FOLLOWER, "FY-F", taken, at), uow)


def _told(record: TicketFeedback) -> list[Any]:
    return [e for e in record.collect_events() if type(e).__name__ == "DelayExplained"]


def test_a_ticket_merged_after_the_primarys_interim_answer_is_told_it_too() -> None:
    upstream, uow = Upstream(policy=FeedbackPolicy()), _uow()
    _submitted(uow, upstream, PRIMARY, "FY-P")
    _submitted(uow, upstream, FOLLOWER, "FY-F")
    _interim(uow, upstream, T0 + timedelta(days=2))
    _merge(uow, upstream, T0 + timedelta(days=3))
    follower = uow.get(TicketFeedback.create_id(FOLLOWER))
    [told] = _told(follower)
    assert told.reply_text == "需协调燃气公司改造管网" and told.unit_code == "housing"
    assert told.expected_by == expected_day("2027-01-15")
    assert told.expected_by.date() == date(2027, 1, 15)
    # an interim answer: no round, no rating asked for; the final reply is still awaited
    assert (follower.status, follower.reply_round) == (FeedbackStatus.AWAITING_REPLY, 0)
    _merge(uow, upstream, T0 + timedelta(days=3))  # the merge read again: told once
    assert not _told(follower)


def test_the_follower_then_gets_the_final_reply_with_a_rating() -> None:
    upstream, uow = Upstream(policy=FeedbackPolicy()), _uow()
    _submitted(uow, upstream, PRIMARY, "FY-P")
    _submitted(uow, upstream, FOLLOWER, "FY-F")
    _interim(uow, upstream, T0 + timedelta(days=2))
    _merge(uow, upstream, T0 + timedelta(days=3))
    final = dispatch_events_pb2.ReplyReviewed(unit="housing", accepted=True,
                                              reply_masked="管网已改造完毕。", outcome="resolved")
    upstream.reply_reviewed(_event("ReplyReviewed", PRIMARY, "FY-P", final,
                                   T0 + timedelta(days=30)), uow)
    follower = uow.get(TicketFeedback.create_id(FOLLOWER))
    assert (follower.status, follower.reply_round) == (FeedbackStatus.AWAITING_RATING, 1)
    assert follower.reply_text == "管网已改造完毕。" and not follower.delay_in_force
    _merge(uow, upstream, T0 + timedelta(days=31))  # a later merge: the final reply, as before
    assert follower.reply_round == 1


def test_a_ticket_merged_before_the_interim_answer_is_told_through_the_case() -> None:
    upstream, uow = Upstream(policy=FeedbackPolicy()), _uow()
    _submitted(uow, upstream, PRIMARY, "FY-P")
    _submitted(uow, upstream, FOLLOWER, "FY-F")
    _merge(uow, upstream, T0 + timedelta(days=1))
    _interim(uow, upstream, T0 + timedelta(days=2))
    [told] = _told(uow.get(TicketFeedback.create_id(FOLLOWER)))
    assert told.reply_text == "需协调燃气公司改造管网"
