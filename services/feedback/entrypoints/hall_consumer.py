"""The hall consumer (SQL mode): every lifecycle event -> the hall row, followers'
notifications and units' remarks, committed with the consumer's progress in one transaction.

It also advances the service clock's watermark with every event time it sees, so that in
MINSHENG_CLOCK=event mode the unrated-timer loop runs on event time.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from backbone import events
from backbone.clock import Clock
from backbone.consumer import Handlers
from services.feedback.adapters.read_models import to_json
from services.feedback.adapters.registry import Registry
from services.feedback.application import handlers as handler_tables
from services.feedback.application.hall_projection import (
    EVENT_LABELS_ZH,
    FACT_UPDATES,
    HallFacts,
    public_columns,
)
from services.feedback.domain.hall import HallRules
from services.feedback.domain.hall_privacy import mask_for_hall

_PUBLIC = ("shown", "text_public", "reply_public", "category", "category_code", "county",
           "county_code", "place", "unit_name", "units", "status", "verdict", "overdue",
           "supervised", "search")


def gather(ms: int) -> tuple[int, int] | None:
    """What a fetch of this consumer waits for while events flow: 64 KB or `ms` (0: none)."""
    return (64 * 1024, ms) if ms > 0 else None


class HallProjector:
    def __init__(self, *, schema: str, clock: Clock, rules: HallRules, registry: Registry):
        self.s = Identifier(schema)
        self.clock = clock
        self.rules = rules
        self.registry = registry

    def handlers(self) -> Handlers:
        return handler_tables.hall(self)

    def project_batch(self, pairs: list[tuple[events.DecodedEvent, Any]],
                      cur: psycopg.Cursor[Any]) -> None:
        """A batch at once: each ticket's row read once (locked) and written once, whatever
        number of its events the batch holds; notifications and remarks in one write each."""
        tickets = list(dict.fromkeys(d.ticket_id for d, _ in pairs))
        rows = {r[0]: (r[1], r[2]) for r in cur.execute(
            SQL("SELECT ticket_id, facts, updated_at FROM {}.hall WHERE ticket_id = ANY(%s)"
                " ORDER BY ticket_id FOR UPDATE").format(self.s), (tickets,)).fetchall()}
        state: dict[str, tuple[HallFacts, Any]] = {}
        changed: set[str] = set()
        notices: list[tuple[Any, ...]] = []
        remarks: list[tuple[Any, ...]] = []
        for d, _ in pairs:
            self.clock.observe(d.occurred_at)
            if d.ticket_id not in state:
                row = rows.get(d.ticket_id)
                state[d.ticket_id] = (HallFacts.from_json(d.ticket_id, row[0] if row else None),
                                      row[1] if row else None)
            facts, updated_at = state[d.ticket_id]
            update = FACT_UPDATES.get(d.event_type)
            if update is not None:
                facts.ticket_code = facts.ticket_code or d.envelope.ticket_code
                update(facts, d.payload)
                updated_at = max(updated_at, d.occurred_at) if updated_at else d.occurred_at
                state[d.ticket_id] = (facts, updated_at)
                changed.add(d.ticket_id)
            if d.event_type == "RemarkAdded":
                remarks.append(self._remark_row(d))
            notices.append(self._notice_row(d, facts))
        for ticket_id in tickets:
            if ticket_id in changed:
                self._save(cur, *state[ticket_id])
        if remarks:
            cur.executemany(self._remark_sql(), remarks)
        cur.executemany(self._notice_sql(), notices)

    def project(self, d: events.DecodedEvent, cur: psycopg.Cursor[Any], record: Any) -> None:
        self.clock.observe(d.occurred_at)
        row = cur.execute(SQL("SELECT facts, updated_at FROM {}.hall WHERE ticket_id = %s"
                              " FOR UPDATE").format(self.s), (d.ticket_id,)).fetchone()
        facts = HallFacts.from_json(d.ticket_id, row[0] if row else None)
        update = FACT_UPDATES.get(d.event_type)
        if update is not None:
            facts.ticket_code = facts.ticket_code or d.envelope.ticket_code
            update(facts, d.payload)
            updated_at = max(row[1], d.occurred_at) if row else d.occurred_at
            self._save(cur, facts, updated_at)
        if d.event_type == "RemarkAdded":
            self._remark(cur, d)
        self._notify(cur, d, facts)

    def _save(self, cur: psycopg.Cursor[Any], facts: HallFacts, updated_at: Any) -> None:
        public = public_columns(facts, updated_at, rules=self.rules, registry=self.registry)
        names = ["ticket_id", "ticket_code", "facts", "updated_at", *_PUBLIC]
        values = [facts.ticket_id, facts.ticket_code, to_json(facts.to_json()), updated_at,
                  *[public[n] for n in _PUBLIC]]
        cur.execute(
            SQL("INSERT INTO {}.hall ({}) VALUES ({}) ON CONFLICT (ticket_id) DO UPDATE SET {}")
            .format(self.s, SQL(", ").join(map(Identifier, names)),
                    SQL(", ").join(SQL("%s") for _ in names),
                    SQL(", ").join(SQL("{} = EXCLUDED.{}").format(Identifier(n), Identifier(n))
                                   for n in names[1:])),
            values)

    def _remark_sql(self) -> psycopg.sql.Composed:
        return SQL("INSERT INTO {}.remarks VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
                   " ON CONFLICT DO NOTHING").format(self.s)

    def _remark_row(self, d: events.DecodedEvent) -> tuple[Any, ...]:
        p = d.payload
        units = list(p.units) or ([p.unit] if p.unit else [])
        return (d.event_id, d.ticket_id, d.envelope.ticket_code, units, p.follower_role,
                p.follower_id, mask_for_hall(p.remark_masked), d.occurred_at)

    def _remark(self, cur: psycopg.Cursor[Any], d: events.DecodedEvent) -> None:
        cur.execute(self._remark_sql(), self._remark_row(d))

    def _notice_sql(self) -> psycopg.sql.Composed:
        return SQL("INSERT INTO {}.notifications (follower_id, event_id, ticket_id, ticket_code,"
                   " event_type, summary, occurred_at) SELECT DISTINCT follower_id, %s, %s, %s,"
                   " %s, %s, %s FROM {}.follows WHERE (kind = 'ticket' AND target = %s)"
                   " OR (kind = 'unit' AND target = ANY(%s)) OR (kind = 'category' AND"
                   " target = ANY(%s)) ON CONFLICT DO NOTHING").format(self.s, self.s)

    def _notice_row(self, d: events.DecodedEvent, facts: HallFacts) -> tuple[Any, ...]:
        categories = [c for c in (facts.category, facts.category_hint,
                                  self.registry.category_name(facts.category)) if c]
        label = EVENT_LABELS_ZH.get(d.event_type, d.event_type)
        return (d.event_id, d.ticket_id, d.envelope.ticket_code or facts.ticket_code,
                d.event_type, label, d.occurred_at, d.ticket_id, list(facts.units), categories)

    def _notify(self, cur: psycopg.Cursor[Any], d: events.DecodedEvent,
                facts: HallFacts) -> None:
        cur.execute(self._notice_sql(), self._notice_row(d, facts))
