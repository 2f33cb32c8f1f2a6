"""The lifecycle consumer (SQL mode): each counted event becomes a row of `facts`, written in
the same transaction as the consumer's progress, so every fact is kept exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from backbone.consumer import Handlers
from backbone.events import DecodedEvent
from services.analytics.adapters.fact_store import insert_facts
from services.analytics.application.normalise import NORMALISERS, fact_of

CONSUMER = "analytics-facts"


def handlers(schema: str) -> Handlers:
    def keep_fact(decoded: DecodedEvent, cur: psycopg.Cursor[Any], record: Any) -> None:
        fact = fact_of(decoded)
        if fact is not None:
            insert_facts(cur, schema, [fact])

    table: dict[str, Callable[..., None]] = {event_type: keep_fact for event_type in NORMALISERS}
    return Handlers(table)
