"""Other services' facts that intake's read model shows (Open311 status, the citizen's list):
who handles a ticket (dispatch) and whether it is closed or reopened (feedback).

SQL mode of the backbone consumer: the row updates commit with the consumer's position. A fact
about a ticket intake has not projected yet makes a stub row the projector completes later.
"""

from __future__ import annotations

from typing import Any

import psycopg

from backbone.consumer import Handlers
from backbone.events import DecodedEvent
from services.intake.adapters.ticket_index import TicketIndex


def handlers(index: TicketIndex) -> Handlers:
    def write(cur: psycopg.Cursor[Any], d: DecodedEvent, **columns: Any) -> None:
        statement = index.upsert(d.ticket_id, updated_at=d.occurred_at, **columns)
        cur.execute(statement.sql, statement.params)

    def assigned(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        write(cur, d, unit=d.payload.unit)

    def transferred(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        unit = getattr(d.payload, "to_unit", "") or getattr(d.payload, "unit", "")
        if unit:
            write(cur, d, unit=unit)

    def closed(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        write(cur, d, status="closed", closed_at=d.occurred_at, rating=d.payload.rating)

    def reopened(d: DecodedEvent, cur: psycopg.Cursor[Any], _: Any) -> None:
        write(cur, d, status="reopened", closed_at=None)

    return Handlers({"TicketAssigned": assigned, "AssignmentTransferred": transferred,
                     "TicketClosed": closed, "TicketReopened": reopened})
