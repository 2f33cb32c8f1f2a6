"""Which of intake's stored events become public events, and how (a table, as data).

Only masked text, masked contact and a pseudonym ever leave intake. Answers to bus adapters
(`BusRequest` events) go to `intake.replies`, keyed by the adapter's own request id: they are
stored events too, so a reply is published exactly when its ticket is (the outbox).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minsheng.v1 import common_pb2, intake_api_pb2, intake_events_pb2

from backbone import events
from backbone.relay import Outgoing, Publication


def _place(place: dict[str, Any] | None) -> common_pb2.Place:
    if not place:
        return common_pb2.Place()
    has_point = place.get("lat") is not None and place.get("lon") is not None
    return common_pb2.Place(
        point=common_pb2.GeoPoint(lon=place.get("lon") or 0.0, lat=place.get("lat") or 0.0),
        has_point=has_point, address_masked=place.get("address_masked") or "",
        outside_city=bool(place.get("outside_city")))


def _contact(masked: dict[str, Any] | None) -> str:
    if not masked:
        return ""
    return masked.get("phone") or masked.get("name") or ""


def _attachment(ref: Any) -> common_pb2.AttachmentRef:
    if isinstance(ref, str):
        return common_pb2.AttachmentRef(sha256=ref)
    return common_pb2.AttachmentRef(sha256=ref["sha256"], media_type=ref.get("media_type", ""),
                                    size=int(ref.get("size", 0)))


def submitted(e: Any) -> intake_events_pb2.TicketSubmitted:
    return intake_events_pb2.TicketSubmitted(
        channel=e.channel, text_masked=e.masked_text, title_masked=e.masked_title or "",
        category_hint=e.category_hint or "", place=_place(e.place),
        citizen_pseudonym=e.citizen or "", contact_masked=_contact(e.masked_contact),
        requester_kind=e.requester_kind, attachments=[_attachment(a) for a in e.attachment_refs],
        adapter_id=e.adapter_id, external_ref=e.external_ref)


def accepted(e: Any) -> intake_events_pb2.TicketAccepted:
    return intake_events_pb2.TicketAccepted(flags=list(e.flags))


def answered_on_spot(e: Any) -> intake_events_pb2.TicketAnsweredOnSpot:
    return intake_events_pb2.TicketAnsweredOnSpot(
        answer_masked=e.answer_masked, source=e.source, source_date=e.source_date,
        knowledge_ref=e.knowledge_ref, operator_id=e.operator_id)


def rejected(e: Any) -> intake_events_pb2.TicketRejected:
    return intake_events_pb2.TicketRejected(reason_code=e.reason_code, reason_text=e.reason_text_zh)


def merged(e: Any) -> intake_events_pb2.TicketMergedIntoCase:
    return intake_events_pb2.TicketMergedIntoCase(
        case_id=str(e.case_id), primary_ticket_id=e.primary_ticket_id,
        primary_code=e.primary_code, score=e.score, confirmed=e.confirmed, by=e.by)


def merge_confirmed(e: Any) -> intake_events_pb2.TicketMergedIntoCase:
    return intake_events_pb2.TicketMergedIntoCase(
        case_id=str(e.case_id), primary_ticket_id=e.primary_ticket_id,
        primary_code=e.primary_code, score=e.score, confirmed=True, by=e.by)


def unmerged(e: Any) -> intake_events_pb2.TicketUnmergedFromCase:
    return intake_events_pb2.TicketUnmergedFromCase(
        case_id=str(e.case_id), primary_ticket_id=e.primary_ticket_id, reason=e.reason, by=e.by)


def identity_erased(e: Any) -> intake_events_pb2.CitizenIdentityErased:
    return intake_events_pb2.CitizenIdentityErased()


PUBLIC: dict[str, Callable[[Any], Any]] = {
    "Ticket.Submitted": submitted,
    "Ticket.Accepted": accepted,
    "Ticket.Rejected": rejected,
    "Ticket.AnsweredOnSpot": answered_on_spot,
    "Ticket.MergedIntoCase": merged,
    "Ticket.MergeConfirmed": merge_confirmed,
    "Ticket.UnmergedFromCase": unmerged,
    "Ticket.IdentityErased": identity_erased,
}
REPLIES = ("BusRequest.Answered", "BusRequest.Reanswered")


def reply(pub: Publication) -> events.BareMessage:
    e = pub.event
    message = intake_api_pb2.IntakeReply(
        request_id=e.request_id, adapter_id=e.adapter_id, status=e.status, code=e.code,
        ticket_id=e.ticket_id, reason_code=e.reason_code, reason_text=e.reason_text,
        replayed=e.replayed, retry_after_seconds=e.retry_after_s)
    event_id = events.event_id_for(e.originator_id, e.originator_version)
    return events.BareMessage(message, "IntakeReply", "intake", event_id, pub.context.trace_id)


def translate_for(lifecycle_topic: str, replies_topic: str
                  ) -> Callable[[Publication], list[Outgoing]]:
    def translate(pub: Publication) -> list[Outgoing]:
        kind = type(pub.event).__qualname__
        if kind in REPLIES:
            return [Outgoing(replies_topic, pub.event.request_id, reply(pub))]
        make = PUBLIC.get(kind)
        if make is None:
            return []
        env = pub.envelope(make(pub.event))
        return [Outgoing(lifecycle_topic, env.ticket_id, env)]

    return translate
