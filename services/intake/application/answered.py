"""The citizen's recently answered tickets, for the 已答复 rule (domain.answered).

Read from intake's ticket index, where the lifecycle consumer records feedback's answers
(CitizenNotified) and forgets them on a reopening. One indexed query per identified
submission; an anonymous one costs nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from services.intake.adapters.ticket_index import TicketIndex
from services.intake.domain.answered import AnsweredTicket


class AnsweredLookup(Protocol):
    def of(self, citizen: str | None, now: datetime) -> tuple[AnsweredTicket, ...]: ...


class NoAnsweredTickets:
    """Where no read model is wired (unit tests of submissions): nothing was answered."""

    def of(self, citizen: str | None, now: datetime) -> tuple[AnsweredTicket, ...]:
        return ()


class AnsweredTickets:
    def __init__(self, index: TicketIndex, window: timedelta):
        self.index = index
        self.window = window

    def of(self, citizen: str | None, now: datetime) -> tuple[AnsweredTicket, ...]:
        """The citizen's tickets answered within the window before ``now`` (event time)."""
        if not citizen:
            return ()
        return answered_tickets(self.index.answered_of_citizen(citizen, now - self.window, now))


def answered_tickets(rows: list[dict[str, Any]]) -> tuple[AnsweredTicket, ...]:
    """The index's rows of a citizen's answered tickets, as the 已答复 rule reads them."""
    return tuple(AnsweredTicket(
            code=r["code"], text=(r.get("title_masked") or "") + (r.get("text_masked") or ""),
            answered_at=r["answered_at"], category=r.get("category"), citizen=r["citizen"])
            for r in rows if r.get("code"))
