"""Which of feedback's stored events become public events, and where they go.

The lifecycle envelope comes from `application.publishing.lifecycle_envelope`, a pure
function that the audit's reconciliation re-runs over the store. ReplyDelivered becomes
CitizenNotified on the lifecycle topic plus one CitizenNotice per channel message on
`citizen.notices` for the adapters (composed here: they carry the signed rating link).
"""

from __future__ import annotations

import threading
from typing import Any

from eventsourcing.application import Application
from minsheng.v1 import feedback_notices_pb2 as fn

from backbone import events
from backbone.relay import Outgoing, Publication
from services.feedback.application.answers import AnswerComposer
from services.feedback.application.publishing import (
    NOTIFYING,
    is_public,
    lifecycle_envelope,
    timestamp_of,
)
from services.feedback.application.state_fold import StateFold
from services.feedback.domain.answer import CitizenNotice
from services.feedback.domain.rating import TicketFeedback


def _folded(event: Any) -> bool:
    """Events of the aggregates whose states public events need (the record, a follower)."""
    return type(event).__qualname__.split(".", 1)[0] in ("TicketFeedback", "Follower")


class Publisher:
    def __init__(self, *, app: Application, composer: AnswerComposer, lifecycle_topic: str,
                 notices_topic: str):
        self.app = app
        self.composer = composer
        self.lifecycle = lifecycle_topic
        self.notices_topic = notices_topic
        # the record's state at each event, folded from the events the relay reads in order
        # (a store read per public event before: three per ticket)
        self.states = StateFold(lambda oid, version: app.repository.get(oid, version=version))
        self.state_at = self.states.at
        # one translation at a time: the fold's states are read while they are current (the
        # relay reads in a worker thread; a read ahead it gave up on may still be running)
        self._lock = threading.Lock()

    def translate(self, pub: Publication) -> list[Outgoing]:
        with self._lock:
            return self._translate(pub)

    def _translate(self, pub: Publication) -> list[Outgoing]:
        if not is_public(pub.event):
            if _folded(pub.event):
                self.states.see(pub.event)  # the chain of versions stays whole
            return []
        if type(pub.event).__qualname__ in NOTIFYING:  # a reply, or a needs-longer notice
            return self._reply_delivered(pub)
        env = lifecycle_envelope(pub, state_at=self.state_at, notice_count=lambda s, e: 0)
        return [Outgoing(self.lifecycle, env.ticket_id, env)] if env is not None else []

    def _reply_delivered(self, pub: Publication) -> list[Outgoing]:
        e, state = pub.event, self.state_at(pub.event)
        notices = self.composer.notices(state, e)
        fact = lifecycle_envelope(pub, state_at=lambda _: state,
                                  notice_count=lambda s, ev: len(notices))
        assert fact is not None  # a delivered reply is always public
        out = [Outgoing(self.lifecycle, fact.ticket_id, fact)]
        for n, notice in enumerate(notices, start=1):
            out.append(self._notice(fact, notice, n, state, e))
        return out

    def _notice(self, fact: Any, notice: CitizenNotice, n: int, state: TicketFeedback,
                e: Any) -> Outgoing:
        message = fn.CitizenNotice(
            notice_id=events.event_id_for(e.originator_id, e.originator_version, n),
            ticket_id=state.ticket_id, ticket_code=state.ticket_code, channel=notice.channel,
            kind=notice.kind, citizen_pseudonym=notice.citizen_ref, subject=notice.subject,
            body=notice.body, link=notice.link, rating_token=notice.rating_token,
            rating_due_at=timestamp_of(e.rating_due_at) if hasattr(e, "rating_due_at") else None,
            outcome=e.reply_outcome, unit=e.unit_code,
            reply_round=e.reply_round, fields=dict(notice.fields),
            composed_at=timestamp_of(e.delivered_at), trace_id=fact.trace_id,
            causation_id=fact.event_id)
        return Outgoing(self.notices_topic, state.ticket_id, events.BareMessage(
            message, "CitizenNotice", "feedback", message.notice_id, message.trace_id))
