"""并单 and dispatch's decision: a ticket linked by intake's merge gets its case's answer only
once dispatch took the merge (CaseMergeTaken); a merge dispatch refused (the ticket's unit had
replied: CaseMergeRefused) unlinks it, and the ticket is answered with its own reply. The
primary's review (its partition) and the take (the linked ticket's) arrive in either order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_events_pb2, envelope_pb2, intake_events_pb2

from backbone.consumer import UnitOfWork
from backbone.events import DecodedEvent
from services.feedback.application.upstream import Upstream, _looked_for
from services.feedback.domain.case_links import CaseLinks
from services.feedback.domain.policy import FeedbackPolicy
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
D = timedelta(days=1)
PRIMARY, LINKED = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
CODES = {PRIMARY: "FY-P", LINKED: "FY-L"}


def _missing(*_: Any, **__: Any) -> Any:
    raise AggregateNotFoundError("not stored")


def _uow() -> UnitOfWork:
    return UnitOfWork(SimpleNamespace(repository=SimpleNamespace(get=_missing)))  # type: ignore[arg-type]


def _event(kind: str, ticket_id: str, payload: Any, at: datetime,
           event_id: str = "") -> DecodedEvent:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    envelope = envelope_pb2.Envelope(event_id=event_id or f"{kind}-{ticket_id}-{at:%j%H}",
                                     ticket_id=ticket_id, ticket_code=CODES[ticket_id],
                                     event_type=kind, occurred_at=stamp)
    return DecodedEvent(envelope=envelope, payload=payload)


class Story:
    """The two tickets' facts, applied to one Upstream in the order a test states."""

    def __init__(self) -> None:
        self.upstream, self.uow = Upstream(policy=FeedbackPolicy()), _uow()
        for ticket_id in (PRIMARY, LINKED):
            submitted = intake_events_pb2.TicketSubmitted(channel="hotline_12345",
                                                          citizen_pseudonym=f"cz-{ticket_id}")
            self.upstream.ticket_submitted(_event("TicketSubmitted", ticket_id, submitted, T0),
                                           self.uow)

    def merge(self, at: datetime, event_id: str = "merge-1") -> None:
        merged = intake_events_pb2.TicketMergedIntoCase(
            case_id="c-1", primary_ticket_id=PRIMARY, primary_code="FY-P", confirmed=True)
        self.upstream.ticket_merged(_event("TicketMergedIntoCase", LINKED, merged, at,
                                           event_id), self.uow)

    def take(self, at: datetime, merge_event_id: str = "merge-1") -> None:
        taken = dispatch_events_pb2.CaseMergeTaken(
            case_id="c-1", primary_ticket_id=PRIMARY, primary_code="FY-P",
            merge_event_id=merge_event_id)
        self.upstream.merge_taken(_event("CaseMergeTaken", LINKED, taken, at), self.uow)

    def refuse(self, at: datetime, merge_event_id: str = "merge-1") -> None:
        refused = dispatch_events_pb2.CaseMergeRefused(
            case_id="c-1", primary_ticket_id=PRIMARY, primary_code="FY-P",
            reason="并单未生效", state="replied", merge_event_id=merge_event_id)
        self.upstream.merge_refused(_event("CaseMergeRefused", LINKED, refused, at), self.uow)

    def unmerge(self, at: datetime) -> None:
        unmerged = intake_events_pb2.TicketUnmergedFromCase(
            case_id="c-1", primary_ticket_id=PRIMARY, reason="调度拒绝并单", by="dispatch")
        self.upstream.ticket_unmerged(_event("TicketUnmergedFromCase", LINKED, unmerged, at),
                                      self.uow)

    def reviewed(self, ticket_id: str, at: datetime, *, unit: str, reply: str) -> None:
        review = dispatch_events_pb2.ReplyReviewed(unit=unit, accepted=True, reply_masked=reply,
                                                   outcome="resolved")
        self.upstream.reply_reviewed(_event("ReplyReviewed", ticket_id, review, at), self.uow)

    def record(self, ticket_id: str) -> TicketFeedback:
        found = self.uow.get(TicketFeedback.create_id(ticket_id))
        assert found is not None
        return found

    def answers(self, ticket_id: str) -> list[tuple[str, str]]:
        """What the ticket's citizen was answered (unit, reply) since the last look."""
        return [(e.unit_code, e.reply_text) for e in self.record(ticket_id).collect_events()
                if type(e).__name__ == "ReplyDelivered"]


def test_the_primarys_answer_waits_for_the_take_then_is_delivered_once():
    s = Story()
    s.merge(T0 + D)
    s.reviewed(PRIMARY, T0 + 2 * D, unit="power", reply="线路已修复。")
    assert s.answers(LINKED) == []  # pending: dispatch has not taken the merge yet
    assert s.record(LINKED).status is FeedbackStatus.AWAITING_REPLY
    s.take(T0 + 3 * D)
    s.take(T0 + 3 * D)  # redelivered: nothing twice
    assert s.answers(LINKED) == [("power", "线路已修复。")]
    assert s.record(LINKED).status is FeedbackStatus.AWAITING_RATING


def test_a_take_before_the_primarys_answer_lets_the_answer_through_once():
    s = Story()
    s.merge(T0 + D)
    s.take(T0 + D)
    assert s.answers(LINKED) == []  # nothing to deliver yet
    s.reviewed(PRIMARY, T0 + 2 * D, unit="power", reply="线路已修复。")
    s.take(T0 + 3 * D)  # a copy after the answer: delivers nothing again
    assert s.answers(LINKED) == [("power", "线路已修复。")]


def test_a_refused_merge_unlinks_and_the_ticket_gets_its_own_answer():
    # the race: P answered, T merged by hand on a stale read model, T's unit had replied
    s = Story()
    s.reviewed(PRIMARY, T0 + D, unit="power", reply="线路已修复。")
    s.merge(T0 + 2 * D)
    assert s.answers(LINKED) == []  # P's answer is not delivered at the merge any more
    s.refuse(T0 + 2 * D)
    s.reviewed(PRIMARY, T0 + 3 * D, unit="power", reply="线路已修复。")  # a copy of P's
    s.unmerge(T0 + 3 * D)  # intake's undo: nothing left to unlink
    s.take(T0 + 3 * D)  # a take of it could not come; were it stray, it links nothing
    links = s.uow.get(CaseLinks.create_id(PRIMARY))
    assert links.linked == {} and links.taken == {}
    s.reviewed(LINKED, T0 + 4 * D, unit="water", reply="水管已更换。")
    assert s.answers(LINKED) == [("water", "水管已更换。")]


def test_a_take_of_a_merge_the_ticket_left_since_takes_nothing():
    s = Story()
    s.merge(T0 + D, event_id="merge-1")
    s.unmerge(T0 + D)
    s.merge(T0 + 2 * D, event_id="merge-2")  # merged again, into the same case
    s.reviewed(PRIMARY, T0 + 2 * D, unit="power", reply="线路已修复。")
    s.take(T0 + 3 * D, merge_event_id="merge-1")  # dispatch took the first one
    assert s.answers(LINKED) == []
    s.refuse(T0 + 3 * D, merge_event_id="merge-1")  # nor does a refusal of it unlink
    assert LINKED in s.uow.get(CaseLinks.create_id(PRIMARY)).pending
    s.take(T0 + 3 * D, merge_event_id="merge-2")
    assert s.answers(LINKED) == [("power", "线路已修复。")]


def test_a_link_stored_before_takes_were_said_is_answered_as_before():
    s = Story()
    links = CaseLinks(primary_ticket_id=PRIMARY, timestamp=T0)
    links.link(ticket_id=LINKED, ticket_code="FY-L", case_id="c-1", at=T0)  # names no merge
    s.uow.add(links)
    assert links.taken == {LINKED: "FY-L"}
    s.reviewed(PRIMARY, T0 + D, unit="power", reply="线路已修复。")
    assert s.answers(LINKED) == [("power", "线路已修复。")]


def test_the_batch_probe_lists_what_the_new_handlers_read():
    taken = _event("CaseMergeTaken", LINKED, dispatch_events_pb2.CaseMergeTaken(
        case_id="c-1", primary_ticket_id=PRIMARY, merge_event_id="m"), T0)
    assert set(_looked_for(taken)) == {CaseLinks.create_id(PRIMARY),
                                       TicketFeedback.create_id(PRIMARY),
                                       TicketFeedback.create_id(LINKED)}
    refused = _event("CaseMergeRefused", LINKED, dispatch_events_pb2.CaseMergeRefused(
        case_id="c-1", primary_ticket_id=PRIMARY, merge_event_id="m"), T0)
    assert list(_looked_for(refused)) == [CaseLinks.create_id(PRIMARY)]
