"""The hall consumer (SQL mode): every lifecycle event -> the hall row, followers'
notifications and units' remarks, committed with the consumer's progress in one transaction.

It also advances the service clock's watermark with every event time it sees, so that in
MINSHENG_CLOCK=event mode the unrated-timer loop runs on event time.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
import psycopg
from psycopg.sql import SQL, Identifier

from backbone import events
from backbone.clock import Clock
from backbone.consumer import Handlers
from backbone.public_privacy import mask_for_public
from services.feedback.adapters.read_models import to_json
from services.feedback.adapters.registry import Registry
from services.feedback.application import handlers as handler_tables
from services.feedback.application.hall_projection import (
    FACT_UPDATES,
    TOLD_IF_CHANGED,
    HallFacts,
    event_label,
    public_columns,
)
from services.feedback.domain.hall import HallRules


def _updated(facts: HallFacts, update: Any, d: events.DecodedEvent) -> bool:
    """Apply the event's update to the facts; whether they changed (an event that changes
    nothing, e.g. a redelivered one or a second progress note, leaves the row, and its
    `updated_at`, as they were: no write)."""
    before = facts.snapshot()
    facts.ticket_code = facts.ticket_code or d.envelope.ticket_code
    update(facts, d.payload)
    return facts.snapshot() != before


_PUBLIC = ("shown", "text_public", "reply_public", "category", "category_code", "county",
           "county_code", "place", "unit_name", "units", "status", "verdict", "overdue",
           "supervised", "search")


class HallProjector:
    def __init__(self, *, schema: str, clock: Clock, rules: HallRules, registry: Registry):
        self.s = Identifier(schema)
        self.clock = clock
        self.rules = rules
        self.registry = registry
        # composed once, each ONE statement per batch: the batch's rows go as one JSON array
        # (types from the table / the record's column list), not a statement per ticket or
        # per event (a statement per changed ticket, composed each time, was 40 % of the
        # hall's CPU)
        names = ["ticket_id", "ticket_code", "facts", "updated_at", *_PUBLIC]
        columns = SQL(", ").join(map(Identifier, names))
        self._save_sql = SQL(
            "INSERT INTO {s}.hall ({c}) SELECT {c} FROM jsonb_populate_recordset(NULL::{s}.hall,"
            " %s::jsonb) ON CONFLICT (ticket_id) DO UPDATE SET {u}").format(
            s=self.s, c=columns, u=SQL(", ").join(
                SQL("{} = EXCLUDED.{}").format(Identifier(n), Identifier(n)) for n in names[1:]))
        self._notice_sql = SQL(
            "INSERT INTO {s}.notifications (follower_id, event_id, ticket_id, ticket_code,"
            " event_type, summary, occurred_at) SELECT f.follower_id, e.event_id, e.ticket_id,"
            " e.ticket_code, e.event_type, e.summary, e.occurred_at FROM jsonb_to_recordset("
            "%s::jsonb) AS e(n int, event_id text, ticket_id text, ticket_code text,"
            " event_type text, summary text, occurred_at timestamptz, units text[],"
            " categories text[]) JOIN {s}.follows f ON (f.kind = 'ticket' AND"
            " f.target = e.ticket_id) OR (f.kind = 'unit' AND f.target = ANY(e.units))"
            " OR (f.kind = 'category' AND f.target = ANY(e.categories))"
            # in the events' order (a follower reads after an id); a follower matched twice
            # for one event is kept once (DO NOTHING skips a conflict within the statement)
            " ORDER BY e.n ON CONFLICT DO NOTHING").format(s=self.s)

        self._rows_sql = SQL("SELECT ticket_id, facts::text, updated_at FROM {}.hall"
                             " WHERE ticket_id = ANY(%s) ORDER BY ticket_id FOR UPDATE"
                             ).format(self.s)
        # a ticket's text and reply are masked again at every save of its row: remembered
        # (masking is a pure function of the text; the hall's CPU went largely to it)
        self._mask = functools.lru_cache(maxsize=4096)(mask_for_public)

    def handlers(self) -> Handlers:
        return handler_tables.hall(self)

    def project_batch(self, pairs: list[tuple[events.DecodedEvent, Any]],
                      cur: psycopg.Cursor[Any]) -> None:
        """A batch at once: each ticket's row read once (locked) and written once, whatever
        number of its events the batch holds; notifications and remarks in one write each."""
        batch = [(d, d.ticket_id, d.occurred_at) for d, _ in pairs]  # properties: once each
        tickets = list(dict.fromkeys(t for _, t, _ in batch))
        rows = {r[0]: (orjson.loads(r[1]), r[2]) for r in cur.execute(
            self._rows_sql, (tickets,)).fetchall()}
        state: dict[str, tuple[HallFacts, Any]] = {}
        changed: set[str] = set()
        notices: list[dict[str, Any]] = []
        remarks: list[tuple[Any, ...]] = []
        for d, ticket_id, at in batch:
            self.clock.observe(at)
            if ticket_id not in state:
                row = rows.get(ticket_id)
                state[ticket_id] = (HallFacts.from_json(ticket_id, row[0] if row else None),
                                    row[1] if row else None)
            facts, updated_at = state[ticket_id]
            event_type = d.event_type
            update = FACT_UPDATES.get(event_type)
            news = update is not None and _updated(facts, update, d)
            if news or (update is not None and ticket_id not in rows):
                updated_at = max(updated_at, at) if updated_at else at
                state[ticket_id] = (facts, updated_at)
                changed.add(ticket_id)
            if event_type == "RemarkAdded":
                remarks.append(self._remark_row(d))
            if news or event_type not in TOLD_IF_CHANGED:
                notices.append(self._notice_row(d, facts, ticket_id, at))
        self._save_all(cur, [state[t] for t in sorted(changed)])
        if remarks:
            cur.executemany(self._remark_sql(), remarks)
        self._notify_all(cur, notices)

    def project(self, d: events.DecodedEvent, cur: psycopg.Cursor[Any], record: Any) -> None:
        self.clock.observe(d.occurred_at)
        row = cur.execute(SQL("SELECT facts, updated_at FROM {}.hall WHERE ticket_id = %s"
                              " FOR UPDATE").format(self.s), (d.ticket_id,)).fetchone()
        facts = HallFacts.from_json(d.ticket_id, row[0] if row else None)
        update = FACT_UPDATES.get(d.event_type)
        news = update is not None and _updated(facts, update, d)
        if news or (update is not None and row is None):
            updated_at = max(row[1], d.occurred_at) if row else d.occurred_at
            self._save(cur, facts, updated_at)
        if d.event_type == "RemarkAdded":
            self._remark(cur, d)
        if news or d.event_type not in TOLD_IF_CHANGED:
            self._notify(cur, d, facts)

    def _save(self, cur: psycopg.Cursor[Any], facts: HallFacts, updated_at: Any) -> None:
        self._save_all(cur, [(facts, updated_at)])

    def _save_all(self, cur: psycopg.Cursor[Any], rows: list[tuple[HallFacts, Any]]) -> None:
        """The tickets' hall rows (facts and what the hall may show), in one upsert."""
        if not rows:
            return
        out = []
        for facts, updated_at in rows:
            row = public_columns(facts, updated_at, rules=self.rules, registry=self.registry,
                                 mask=self._mask)
            row.update(ticket_id=facts.ticket_id, ticket_code=facts.ticket_code,
                       facts=facts.to_json(), updated_at=updated_at)
            out.append(row)
        cur.execute(self._save_sql, (to_json(out),))

    def _remark_sql(self) -> psycopg.sql.Composed:
        return SQL("INSERT INTO {}.remarks VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
                   " ON CONFLICT DO NOTHING").format(self.s)

    def _remark_row(self, d: events.DecodedEvent) -> tuple[Any, ...]:
        p = d.payload
        units = list(p.units) or ([p.unit] if p.unit else [])
        return (d.event_id, d.ticket_id, d.envelope.ticket_code, units, p.follower_role,
                p.follower_id, mask_for_public(p.remark_masked), d.occurred_at)

    def _remark(self, cur: psycopg.Cursor[Any], d: events.DecodedEvent) -> None:
        cur.execute(self._remark_sql(), self._remark_row(d))

    def _notice_row(self, d: events.DecodedEvent, facts: HallFacts, ticket_id: str,
                    at: Any) -> dict[str, Any]:
        categories = [c for c in (facts.category, facts.category_hint,
                                  self.registry.category_name(facts.category)) if c]
        event_type = d.event_type
        return {"event_id": d.event_id, "ticket_id": ticket_id,
                "ticket_code": d.envelope.ticket_code or facts.ticket_code,
                "event_type": event_type, "summary": event_label(event_type, d.payload),
                "occurred_at": at, "units": list(facts.units), "categories": categories}

    def _notify(self, cur: psycopg.Cursor[Any], d: events.DecodedEvent,
                facts: HallFacts) -> None:
        self._notify_all(cur, [self._notice_row(d, facts, d.ticket_id, d.occurred_at)])

    def _notify_all(self, cur: psycopg.Cursor[Any], notices: list[dict[str, Any]]) -> None:
        """Followers' notifications of the events, in one statement."""
        if notices:
            cur.execute(self._notice_sql, (to_json([{"n": i, **x}
                                                    for i, x in enumerate(notices)]),))
