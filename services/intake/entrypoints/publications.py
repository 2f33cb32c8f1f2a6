"""Which of intake's stored events become public events, and how (a table, as data).

Only masked text, masked contact and a pseudonym ever leave intake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minsheng.v1 import common_pb2, intake_events_pb2

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


def submitted(e: Any) -> intake_events_pb2.TicketSubmitted:
    return intake_events_pb2.TicketSubmitted(
        channel=e.channel, text_masked=e.masked_text, title_masked=e.masked_title or "",
        category_hint=e.category_hint or "", place=_place(e.place),
        citizen_pseudonym=e.citizen or "", contact_masked=_contact(e.masked_contact),
        requester_kind=e.requester_kind,
        attachments=[common_pb2.AttachmentRef(sha256=s) for s in e.attachment_refs])


def accepted(e: Any) -> intake_events_pb2.TicketAccepted:
    return intake_events_pb2.TicketAccepted(flags=list(e.flags))


def rejected(e: Any) -> intake_events_pb2.TicketRejected:
    return intake_events_pb2.TicketRejected(reason_code=e.reason_code, reason_text=e.reason_text_zh)


PUBLIC: dict[str, Callable[[Any], Any]] = {
    "Ticket.Submitted": submitted,
    "Ticket.Accepted": accepted,
    "Ticket.Rejected": rejected,
}


def translate_for(lifecycle_topic: str) -> Callable[[Publication], list[Outgoing]]:
    def translate(pub: Publication) -> list[Outgoing]:
        make = PUBLIC.get(type(pub.event).__qualname__)
        if make is None:
            return []
        env = pub.envelope(make(pub.event))
        return [Outgoing(lifecycle_topic, env.ticket_id, env)]

    return translate
