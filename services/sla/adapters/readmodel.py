"""The SLA read model in PostgreSQL: one row per clock and per supervision order.

The rows are written by ``SlaRecorder`` in the same transaction as the aggregates' events, so
they are never behind or ahead of the event store. They serve two purposes:
- the timer index: ``next_due_at`` is the earliest instant something is owed (a warning, an
  overdue, a sign-for overdue, an escalation); the timer loop fires what is due by it;
- the supervisors' views (overdue, due soon, orders and answers).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
import psycopg
from psycopg.sql import SQL, Composed, Identifier, Literal


@dataclass(frozen=True)
class ClockRow:
    clock_id: Any
    ticket_id: str
    ticket_code: str
    clock_no: int
    grade: str
    status: str
    unit: str | None
    parent_unit: str | None
    accepted_at: dt.datetime
    due_at: dt.datetime
    explanation_due_at: dt.datetime | None
    sign_for_due_at: dt.datetime | None
    signed_for: bool
    provisional: bool
    extension_pending: int | None
    next_due_at: dt.datetime | None
    last_event_at: dt.datetime
    # when the citizen got the explanation a complex / not-allowed ticket owes, or a unit's
    # needs_longer (an interim answer), and whether after explanation_due_at; NULL: none
    # given (or a row written before these columns existed, until the clock's next change)
    explained_at: dt.datetime | None = None
    explained_late: bool | None = None


@dataclass(frozen=True)
class OrderRow:
    order_id: Any
    ticket_id: str
    ticket_code: str
    order_key: str
    unit: str
    kind: str
    status: str
    level: int
    addressees: list[str]
    issued_by: str
    reason: str
    issued_at: dt.datetime
    answer_due_at: dt.datetime
    provisional: bool
    answer_unit: str | None
    answer_text: str | None
    next_due_at: dt.datetime | None
    last_event_at: dt.datetime


def _columns(row_type: type) -> list[str]:
    return [f.name for f in fields(row_type)]


def tables(schema: str) -> list[Composed]:
    s = Identifier(schema)
    return [
        SQL("CREATE TABLE IF NOT EXISTS {}.sla_clocks ("
            " clock_id uuid PRIMARY KEY, ticket_id text NOT NULL, ticket_code text NOT NULL,"
            " clock_no int NOT NULL, grade text NOT NULL, status text NOT NULL, unit text,"
            " parent_unit text, accepted_at timestamptz NOT NULL, due_at timestamptz NOT NULL,"
            " explanation_due_at timestamptz, sign_for_due_at timestamptz,"
            " signed_for bool NOT NULL, provisional bool NOT NULL, extension_pending int,"
            " next_due_at timestamptz, last_event_at timestamptz NOT NULL,"
            " explained_at timestamptz, explained_late bool)").format(s),
        # added later (a migration, looked up first so that a running service's table is not
        # locked by every start; nullable columns without a default rewrite nothing)
        SQL("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = {} AND table_name = 'sla_clocks'"
            " AND column_name = 'explained_late') THEN ALTER TABLE {}.sla_clocks"
            " ADD COLUMN IF NOT EXISTS explained_at timestamptz,"
            " ADD COLUMN IF NOT EXISTS explained_late bool; END IF; END $$"
            ).format(Literal(schema), s),
        SQL("CREATE INDEX IF NOT EXISTS sla_clocks_next_due ON {}.sla_clocks (next_due_at)"
            " WHERE next_due_at IS NOT NULL").format(s),
        SQL("CREATE INDEX IF NOT EXISTS sla_clocks_ticket ON {}.sla_clocks (ticket_id)").format(s),
        # a ticket named by its code in the HTTP API (Views.ticket_id)
        SQL("CREATE INDEX IF NOT EXISTS sla_clocks_code ON {}.sla_clocks (ticket_code)"
            ).format(s),
        SQL("CREATE INDEX IF NOT EXISTS sla_clocks_status ON {}.sla_clocks (status, unit, due_at)"
            ).format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.sla_orders ("
            " order_id uuid PRIMARY KEY, ticket_id text NOT NULL, ticket_code text NOT NULL,"
            " order_key text NOT NULL, unit text NOT NULL, kind text NOT NULL,"
            " status text NOT NULL, level int NOT NULL, addressees text[] NOT NULL,"
            " issued_by text NOT NULL, reason text NOT NULL, issued_at timestamptz NOT NULL,"
            " answer_due_at timestamptz NOT NULL, provisional bool NOT NULL, answer_unit text,"
            " answer_text text, next_due_at timestamptz, last_event_at timestamptz NOT NULL)"
            ).format(s),
        SQL("CREATE INDEX IF NOT EXISTS sla_orders_next_due ON {}.sla_orders (next_due_at)"
            " WHERE next_due_at IS NOT NULL").format(s),
        SQL("CREATE INDEX IF NOT EXISTS sla_orders_ticket ON {}.sla_orders (ticket_id)").format(s),
        # Event time per lifecycle partition: the watermark the timers run on (event clock).
        SQL("CREATE TABLE IF NOT EXISTS {}.sla_partition_times ("
            " topic text NOT NULL, partition int NOT NULL, event_time timestamptz NOT NULL,"
            " PRIMARY KEY (topic, partition))").format(s),
        # Official holiday schedules an operator loaded (they outlive a restart).
        SQL("CREATE TABLE IF NOT EXISTS {}.sla_official_schedules ("
            " year int PRIMARY KEY, body jsonb NOT NULL, loaded_by text NOT NULL,"
            " loaded_at timestamptz NOT NULL DEFAULT now())").format(s),
    ]


# each column's type in the tables above, for the rows' JSON recordset (`write_rows`)
_TYPES = {"clock_id": "uuid", "order_id": "uuid", "clock_no": "int", "level": "int",
          "extension_pending": "int", "signed_for": "bool", "provisional": "bool",
          "explained_at": "timestamptz", "explained_late": "bool",
          "addressees": "text[]", "accepted_at": "timestamptz", "due_at": "timestamptz",
          "explanation_due_at": "timestamptz", "sign_for_due_at": "timestamptz",
          "next_due_at": "timestamptz", "last_event_at": "timestamptz",
          "issued_at": "timestamptz", "answer_due_at": "timestamptz"}


@functools.lru_cache(maxsize=16)
def _upsert_for(schema: str, table: str, row_type: type, key: str) -> SQL:
    """The upsert of any number of rows of a row type, given as one JSON array of arrays,
    composed once per schema into plain SQL. One text for every count of rows: psycopg
    parses it once (a VALUES list per count, past 50 parameters, was parsed again at every
    execute: 16 % of the SLA consumer's CPU) and PostgreSQL prepares it."""
    return SQL(_upsert(schema, table, _columns(row_type), key).as_string(None))


def _upsert(schema: str, table: str, columns: list[str], key: str) -> Composed:
    keep_code = SQL("ticket_code = COALESCE(NULLIF(EXCLUDED.ticket_code, ''), {}.ticket_code)"
                    ).format(Identifier(table))
    updates = [keep_code] + [
        SQL("{} = EXCLUDED.{}").format(Identifier(c), Identifier(c))
        for c in columns if c not in (key, "ticket_code")
    ]
    # r.c is the row's c-th value (json arrays, not objects: no key repeated per row)
    values = SQL(", ").join(
        SQL(f"(r.v->>{i})::{_TYPES.get(c, 'text')}") if _TYPES.get(c) != "text[]"
        else SQL(f"ARRAY(SELECT jsonb_array_elements_text(r.v->{i}))")
        for i, c in enumerate(columns))
    return SQL("INSERT INTO {}.{} ({}) SELECT {} FROM jsonb_array_elements(%s::jsonb) AS r(v)"
               " ON CONFLICT ({}) DO UPDATE SET {}").format(
        Identifier(schema), Identifier(table), SQL(", ").join(map(Identifier, columns)),
        values, Identifier(key), SQL(", ").join(updates))


def write_rows(cur: psycopg.Cursor[Any], schema: str, clocks: Sequence[ClockRow],
               orders: Sequence[OrderRow]) -> None:
    """Upsert the rows with the cursor of the transaction that stores the events: one
    statement per table, all its rows in one JSON parameter (a save holds one row per changed
    aggregate, so no key comes twice; executemany was a statement per row)."""
    for rows, table, row_type, key in ((clocks, "sla_clocks", ClockRow, "clock_id"),
                                       (orders, "sla_orders", OrderRow, "order_id")):
        if rows:
            cur.execute(_upsert_for(schema, table, row_type, key),
                        (orjson.dumps([_values(r) for r in rows]).decode(),))


def _values(row: ClockRow | OrderRow) -> tuple[Any, ...]:
    """The row's fields in order: `dataclasses.astuple` without its deep copy of every value
    (a fifth of a batch's save)."""
    # typed `type`: mypy takes type[ClockRow] for unhashable (it checks the instances'
    # __hash__ against Hashable, a false positive); a class is hashable
    row_type: type = type(row)
    return tuple(getattr(row, name) for name in _names(row_type))


@functools.cache
def _names(row_type: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(row_type))


# -- queries -------------------------------------------------------------------------------
def due_tickets(conn: psycopg.Connection[Any], schema: str, now: dt.datetime,
                limit: int) -> list[tuple[str, str]]:
    """Tickets with something due by ``now``: (ticket_id, ticket_code), earliest first."""
    s = Identifier(schema)
    rows = conn.execute(
        SQL("SELECT ticket_id, max(ticket_code), min(next_due_at) AS first FROM ("
            " SELECT ticket_id, ticket_code, next_due_at FROM {}.sla_clocks"
            "  WHERE next_due_at <= %(now)s"
            " UNION ALL SELECT ticket_id, ticket_code, next_due_at FROM {}.sla_orders"
            "  WHERE next_due_at <= %(now)s) d"
            " GROUP BY ticket_id ORDER BY first, ticket_id LIMIT %(limit)s").format(s, s),
        {"now": now, "limit": limit}).fetchall()
    return [(r[0], r[1]) for r in rows]


def owed_between(conn: psycopg.Connection[Any], schema: str, after: dt.datetime | None,
                 until: dt.datetime, limit: int, offset: int = 0) -> list[tuple[str, Any]]:
    """(ticket_id, instant) of what is owed after ``after`` (None: any time) and by
    ``until``, clocks' and orders', earliest first: the held-seconds gauge's instant among a
    replica's own tickets (entrypoints/timers.py)."""
    s = Identifier(schema)
    low = SQL("next_due_at > %(after)s AND ") if after is not None else SQL("")
    rows = conn.execute(
        SQL("SELECT ticket_id, next_due_at FROM {}.sla_clocks WHERE {}next_due_at <= %(until)s"
            " UNION ALL SELECT ticket_id, next_due_at FROM {}.sla_orders"
            " WHERE {}next_due_at <= %(until)s"
            " ORDER BY 2, 1 LIMIT %(limit)s OFFSET %(offset)s").format(s, low, s, low),
        {"after": after, "until": until, "limit": limit, "offset": offset}).fetchall()
    return [(r[0], r[1]) for r in rows]


def next_due(conn: psycopg.Connection[Any], schema: str) -> dt.datetime | None:
    """The earliest instant anything is owed (a clock's or an order's), None if nothing is."""
    s = Identifier(schema)
    row = conn.execute(
        SQL("SELECT least((SELECT min(next_due_at) FROM {}.sla_clocks),"
            " (SELECT min(next_due_at) FROM {}.sla_orders))").format(s, s)).fetchone()
    return row[0] if row else None


def clock_ids(conn: psycopg.Connection[Any], schema: str, ticket_id: str) -> list[Any]:
    rows = conn.execute(
        SQL("SELECT clock_id FROM {}.sla_clocks WHERE ticket_id = %s ORDER BY clock_no")
        .format(Identifier(schema)), (ticket_id,)).fetchall()
    return [r[0] for r in rows]


def ticket_state(conn: psycopg.Connection[Any], schema: str, ticket_id: str
                 ) -> tuple[int, list[Any]]:
    """In one round trip: how many clocks the ticket has, and its open orders' ids (as
    `open_order_ids`)."""
    row = conn.execute(_ticket_state(schema), {"t": ticket_id}).fetchone()
    return (int(row[0] or 0), list(row[1] or [])) if row else (0, [])


@functools.cache
def _ticket_state(schema: str) -> SQL:
    s = Identifier(schema)
    return SQL(SQL(
        "SELECT (SELECT max(clock_no) FROM {}.sla_clocks WHERE ticket_id = %(t)s),"
        " ARRAY(SELECT order_id FROM {}.sla_orders WHERE ticket_id = %(t)s"
        " AND status <> 'closed' ORDER BY issued_at, order_key)").format(s, s).as_string(None))


def tickets_state(conn: psycopg.Connection[Any], schema: str, ticket_ids: list[str]
                  ) -> dict[str, tuple[int, list[Any]]]:
    """`ticket_state` of several tickets in one round trip (a consumer batch's tickets)."""
    rows = conn.execute(_tickets_state(schema), (ticket_ids,)).fetchall()
    return {r[0]: (int(r[1] or 0), list(r[2] or [])) for r in rows}


@functools.cache
def _tickets_state(schema: str) -> SQL:
    s = Identifier(schema)
    return SQL(SQL(
        "SELECT t, (SELECT max(clock_no) FROM {}.sla_clocks WHERE ticket_id = t),"
        " ARRAY(SELECT order_id FROM {}.sla_orders WHERE ticket_id = t"
        " AND status <> 'closed' ORDER BY issued_at, order_key)"
        " FROM unnest(%s::text[]) AS t").format(s, s).as_string(None))


def open_order_ids(conn: psycopg.Connection[Any], schema: str, ticket_id: str) -> list[Any]:
    rows = conn.execute(
        SQL("SELECT order_id FROM {}.sla_orders WHERE ticket_id = %s AND status <> 'closed'"
            " ORDER BY issued_at, order_key").format(Identifier(schema)), (ticket_id,)).fetchall()
    return [r[0] for r in rows]


def fetch_dicts(conn: psycopg.Connection[Any], query: Composed,
                params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(query, params)
        return list(cur.fetchall())
