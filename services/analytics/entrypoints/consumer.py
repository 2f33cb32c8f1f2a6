"""The lifecycle consumer (SQL mode): each counted event becomes a row of `facts`, written in
the same transaction as the consumer's progress, so every fact is kept exactly once. Only the
types in NORMALISERS are read at all; the rest are skipped by their Kafka header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from backbone.consumer import Handlers
from backbone.events import DecodedEvent
from services.analytics.adapters.fact_store import insert_facts
from services.analytics.adapters.surge_store import insert_alert
from services.analytics.application.normalise import NORMALISERS, fact_of

CONSUMER = "analytics-facts"


def handlers(schema: str) -> Handlers:
    def keep_fact(decoded: DecodedEvent, cur: psycopg.Cursor[Any], record: Any) -> None:
        fact = fact_of(decoded)
        if fact is not None:
            insert_facts(cur, schema, [fact])

    def keep_facts(pairs: list[tuple[DecodedEvent, Any]], cur: psycopg.Cursor[Any]) -> None:
        facts = [f for f in (fact_of(d) for d, _ in pairs) if f is not None]
        insert_facts(cur, schema, facts)  # the batch's facts in one pipelined write

    def keep_alert(decoded: DecodedEvent, cur: psycopg.Cursor[Any], record: Any) -> None:
        insert_alert(cur, schema, decoded.event_id, decoded.ticket_id, decoded.payload)

    table: dict[str, Callable[..., None]] = {event_type: keep_fact for event_type in NORMALISERS}
    table["SurgeDetected"] = keep_alert  # from the surge worker (entrypoints/surges.py)
    return Handlers(table, batch=keep_facts)
