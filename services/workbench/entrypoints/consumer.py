"""The lifecycle consumer (SQL mode): each event the list cares about folds into the ticket's
row in the same transaction as the consumer's progress, so nothing is applied twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from backbone.consumer import Handlers
from backbone.events import DecodedEvent
from services.workbench.adapters import readmodel
from services.workbench.domain.tickets import FOLDS, fold

CONSUMER = "workbench-tickets"


def handlers(schema: str) -> Handlers:
    def keep(decoded: DecodedEvent, cur: psycopg.Cursor[Any], record: Any) -> None:
        row = readmodel.load(cur, schema, decoded.ticket_id)
        readmodel.save(cur, schema, fold(
            row, ticket_id=decoded.ticket_id, code=decoded.envelope.ticket_code,
            event_type=decoded.event_type, payload=decoded.payload,
            occurred_at=decoded.occurred_at))

    table: dict[str, Callable[..., None]] = {event_type: keep for event_type in FOLDS}
    return Handlers(table)
