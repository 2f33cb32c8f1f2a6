"""Analytics' handler table: every event type that counts becomes a fact (NORMALISERS says
which and how), and a SurgeDetected (突发预警, from the surge worker) becomes a row of the
dashboard's surge list. The table is also the consumer's interest: every other type is skipped
unread (never decoded, no row written; see backbone/consumer.py). A polled batch's facts are
written at once, in the transaction that records the consumer's progress: each fact and each
alert is kept exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backbone.consumer import Handlers
from backbone.events import DecodedEvent
from services.analytics.application.normalise import NORMALISERS, fact_of
from services.analytics.domain.facts import Fact

WriteFacts = Callable[[Any, list[Fact]], None]  # (the transaction's cursor, facts)
KeepAlert = Callable[[DecodedEvent, Any], None]  # (a SurgeDetected, the cursor)

SURGE = "SurgeDetected"


def handlers(write_facts: WriteFacts, keep_alert: KeepAlert) -> Handlers:
    def keep_fact(decoded: DecodedEvent, cur: Any, record: Any) -> None:
        keep_all([(decoded, record)], cur)

    def alert(decoded: DecodedEvent, cur: Any, record: Any) -> None:
        keep_alert(decoded, cur)

    def keep_all(pairs: list[tuple[DecodedEvent, Any]], cur: Any) -> None:
        for d, _ in pairs:
            if d.event_type == SURGE:
                keep_alert(d, cur)
        write_facts(cur, [f for f in (fact_of(d) for d, _ in pairs if d.event_type != SURGE)
                          if f is not None])

    table: dict[str, Callable[..., None]] = {event_type: keep_fact for event_type in NORMALISERS}
    table[SURGE] = alert
    return Handlers(table, batch=keep_all)
