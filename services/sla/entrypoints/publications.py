"""Which of the SLA service's stored events become public events, and where they go.

The lifecycle envelope comes from `application.publishing.lifecycle_envelope`, a pure
function that the audit's reconciliation re-runs over the store. Each goes to the lifecycle
topic, keyed by ticket id; one that names a unit also goes to that unit's topic
(``assignments.<unit>``), so the unit's own systems see warnings, overdue notices and
supervision orders addressed to it without reading the whole lifecycle. An official holiday
schedule a supervisor loaded goes to the compacted ``calendar.schedules`` topic, keyed by its
year (``OfficialScheduleLoaded``, no envelope: application/schedules.py), for dispatch.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.relay import Outgoing, Publication
from backbone.settings import ServiceSettings
from backbone.store import autocommit
from services.sla.application.publishing import (
    lifecycle_payload,
    payload_makers,
    ts,
    units_of,
)
from services.sla.application.schedules import SCHEDULE_EVENTS, calendar_topic, raw_schedule

__all__ = ["Facts", "translate_for", "ts", "units_of"]


FACTS_KEPT = 16_384  # per kind (~200 B each): the clocks and orders being published now


class Facts:
    """`ClockFacts`: a clock's number and an order's unit, both fixed for the aggregate's
    life and both in its first event, which the relay translates before any later one
    (`learn`): no read for them (was a BEGIN, SELECT, COMMIT per clock). After a restart
    the first event may be published already: then the read model is asked, once.

    At most ``kept`` of each are remembered, the least recently used forgotten first: they
    were kept for every clock and order ever seen (~200 bytes each, a few per ticket, for
    good: docs/profiles/memory.md). A forgotten one is read from the read model, whose row
    the clock's or order's first event committed with it: the same answer."""

    def __init__(self, pool: ConnectionPool, schema: str, kept: int = FACTS_KEPT):
        self.pool, self.schema, self.kept = pool, schema, kept
        self._clock_no: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._order_unit: OrderedDict[uuid.UUID, str] = OrderedDict()

    def clock_no(self, clock_id: uuid.UUID) -> int:
        if clock_id in self._clock_no:
            self._clock_no.move_to_end(clock_id)
            return self._clock_no[clock_id]
        found: int = self._one("sla_clocks", "clock_no", "clock_id", clock_id, 0)
        self._keep(self._clock_no, clock_id, found)
        return found

    def order_unit(self, order_id: uuid.UUID) -> str:
        if order_id in self._order_unit:
            self._order_unit.move_to_end(order_id)
            return self._order_unit[order_id]
        found: str = self._one("sla_orders", "unit", "order_id", order_id, "")
        self._keep(self._order_unit, order_id, found)
        return found

    def learn(self, event: Any) -> None:
        if event.originator_version != 1:
            return
        name = type(event).__qualname__
        if name == "TicketClock.Started":
            self._keep(self._clock_no, event.originator_id, event.clock_number)
        elif name == "SupervisionOrder.Issued":
            self._keep(self._order_unit, event.originator_id, event.unit or "")

    def _keep(self, kept: OrderedDict[uuid.UUID, Any], key: uuid.UUID, value: Any) -> None:
        kept[key] = value
        kept.move_to_end(key)
        while len(kept) > self.kept:
            kept.popitem(last=False)

    def _one(self, table: str, column: str, key: str, value: Any, default: Any) -> Any:
        with autocommit(self.pool) as conn:
            row = conn.execute(SQL("SELECT {} FROM {}.{} WHERE {} = %s").format(
                Identifier(column), Identifier(self.schema), Identifier(table),
                Identifier(key)), (value,)).fetchone()
        return row[0] if row else default


def translate_for(settings: ServiceSettings, facts: Facts, policy_version: str,
                  unit_topics: bool = True, units: Collection[str] | None = None
                  ) -> Callable[[Publication], list[Outgoing]]:
    """``units``: the registry's codes; unit topics only for those (``units_of``)."""
    makers = payload_makers(facts, policy_version)
    schedules_topic = calendar_topic(settings)
    # the read model's Facts learn from first events; another `ClockFacts` only answers
    learn = facts.learn if isinstance(facts, Facts) else None

    def translate(pub: Publication) -> list[Outgoing]:
        if type(pub.event).__qualname__ in SCHEDULE_EVENTS:
            raw = raw_schedule(pub.event, pub.context.trace_id)
            return [Outgoing(schedules_topic, str(raw.message.year), raw)]
        if learn is not None:
            learn(pub.event)
        payload = lifecycle_payload(pub.event, makers)
        if payload is None:
            return []
        env = pub.envelope(payload)
        out = [Outgoing(settings.lifecycle_topic, env.ticket_id, env)]
        if unit_topics:
            out.extend(Outgoing(settings.assignment_topic(unit), env.ticket_id, env)
                       for unit in units_of(payload, units))
        return out

    return translate
