"""Intake's handler table for the lifecycle topic: other services' facts that intake's read
model shows (Open311 status, the citizen's list):
who handles a ticket (dispatch) and whether it is answered, closed or reopened (feedback).

Answered (已答复) is feedback's CitizenNotified: the platform accepted the unit's reply and the
citizen was told it (every citizen of a merged case gets one on their own ticket, which
dispatch's ReplyReviewed, about the case's primary only, would not give). A reopening (重办)
forgets the answer; the next round's CitizenNotified sets it again. A notice with outcome
`needs_longer` (the unit explains it needs more time) is not an answer: its explanation and
expected day are kept apart (interim_*), shown on 我的诉求 until the answer; a reopening
forgets them too.

SQL mode of the backbone consumer: the row updates commit with the consumer's position. A fact
about a ticket intake has not projected yet makes a stub row the projector completes later.
The table is also the consumer's interest: every other type is skipped unread (never decoded,
no row written; see backbone/consumer.py). (The inbound bus topic's one-type table is in
entrypoints/bus.py, next to the message parsing it needs.)
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import psycopg

from backbone.consumer import Handlers
from backbone.events import DecodedEvent

if TYPE_CHECKING:
    from services.intake.adapters.ticket_index import TicketIndex

NOT_YET_ANSWERED = "needs_longer"


def expected_day(text: str) -> date | None:
    """CitizenNotified's `expected_by` (YYYY-MM-DD, a day in Beijing), None when absent."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def lifecycle(index: TicketIndex) -> Handlers:
    def write(cur: psycopg.Cursor[Any], d: DecodedEvent, **columns: Any) -> None:
        statement = index.upsert(d.ticket_id, updated_at=d.occurred_at, **columns)
        cur.execute(statement.sql, statement.params)

    def assigned(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        write(cur, d, unit=d.payload.unit)

    def transferred(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        unit = getattr(d.payload, "to_unit", "") or getattr(d.payload, "unit", "")
        if unit:
            write(cur, d, unit=unit)

    def answered(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        if d.payload.outcome == NOT_YET_ANSWERED:
            # "needs longer" explains a delay: the matter itself is not answered yet, but the
            # citizen's 我的诉求 shows why and by when
            write(cur, d, interim_masked=d.payload.reply_masked, interim_at=d.occurred_at,
                  interim_expected_by=expected_day(d.payload.expected_by))
            return
        write(cur, d, answered_at=d.occurred_at, answer_masked=d.payload.reply_masked,
              answer_round=d.payload.reply_round)

    def closed(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        write(cur, d, status="closed", closed_at=d.occurred_at, rating=d.payload.rating,
              answered_at=d.occurred_at)  # only fills a missing answer date (ticket_index)

    def rated(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        write(cur, d, rating=d.payload.rating)  # 我的诉求 shows it, and asks no more

    def reopened(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        write(cur, d, status="reopened", closed_at=None, answered_at=None, rating=None,
              interim_masked=None, interim_expected_by=None, interim_at=None)

    return Handlers({
        "TicketAssigned": assigned,  # dispatch: which unit handles it
        "AssignmentTransferred": transferred,  # dispatch: now another unit
        "CitizenNotified": answered,  # feedback: answered (已答复), unless "needs longer"
        "TicketRated": rated,  # feedback: the citizen rated the answer
        "TicketClosed": closed,  # feedback: closed with the citizen's rating
        "TicketReopened": reopened,  # feedback: 重办, not answered any more
    })
