"""The lifecycle consumer (SQL mode): the table of application/handlers.py, writing facts to
the fact store and surge alerts to the surge list in the consumer's transaction."""

from __future__ import annotations

from typing import Any

from backbone.consumer import Handlers
from backbone.events import DecodedEvent
from services.analytics.adapters import surge_store
from services.analytics.adapters.fact_store import insert_facts
from services.analytics.application import handlers as handler_table
from services.analytics.domain.facts import Fact

CONSUMER = "analytics-facts"


def handlers(schema: str) -> Handlers:
    def write(cur: Any, facts: list[Fact]) -> None:
        insert_facts(cur, schema, facts)

    def keep_alert(d: DecodedEvent, cur: Any) -> None:
        surge_store.insert_alert(cur, schema, d.event_id, d.ticket_id, d.payload)

    return handler_table.handlers(write, keep_alert)
