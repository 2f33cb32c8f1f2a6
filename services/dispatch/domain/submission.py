"""What dispatch keeps of a submitted request until intake accepts (or rejects) it.

A ticket is dispatched only once accepted; its masked facts arrive one event earlier, in
`TicketSubmitted`. They are kept here (id derived from the ticket id, so a redelivered
`TicketSubmitted` finds the same aggregate) and copied into the `TicketDispatch` on acceptance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class SubmittedRequest(Aggregate):
    @staticmethod
    def create_id(ticket_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"minsheng/dispatch/submitted/{ticket_id}")

    @event("Noted")
    def __init__(
        self,
        *,
        ticket_id: str,
        ticket_code: str,
        channel: str,
        title_masked: str,
        text_masked: str,
        category_hint: str,
        place: dict[str, Any],
        at: datetime,
    ) -> None:
        self.ticket_id, self.ticket_code = ticket_id, ticket_code
        self.channel = channel
        self.title_masked, self.text_masked = title_masked, text_masked
        self.category_hint = category_hint
        self.place = dict(place)
        self.at = at
