"""Envelopes of a ticket's lifecycle, as the upstream services would publish them (the tests
impersonate them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import dispatch_events_pb2 as de
from minsheng.v1 import envelope_pb2
from minsheng.v1 import feedback_events_pb2 as fe
from minsheng.v1 import intake_events_pb2 as ie
from minsheng.v1 import sla_events_pb2 as se

from backbone import events

T0 = datetime(2023, 11, 20, 9, 0, tzinfo=UTC)


def ts(moment: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(moment)
    return t


def ticket_lifecycle(ticket_id: str, code: str, start: datetime = T0,
                     unit: str = "yingzhou") -> list[envelope_pb2.Envelope]:
    """Submitted -> accepted -> deadline -> assigned -> signed for -> replied -> told ->
    rated -> closed, each from its owning service, each caused by the one before."""
    due = start + timedelta(days=7)
    steps = [
        ("intake", ie.TicketSubmitted(channel="hotline_12345", text_masked="小区门口垃圾无人清运",
                                      contact_masked="138****5678",
                                      citizen_pseudonym="p-" + ticket_id[:8])),
        ("intake", ie.TicketAccepted()),
        ("sla", se.DeadlineSet(grade="general", due_at=ts(due), working_days=5, unit=unit)),
        ("dispatch", de.TicketAssigned(unit=unit, category="environment", urgency="general",
                                       role="lead", assignment_no=1)),
        ("dispatch", de.AssignmentSignedFor(unit=unit, assignment_no=1)),
        ("dispatch", de.AssignmentReplied(unit=unit, assignment_no=1,
                                          reply_masked="已组织物业公司清运完毕", outcome="resolved")),
        ("sla", se.DeadlineMet(due_at=ts(due), unit=unit)),
        ("feedback", fe.CitizenNotified(channel="hotline_12345", unit=unit,
                                        reply_masked="已组织物业公司清运完毕", reply_round=1)),
        ("feedback", fe.TicketRated(rating="satisfied", unit=unit, reply_round=1)),
        ("feedback", fe.TicketClosed(unit=unit, rating="satisfied", reply_round=1)),
    ]
    out = []
    cause = ""
    for i, (producer, payload) in enumerate(steps):
        env = events.make_envelope(
            payload=payload, event_id=events.event_id_for(uuid.uuid5(uuid.NAMESPACE_URL,
                                                                     ticket_id + producer), i + 1),
            ticket_id=ticket_id, ticket_code=code, producer=producer,
            occurred_at=start + timedelta(hours=i), causation_id=cause,
            actor=events.actor("system", producer))
        cause = env.event_id
        out.append(env)
    return out


def new_ticket() -> tuple[str, str]:
    ticket_id = str(uuid.uuid4())
    return ticket_id, f"FY-231120-{uuid.uuid4().int % 100000:05d}-T"
