"""Feedback's read models in its own PostgreSQL schema (tables, and the queries on them).

- `feedback_state`: one row per ticket's feedback record, written from the aggregate in the
  transaction that saves it: ticket code -> id, the callback candidates, the rating timers.
- `follows`: what each observer / deputy follows, written with the `Follower` it comes from.
- `hall`: what the public hall knows of each ticket: `facts` (everything the lifecycle
  events told, internal) and the public columns computed from them (masked, district level).
- `notifications`: followers' notifications of followed tickets' events.
- `remarks`: observers' and deputies' remarks, for the units they name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import Statement, autocommit


def ddl(schema: str) -> list[Composed]:
    s = Identifier(schema)
    return [
        SQL("CREATE TABLE IF NOT EXISTS {}.feedback_state ("
            " ticket_id text PRIMARY KEY, feedback_id uuid NOT NULL, ticket_code text NOT NULL,"
            " unit text NOT NULL DEFAULT '', channel text NOT NULL DEFAULT '',"
            " status text NOT NULL, reply_round int NOT NULL DEFAULT 0, verdict text,"
            " reopen_count int NOT NULL DEFAULT 0, already_called boolean NOT NULL DEFAULT false,"
            " rating_due_at timestamptz, updated_at timestamptz NOT NULL)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS feedback_state_code ON {}.feedback_state (ticket_code)"
            ).format(s),
        SQL("CREATE INDEX IF NOT EXISTS feedback_state_due ON {}.feedback_state (rating_due_at)"
            " WHERE rating_due_at IS NOT NULL").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.follows ("
            " follower_id text NOT NULL, role text NOT NULL, kind text NOT NULL,"
            " target text NOT NULL, PRIMARY KEY (follower_id, kind, target))").format(s),
        SQL("CREATE INDEX IF NOT EXISTS follows_target ON {}.follows (kind, target)").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.hall ("
            " ticket_id text PRIMARY KEY, ticket_code text NOT NULL DEFAULT '',"
            " facts jsonb NOT NULL, shown boolean NOT NULL DEFAULT false,"
            " text_public text NOT NULL DEFAULT '', reply_public text NOT NULL DEFAULT '',"
            " category text NOT NULL DEFAULT '', category_code text NOT NULL DEFAULT '',"
            " county text NOT NULL DEFAULT '', county_code text NOT NULL DEFAULT '',"
            " place text NOT NULL DEFAULT '', unit_name text NOT NULL DEFAULT '',"
            " units text[] NOT NULL DEFAULT '{{}}', status text NOT NULL DEFAULT '',"
            " verdict text, overdue boolean NOT NULL DEFAULT false,"
            " supervised boolean NOT NULL DEFAULT false, search text NOT NULL DEFAULT '',"
            " updated_at timestamptz NOT NULL)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS hall_page ON {}.hall (updated_at DESC, ticket_code DESC)"
            " WHERE shown").format(s),
        SQL("CREATE INDEX IF NOT EXISTS hall_code ON {}.hall (ticket_code)").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.notifications ("
            " id bigserial PRIMARY KEY, follower_id text NOT NULL, event_id text NOT NULL,"
            " ticket_id text NOT NULL, ticket_code text NOT NULL, event_type text NOT NULL,"
            " summary text NOT NULL, occurred_at timestamptz NOT NULL,"
            " UNIQUE (follower_id, event_id))").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.remarks ("
            " event_id text PRIMARY KEY, ticket_id text NOT NULL, ticket_code text NOT NULL,"
            " units text[] NOT NULL, follower_role text NOT NULL, follower_id text NOT NULL,"
            " remark text NOT NULL, occurred_at timestamptz NOT NULL)").format(s),
    ]


def create_tables(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn, conn.transaction():
        for statement in ddl(schema):
            conn.execute(statement)


# --- feedback_state and follows (written with the aggregates they come from) ---------------

@dataclass(frozen=True)
class FeedbackStateRow:
    ticket_id: str
    feedback_id: Any
    ticket_code: str
    unit: str
    channel: str
    status: str
    reply_round: int
    verdict: str | None
    reopen_count: int
    already_called: bool
    rating_due_at: datetime | None
    updated_at: datetime


def upsert_feedback_state(cur: psycopg.Cursor[Any], schema: str,
                          rows: Iterable[FeedbackStateRow]) -> None:
    statement = feedback_state_statement(schema, rows)
    if statement is not None:
        cur.execute(statement.sql, statement.params, prepare=True)


def feedback_state_statement(schema: str, rows: Iterable[FeedbackStateRow]
                             ) -> Statement | None:
    """The rows in one statement (each ticket once), for the transaction that saves the
    records (None: no rows). A VALUES row of plain parameters: the same rows as twelve typed
    arrays cost ~0.7 ms to adapt in psycopg (its list dumpers), ~0.07 ms this way."""
    rows = list(rows)
    if not rows:
        return None
    if len(rows) == 1:
        return Statement(_upsert_state_sql(schema, 1),
                         [getattr(rows[0], name) for name in _STATE_COLUMNS])
    # several rows (a consumer batch's records): one JSON parameter, so one statement text
    # whatever the count (12 parameters a row pass psycopg's 50-parameter query cache at
    # five rows: the text was parsed again at every batch); the table's types cast them
    return Statement(state_rows_sql(schema), (state_rows_json(rows).decode(),))


def state_rows_sql(schema: str) -> SQL:
    """The upsert of any number of rows given as one JSON array (`state_rows_json`)."""
    return _upsert_state_sql(schema, 0)


def state_rows_json(rows: Iterable[FeedbackStateRow]) -> bytes:
    """The rows as the JSON array `state_rows_sql` reads: the columns by name, a uuid as
    text, times in ISO 8601 with their offset (orjson)."""
    return orjson.dumps([{name: getattr(r, name) for name in _STATE_COLUMNS} for r in rows],
                        default=str)


@functools.lru_cache(maxsize=64)
def _upsert_state_sql(schema: str, n: int) -> SQL:
    """n rows of parameters; 0: the rows as one JSON array."""
    row = "(" + ", ".join(["%s"] * len(_STATE_COLUMNS)) + ")"
    source = ("SELECT * FROM jsonb_populate_recordset(NULL::{s}.feedback_state, %s::jsonb)"
              if n == 0 else "VALUES " + ", ".join([row] * n))
    return SQL(SQL(
        "INSERT INTO {s}.feedback_state " + source +
        " ON CONFLICT (ticket_id) DO UPDATE SET ticket_code = EXCLUDED.ticket_code,"
        " unit = EXCLUDED.unit, channel = EXCLUDED.channel, status = EXCLUDED.status,"
        " reply_round = EXCLUDED.reply_round, verdict = EXCLUDED.verdict,"
        " reopen_count = EXCLUDED.reopen_count,"
        " already_called = EXCLUDED.already_called,"
        " rating_due_at = EXCLUDED.rating_due_at, updated_at = EXCLUDED.updated_at"
    ).format(s=Identifier(schema)).as_string(None))


_STATE_COLUMNS = ("ticket_id", "feedback_id", "ticket_code", "unit", "channel", "status",
                  "reply_round", "verdict", "reopen_count", "already_called", "rating_due_at",
                  "updated_at")


def replace_follows(cur: psycopg.Cursor[Any], schema: str, follower_id: str, role: str,
                    following: Sequence[Sequence[str]]) -> None:
    for statement in follows_statements(schema, follower_id, role, following):
        cur.execute(statement.sql, statement.params)


def follows_statements(schema: str, follower_id: str, role: str,
                       following: Sequence[Sequence[str]]) -> list[Statement]:
    """A follower's follows replaced by what it follows now (for the transaction that saves
    the follower)."""
    s = Identifier(schema)
    out = [Statement(SQL("DELETE FROM {}.follows WHERE follower_id = %s").format(s),
                     (follower_id,))]
    if following:
        out.append(Statement(
            SQL("INSERT INTO {}.follows SELECT %s, %s, k, t FROM unnest(%s::text[],"
                " %s::text[]) AS f(k, t) ON CONFLICT DO NOTHING").format(s),
            (follower_id, role, [k for k, _ in following], [t for _, t in following])))
    return out


def stored_ids(pool: ConnectionPool, schema: str, events_table: str
               ) -> Callable[[list[UUID]], set[UUID]]:
    """Which of some aggregate ids the event store holds: one statement (by its primary key's
    index, in autocommit), for all the ids a consumer's batch is about to look up."""
    query = SQL("SELECT DISTINCT originator_id FROM {}.{} WHERE originator_id = ANY(%s)"
                ).format(Identifier(schema), Identifier(events_table))

    def stored(ids: list[UUID]) -> set[UUID]:
        with autocommit(pool) as conn:
            return {r[0] for r in conn.execute(query, (ids,), prepare=True).fetchall()}

    return stored


class Queries:
    """Reads for the HTTP API and the timer loop."""

    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.schema = schema
        self.s = Identifier(schema)

    def _all(self, query: Composed, params: Any = ()) -> list[dict[str, Any]]:
        # autocommit: a lone read is one round trip, not BEGIN, SELECT and COMMIT
        with autocommit(self.pool) as conn, \
                conn.cursor(row_factory=psycopg.rows.dict_row) as c:
            return c.execute(query, params).fetchall()

    def feedback_by_code(self, code: str) -> dict[str, Any] | None:
        rows = self._all(SQL("SELECT * FROM {}.feedback_state WHERE ticket_code = %s"
                             " ORDER BY updated_at DESC LIMIT 1").format(self.s), (code,))
        return rows[0] if rows else None

    def overdue_ratings(self, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
        return self._all(SQL("SELECT ticket_id, ticket_code, feedback_id FROM {}.feedback_state"
                             " WHERE status = 'awaiting_rating' AND rating_due_at < %s"
                             " ORDER BY rating_due_at LIMIT %s").format(self.s), (now, limit))

    def next_rating_due(self) -> datetime | None:
        """When the earliest open rating window closes (None: no reply awaits a rating)."""
        rows = self._all(SQL("SELECT min(rating_due_at) AS due FROM {}.feedback_state"
                             " WHERE status = 'awaiting_rating'").format(self.s), ())
        return rows[0]["due"] if rows else None

    def callback_candidates(self, unit: str = "", limit: int = 5000) -> list[dict[str, Any]]:
        return self._all(SQL(
            # closed too: the sampled callbacks survey tickets a satisfied rating closed
            "SELECT * FROM {}.feedback_state WHERE status IN"
            " ('awaiting_rating', 'rated', 'unrated', 'closed') AND NOT already_called"
            " AND (verdict IS NOT NULL OR reopen_count > 0) AND (%s = '' OR unit = %s)"
            " ORDER BY updated_at LIMIT %s").format(self.s), (unit, unit, limit))

    def hall_ticket(self, code: str) -> dict[str, Any] | None:
        rows = self._all(SQL("SELECT * FROM {}.hall WHERE ticket_code = %s LIMIT 1")
                         .format(self.s), (code,))
        return rows[0] if rows else None

    def hall_ticket_by_id(self, ticket_id: str) -> dict[str, Any] | None:
        rows = self._all(SQL("SELECT * FROM {}.hall WHERE ticket_id = %s").format(self.s),
                         (ticket_id,))
        return rows[0] if rows else None

    def hall_page(self, *, keyword: str, category: str, county: str, status: str,
                  after: tuple[datetime, str] | None, size: int,
                  code: str | None = None) -> tuple[list[dict], int]:
        """`keyword` is found in the public text, or is `code` (the keyword as a ticket's
        code, when it has a code's shape)."""
        where = SQL(" WHERE shown AND (%(category)s = '' OR category = %(category)s"
                    " OR category_code = %(category)s) AND (%(county)s = ''"
                    " OR county = %(county)s OR county_code = %(county)s)"
                    " AND (%(status)s = '' OR status = %(status)s)"
                    " AND (%(keyword)s = '' OR strpos(search, %(keyword)s) > 0"
                    " OR ticket_code = %(code)s)")
        params: dict[str, Any] = {"category": category, "county": county, "status": status,
                                  "keyword": keyword, "code": code, "size": size + 1}
        page_where: Composed | SQL = where
        if after is not None:
            page_where = where + SQL(" AND (updated_at, ticket_code) < (%(t)s, %(c)s)")
            params.update(t=after[0], c=after[1])
        rows = self._all(SQL("SELECT * FROM {}.hall").format(self.s) + page_where
                         + SQL(" ORDER BY updated_at DESC, ticket_code DESC LIMIT %(size)s"),
                         params)
        total = self._all(SQL("SELECT count(*) AS n FROM {}.hall").format(self.s) + where,
                          params)[0]["n"]
        return rows, int(total)

    def follows_of(self, follower_id: str) -> list[dict[str, Any]]:
        return self._all(SQL("SELECT kind, target FROM {}.follows WHERE follower_id = %s"
                             " ORDER BY kind, target").format(self.s), (follower_id,))

    def notifications(self, follower_id: str, after_id: int, limit: int) -> list[dict[str, Any]]:
        return self._all(SQL("SELECT id, ticket_code, event_type, summary, occurred_at"
                             " FROM {}.notifications WHERE follower_id = %s AND id > %s"
                             " ORDER BY id LIMIT %s").format(self.s),
                         (follower_id, after_id, limit))

    def remarks_for(self, unit: str, limit: int) -> list[dict[str, Any]]:
        return self._all(SQL("SELECT ticket_code, follower_role, follower_id, remark,"
                             " occurred_at FROM {}.remarks WHERE %s = '' OR %s = ANY(units)"
                             " ORDER BY occurred_at DESC LIMIT %s").format(self.s),
                         (unit, unit, limit))


def to_json(value: Any) -> str:
    """JSON text for a jsonb parameter (orjson: UTF-8 as it is, datetimes as ISO 8601,
    anything else as its str; a tenth of json.dumps' time)."""
    return orjson.dumps(value, default=str).decode()
