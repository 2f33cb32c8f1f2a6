"""Acting as the upstream services in tests: envelopes of intake, dispatch and sla events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from minsheng.v1 import common_pb2, dispatch_events_pb2, intake_events_pb2, sla_events_pb2

from backbone import events

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # event time: a Monday morning in Fuyang


class Ticket:
    """One ticket's upstream story; each call returns the serialized envelope to publish."""

    def __init__(self, code: str, ticket_id: str | None = None):
        self.id = ticket_id or str(uuid.uuid4())
        self.code = code
        self.n = 0
        self.merge_event_id = ""  # the event id of the last merged_into

    def envelope(self, payload: Any, at: datetime, producer: str, event_id: str = "") -> bytes:
        self.n += 1
        return events.make_envelope(
            payload=payload, event_id=event_id or str(uuid.uuid4()), ticket_id=self.id,
            ticket_code=self.code, producer=producer, occurred_at=at,
            actor=events.actor("system", producer)).SerializeToString()

    def submitted(self, at: datetime, *, text: str, citizen: str = "citizen-1",
                  channel: str = "wechat_mini", address: str = "", title: str = "") -> bytes:
        return self.envelope(intake_events_pb2.TicketSubmitted(
            channel=channel, text_masked=text, title_masked=title, citizen_pseudonym=citizen,
            place=common_pb2.Place(address_masked=address)), at, "intake")

    def accepted(self, at: datetime) -> bytes:
        return self.envelope(intake_events_pb2.TicketAccepted(), at, "intake")

    def rejected(self, at: datetime) -> bytes:
        return self.envelope(intake_events_pb2.TicketRejected(reason_code="out_of_scope"), at,
                             "intake")

    def merged_into(self, primary: Ticket, at: datetime) -> bytes:
        self.merge_event_id = str(uuid.uuid4())
        return self.envelope(intake_events_pb2.TicketMergedIntoCase(
            case_id="case-" + primary.code, primary_ticket_id=primary.id,
            primary_code=primary.code, score=0.97, confirmed=True, by="dispatcher-1"), at,
            "intake", self.merge_event_id)

    def merge_taken(self, primary: Ticket, at: datetime) -> bytes:
        """Dispatch took the last merge (feedback answers the ticket with its case only now)."""
        return self.envelope(dispatch_events_pb2.CaseMergeTaken(
            case_id="case-" + primary.code, primary_ticket_id=primary.id,
            primary_code=primary.code, merge_event_id=self.merge_event_id), at, "dispatch")

    def merge_refused(self, primary: Ticket, at: datetime) -> bytes:
        """Dispatch refused the last merge: the ticket's unit had replied."""
        return self.envelope(dispatch_events_pb2.CaseMergeRefused(
            case_id="case-" + primary.code, primary_ticket_id=primary.id,
            primary_code=primary.code, reason="并单未生效：已由单位答复", state="replied",
            merge_event_id=self.merge_event_id), at, "dispatch")

    def unmerged_from(self, primary: Ticket, at: datetime, *, by: str = "dispatch") -> bytes:
        return self.envelope(intake_events_pb2.TicketUnmergedFromCase(
            case_id="case-" + primary.code, primary_ticket_id=primary.id,
            reason="调度拒绝并单", by=by), at, "intake")

    def assigned(self, at: datetime, *, unit: str = "yingzhou.qinghe",
                 category: str = "urban-management", county: str = "yingzhou",
                 subdistrict: str = "yingzhou.qinghe", request_type: str = "complaint") -> bytes:
        return self.envelope(dispatch_events_pb2.TicketAssigned(
            unit=unit, category=category, county=county, subdistrict=subdistrict,
            request_type=request_type, role="lead", assignment_no=1, urgency="general"), at,
            "dispatch")

    def reviewed(self, at: datetime, *, reply: str, unit: str = "yingzhou.qinghe",
                 outcome: str = "resolved", accepted: bool = True,
                 expected_by: str = "") -> bytes:
        # dispatch marks an accepted needs_longer reply interim (the unit keeps the ticket)
        return self.envelope(dispatch_events_pb2.ReplyReviewed(
            unit=unit, assignment_no=1, accepted=accepted, reply_masked=reply, outcome=outcome,
            reviewed_by="auto", interim=accepted and outcome == "needs_longer",
            expected_by=expected_by), at, "dispatch")

    def deadline_missed(self, at: datetime) -> bytes:
        return self.envelope(sla_events_pb2.DeadlineMissed(clock_no=1, unit="yingzhou.qinghe"),
                             at, "sla")


def fake_code() -> str:
    """A code in intake's shape (FY-YYMMDD-NNNNN-C); feedback does not check the check char."""
    import random
    return (f"FY-{random.randint(240101, 261231)}-{random.randint(0, 99999):05d}-"
            f"{random.choice('ABCDEFGHJKLMNPQRSTUVWXY23456789')}")
