"""Which of feedback's stored events become public events, and how (a table, as data).

ReplyDelivered becomes CitizenNotified on the lifecycle topic plus one CitizenNotice per
channel message on `citizen.notices` for the adapters. Internal events (FeedbackOpened,
follows, case links) stay inside. Facts not carried by an event (the unit, the channel) come
from the record's state AT that event's version, so a republished event says the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import feedback_events_pb2 as fe
from minsheng.v1 import feedback_notices_pb2 as fn

from backbone import events
from backbone.relay import Outgoing, Publication
from services.feedback.application.answers import AnswerComposer
from services.feedback.domain.answer import CitizenNotice
from services.feedback.domain.followers import Follower
from services.feedback.domain.rating import TicketFeedback


@dataclass(frozen=True)
class RawNotice:
    """A bare CitizenNotice on Kafka, with the headers the relay sets on every message."""

    message: fn.CitizenNotice
    event_type: str = "CitizenNotice"
    producer: str = "feedback"

    @property
    def event_id(self) -> str:
        return self.message.notice_id

    @property
    def trace_id(self) -> str:
        return self.message.trace_id or events.new_trace_id()

    def SerializeToString(self) -> bytes:  # noqa: N802  (protobuf's name, the relay calls it)
        return self.message.SerializeToString()


def _ts(value: Any) -> Timestamp:
    stamp = Timestamp()
    if value is not None:
        stamp.FromDatetime(value)
    return stamp


class Publisher:
    def __init__(self, *, app: Application, composer: AnswerComposer, lifecycle_topic: str,
                 notices_topic: str):
        self.app = app
        self.composer = composer
        self.lifecycle = lifecycle_topic
        self.notices_topic = notices_topic
        self.table: dict[str, Callable[[Publication], list[Outgoing]]] = {
            "TicketFeedback.ReplyDelivered": self._reply_delivered,
            "TicketFeedback.TicketRated": self._simple(self._rated),
            "TicketFeedback.MarkedUnrated": self._simple(
                lambda e, s: fe.TicketMarkedUnrated(unit=s.unit_code, reply_round=e.reply_round)),
            "TicketFeedback.CallbackRecorded": self._simple(self._callback),
            "TicketFeedback.TicketReopened": self._simple(
                lambda e, s: fe.TicketReopened(
                    reopen_count=e.reopen_count, reason=e.reason, unit=s.unit_code,
                    confirmed_by=e.confirmed_by, staff_id=e.staff_id,
                    reply_round=e.reply_round)),
            "TicketFeedback.EscalatedToSupervision": self._simple(
                lambda e, s: fe.PushedToSupervision(
                    follower_role="system", follower_id="feedback", reason=e.reason,
                    unit=s.unit_code, channel="reopened", reopen_count=e.reopen_count)),
            "TicketFeedback.TicketClosed": self._simple(
                lambda e, s: fe.TicketClosed(unit=s.unit_code, rating=e.verdict,
                                             reply_round=e.reply_round,
                                             reopen_count=s.reopen_count)),
            "Follower.RemarkAdded": self._follower(
                lambda e, f: fe.RemarkAdded(
                    follower_role=e.role, follower_id=f.follower_id,
                    remark_masked=e.text, unit=e.unit_codes[0] if e.unit_codes else "",
                    units=list(e.unit_codes))),
            "Follower.PushedToSupervision": self._follower(
                lambda e, f: fe.PushedToSupervision(
                    follower_role=f.role.value, follower_id=f.follower_id,
                    reason=e.reason, unit=e.unit_codes[0] if e.unit_codes else "",
                    channel=e.channel)),
        }

    def translate(self, pub: Publication) -> list[Outgoing]:
        make = self.table.get(type(pub.event).__qualname__)
        return make(pub) if make is not None else []

    def _state(self, pub: Publication) -> TicketFeedback:
        return self.app.repository.get(pub.event.originator_id,
                                       version=pub.event.originator_version)

    def _out(self, pub: Publication, payload: Any, n: int = 0) -> Outgoing:
        env = pub.envelope(payload, n=n)
        return Outgoing(self.lifecycle, env.ticket_id, env)

    def _simple(self, make: Callable[[Any, TicketFeedback], Any]
                ) -> Callable[[Publication], list[Outgoing]]:
        return lambda pub: [self._out(pub, make(pub.event, self._state(pub)))]

    def _follower(self, make: Callable[[Any, Follower], Any]
                  ) -> Callable[[Publication], list[Outgoing]]:
        def publish(pub: Publication) -> list[Outgoing]:
            follower: Follower = self.app.repository.get(
                pub.event.originator_id, version=pub.event.originator_version)
            env = pub.envelope(make(pub.event, follower), ticket_id=pub.event.ticket_id,
                               ticket_code=pub.event.ticket_code)
            return [Outgoing(self.lifecycle, env.ticket_id, env)]

        return publish

    @staticmethod
    def _rated(e: Any, s: TicketFeedback) -> fe.TicketRated:
        return fe.TicketRated(rating=e.rating, comment_masked=e.comment, via=e.via,
                              unit=s.unit_code, reply_round=e.reply_round)

    @staticmethod
    def _callback(e: Any, s: TicketFeedback) -> fe.CallbackRecorded:
        return fe.CallbackRecorded(reached=e.reached, resolved=bool(e.resolved),
                                   satisfaction=e.satisfaction or "", staff_id=e.staff_id,
                                   unit=s.unit_code, note_masked=e.note,
                                   reply_round=e.reply_round)

    def _reply_delivered(self, pub: Publication) -> list[Outgoing]:
        e, state = pub.event, self._state(pub)
        notices = self.composer.notices(state, e)
        fact = self._out(pub, fe.CitizenNotified(
            channel=state.channel, unit=e.unit_code, outcome=e.reply_outcome,
            reply_masked=e.reply_text, reply_round=e.reply_round,
            rating_due_at=_ts(e.rating_due_at), notices=len(notices)))
        out = [fact]
        for n, notice in enumerate(notices, start=1):
            out.append(self._notice(pub, fact.envelope, notice, n, state, e))
        return out

    def _notice(self, pub: Publication, fact: Any, notice: CitizenNotice, n: int,
                state: TicketFeedback, e: Any) -> Outgoing:
        message = fn.CitizenNotice(
            notice_id=events.event_id_for(e.originator_id, e.originator_version, n),
            ticket_id=state.ticket_id, ticket_code=state.ticket_code, channel=notice.channel,
            kind=notice.kind, citizen_pseudonym=notice.citizen_ref, subject=notice.subject,
            body=notice.body, link=notice.link, rating_token=notice.rating_token,
            rating_due_at=_ts(e.rating_due_at), outcome=e.reply_outcome, unit=e.unit_code,
            reply_round=e.reply_round, fields=dict(notice.fields),
            composed_at=_ts(e.delivered_at), trace_id=fact.trace_id,
            causation_id=fact.event_id)
        return Outgoing(self.notices_topic, state.ticket_id, RawNotice(message))
