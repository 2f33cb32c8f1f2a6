"""The workbench's read model of tickets, in its own PostgreSQL schema.

Written only by the lifecycle consumer (one transaction with its progress); read by the list,
the export and the hotline form. Indexes: one per sort order (keyset paging walks it), GIN on
the units that may see a ticket; the bigrams of its masked text are a row of their own
(`ticket_grams`, GIN), written when the text is first known or changes, not at each of the
ticket's ~5 later row updates: every update of `tickets` is a new row version (its indexed
`updated_at` changes), and with the bigrams in it each one wrote ~100 GIN entries again.

Each write of a row stamps it with a random number and names the stamp it replaced
(`prev_stamp`); a write whose `prev_stamp` is not the row's stamp changes nothing. So the
consumer may keep rows in memory between batches: a row it holds that another replica (after a
rebalance) or a rolled-back transaction made stale is caught at its next write, never written
over (see entrypoints/consumer.py).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg_pool import ConnectionPool

from services.workbench.domain.listing import Order, TicketFilter, decode_cursor, encode_cursor
from services.workbench.domain.search import bigrams, query_terms
from services.workbench.domain.tickets import TicketRow

COLUMNS = [f.name for f in fields(TicketRow)]
SORT_EXPR = {"submitted_at": "submitted_at", "updated_at": "updated_at",
             "due_at": "COALESCE(due_at, 'infinity'::timestamptz)"}
HAYSTACK = "(title_masked || ' ' || text_masked || ' ' || address_masked)"
TICKET_CODE = re.compile(r"^[A-Za-z]{2}-?\d{6}-?\d{5,}-?[A-Za-z0-9]$")


def ddl(schema: str) -> list[Composed]:
    s = Identifier(schema)
    return [
        SQL("CREATE TABLE IF NOT EXISTS {}.tickets ("
            " ticket_id text PRIMARY KEY, code text NOT NULL DEFAULT '',"
            " channel text NOT NULL DEFAULT '', county text NOT NULL DEFAULT '',"
            " subdistrict text NOT NULL DEFAULT '', address_masked text NOT NULL DEFAULT '',"
            " title_masked text NOT NULL DEFAULT '', text_masked text NOT NULL DEFAULT '',"
            " category text NOT NULL DEFAULT '', subcategory text NOT NULL DEFAULT '',"
            " request_type text NOT NULL DEFAULT '', urgency text NOT NULL DEFAULT '',"
            " unit text NOT NULL DEFAULT '', co_units text[] NOT NULL DEFAULT '{{}}',"
            " units text[] NOT NULL DEFAULT '{{}}', status text NOT NULL,"
            " submitted_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
            " due_at timestamptz, overdue boolean NOT NULL DEFAULT false,"
            " rating text NOT NULL DEFAULT '', reopen_count int NOT NULL DEFAULT 0,"
            " case_id text NOT NULL DEFAULT '', primary_code text NOT NULL DEFAULT '',"
            " reply_masked text NOT NULL DEFAULT '')"
            ).format(s),
        SQL("ALTER TABLE {}.tickets ADD COLUMN IF NOT EXISTS stamp bigint NOT NULL DEFAULT 0,"
            " ADD COLUMN IF NOT EXISTS prev_stamp bigint NOT NULL DEFAULT 0").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.ticket_grams ("
            " ticket_id text PRIMARY KEY, grams text[] NOT NULL)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS ticket_grams_grams ON {}.ticket_grams"
            " USING gin (grams)").format(s),
        # a table made before the bigrams had their own: move them, drop the column (and so
        # its GIN index)
        SQL("DO $$ BEGIN IF EXISTS (SELECT FROM information_schema.columns"
            " WHERE table_schema = {} AND table_name = 'tickets' AND column_name = 'grams') THEN"
            " INSERT INTO {}.ticket_grams SELECT ticket_id, grams FROM {}.tickets"
            " WHERE grams <> '{{}}' ON CONFLICT (ticket_id) DO NOTHING;"
            " ALTER TABLE {}.tickets DROP COLUMN grams; END IF; END $$").format(
            Literal(schema), s, s, s),
        SQL("CREATE INDEX IF NOT EXISTS tickets_submitted ON {}.tickets"
            " (submitted_at, ticket_id)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS tickets_updated ON {}.tickets"
            " (updated_at, ticket_id)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS tickets_due ON {}.tickets"
            " ((COALESCE(due_at, 'infinity'::timestamptz)), ticket_id)").format(s),
        SQL("CREATE INDEX IF NOT EXISTS tickets_units ON {}.tickets USING gin (units)").format(s),
        # one index finds a code, typed with or without its hyphens (by_code, where())
        SQL("DROP INDEX IF EXISTS {}.tickets_code").format(s),
        SQL("CREATE INDEX IF NOT EXISTS tickets_code_typed ON {}.tickets"
            " ((replace(code, '-', '')))").format(s),
        SQL("CREATE INDEX IF NOT EXISTS tickets_status ON {}.tickets"
            " (status, submitted_at)").format(s),
        # overdue and rated tickets are few: small indexes the supervisors' filters walk
        SQL("CREATE INDEX IF NOT EXISTS tickets_overdue ON {}.tickets"
            " (submitted_at, ticket_id) WHERE overdue").format(s),
        SQL("CREATE INDEX IF NOT EXISTS tickets_rating ON {}.tickets"
            " (rating, submitted_at) WHERE rating <> ''").format(s),
    ]


def create_tables(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        for statement in ddl(schema):
            conn.execute(statement)


def _row(found: tuple[Any, ...]) -> TicketRow:
    values = dict(zip(COLUMNS, found, strict=False))
    values["co_units"] = tuple(values["co_units"])
    values["units"] = tuple(values["units"])
    return TicketRow(**values)


def load(cur: psycopg.Cursor[Any], schema: str, ticket_id: str) -> TicketRow | None:
    found = load_many(cur, schema, [ticket_id]).get(ticket_id)
    return found[0] if found else None


# the SQL text per schema, composed once (composing it per statement was most of the
# consumer's CPU: psycopg.sql's Composed/Identifier work, py-spy in docs/profiles/e2e.md)
_LOAD: dict[str, str] = {}
_SAVE: dict[str, str] = {}
# what jsonb_to_recordset reads each written column as (text when not named)
_TYPES = {"co_units": "text[]", "units": "text[]", "grams": "text[]",
          "submitted_at": "timestamptz", "updated_at": "timestamptz", "due_at": "timestamptz",
          "overdue": "boolean", "reopen_count": "int", "stamp": "bigint", "prev_stamp": "bigint"}
_WRITTEN = [*COLUMNS, "stamp", "prev_stamp"]  # into tickets; grams into ticket_grams


def load_many(cur: psycopg.Cursor[Any], schema: str, ticket_ids: list[str]
              ) -> dict[str, tuple[TicketRow, int]]:
    """The stored rows of these tickets and their stamps, in one statement."""
    if not ticket_ids:
        return {}
    if schema not in _LOAD:
        _LOAD[schema] = SQL("SELECT {}, stamp FROM {}.tickets WHERE ticket_id = ANY(%s)").format(
            SQL(", ").join(map(Identifier, COLUMNS)), Identifier(schema)).as_string(cur)
    cur.execute(_LOAD[schema], (ticket_ids,))
    return {found[0]: (_row(found), int(found[-1])) for found in cur.fetchall()}


def save(cur: psycopg.Cursor[Any], schema: str, row: TicketRow) -> None:
    """Write one row whatever is stored (tests and tools; the consumer uses save_many)."""
    stored = load_many(cur, schema, [row.ticket_id]).get(row.ticket_id)
    save_many(cur, schema, [(row, row.search_grams, stored[1] if stored else 0, new_stamp())])


def new_stamp() -> int:
    return int.from_bytes(os.urandom(8), "big") >> 1 or 1  # a positive bigint, never 0


def save_many(cur: psycopg.Cursor[Any], schema: str,
              rows: list[tuple[TicketRow, list[str] | None, int, int]]) -> set[str]:
    """Insert or update rows (row, its search bigrams or None when its text is as stored, the
    stamp it replaces (0: none), its new stamp) in one statement; the ids of those written. A
    row whose stored stamp is not the one it replaces is not written, nor its bigrams (someone
    else wrote it since it was read)."""
    if not rows:
        return set()
    if schema not in _SAVE:
        written = SQL(", ").join(map(Identifier, _WRITTEN))
        _SAVE[schema] = SQL(
            "WITH x AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS x({})),"
            " w AS (INSERT INTO {}.tickets AS t ({}) SELECT {} FROM x"
            "  ON CONFLICT (ticket_id) DO UPDATE SET {}"
            "  WHERE t.stamp = EXCLUDED.prev_stamp"
            "  RETURNING t.ticket_id, old.ticket_id IS NULL AS inserted),"
            " g AS (INSERT INTO {}.ticket_grams AS g (ticket_id, grams)"
            "  SELECT x.ticket_id, x.grams FROM x JOIN w ON w.ticket_id = x.ticket_id"
            "  WHERE x.grams IS NOT NULL"
            "  ON CONFLICT (ticket_id) DO UPDATE SET grams = EXCLUDED.grams"
            "  WHERE g.grams IS DISTINCT FROM EXCLUDED.grams)"
            " SELECT ticket_id, inserted FROM w").format(
            SQL(", ").join(SQL("{} " + _TYPES.get(n, "text")).format(Identifier(n))
                           for n in [*_WRITTEN, "grams"]),
            Identifier(schema), written, written,
            SQL(", ").join(SQL("{} = EXCLUDED.{}").format(Identifier(n), Identifier(n))
                           for n in _WRITTEN if n != "ticket_id"),
            Identifier(schema)).as_string(cur)
    payload = []
    for row, grams, prev_stamp, stamp in rows:
        values = {name: getattr(row, name) for name in COLUMNS}  # asdict deep-copies
        for name in ("submitted_at", "updated_at", "due_at"):
            at: datetime | None = values[name]
            values[name] = at.isoformat() if at is not None else None
        values.update(grams=grams, stamp=stamp, prev_stamp=prev_stamp)
        payload.append(values)
    cur.execute(_SAVE[schema], (json.dumps(payload, ensure_ascii=False),))
    saved: list[tuple[str, bool]] = cur.fetchall()
    # a row inserted without its bigrams (its writer held it in memory from an insert that
    # rolled back, so took its text for stored): they are written now (rare)
    inserted = {ticket_id for ticket_id, was_inserted in saved if was_inserted}
    missing = [(row.ticket_id, row.search_grams) for row, grams, _, _ in rows
               if grams is None and row.ticket_id in inserted]
    for ticket_id, grams in missing:
        cur.execute(SQL("INSERT INTO {}.ticket_grams (ticket_id, grams) VALUES (%s, %s)"
                        " ON CONFLICT (ticket_id) DO UPDATE SET grams = EXCLUDED.grams").format(
            Identifier(schema)), (ticket_id, grams))
    return {found[0] for found in saved}


def where(f: TicketFilter, schema: str) -> tuple[Composed, list[Any]]:
    """The WHERE clause of a filter (always at least TRUE) over `schema`.tickets and its
    parameters. Its statements are run unprepared (`prepare=False`): how many tickets a
    word or a filter matches varies by orders of magnitude, and a prepared statement's
    generic plan (psycopg prepares from the 5th run) walked the whole sort index testing
    each row against the matching ids (~200 ms at 100k tickets instead of ~30)."""
    parts: list[Composed | SQL] = [SQL("TRUE")]
    params: list[Any] = []
    if f.since:
        parts.append(SQL("submitted_at >= %s"))
        params.append(f.since)
    if f.before:
        parts.append(SQL("submitted_at < %s"))
        params.append(f.before)
    for column in ("channel", "county", "category", "status", "rating"):
        value = getattr(f, column)
        if value:
            parts.append(SQL("{} = %s").format(Identifier(column)))
            params.append(value)
    if f.unit:
        parts.append(SQL("units @> ARRAY[%s]::text[]"))
        params.append(f.unit)
    if f.overdue is not None:
        parts.append(SQL("overdue = %s"))
        params.append(f.overdue)
    terms = query_terms(f.q)
    if TICKET_CODE.match(f.q.strip()):  # a code typed (any case, with or without hyphens)
        parts.append(SQL("replace(code, '-', '') = %s"))
        params.append(f.q.strip().upper().replace("-", ""))
    elif terms:
        grams = sorted({g for t in terms for g in bigrams(t)})
        if all(len(t) >= 2 for t in terms):
            # the matching ids first, then the rows by primary key (a bitmap scan of both
            # indexes): as `IN (subquery)` the planner walked every ILIKE match and looked
            # its bigrams up one by one (EXPLAIN in docs/profiles/workbench-pg.md)
            parts.append(SQL("ticket_id = ANY(ARRAY(SELECT ticket_id FROM {}.ticket_grams"
                             " WHERE grams @> %s::text[]))").format(Identifier(schema)))
            params.append(grams)
        for term in terms:
            parts.append(SQL(HAYSTACK + " ILIKE %s"))
            params.append(f"%{_escape_like(term)}%")
    return SQL(" AND ").join(parts), params  # type: ignore[return-value]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page(pool: ConnectionPool, schema: str, f: TicketFilter, order: Order, *, limit: int,
         cursor: str = "") -> tuple[list[dict[str, Any]], str]:
    """One page of the filtered list and the cursor of the next one ("" at the end)."""
    clause, params = where(f, schema)
    expr = SQL(SORT_EXPR[order.key])
    direction = SQL("DESC" if order.descending else "ASC")
    if cursor:
        value, after_id = decode_cursor(order, cursor)
        compare = SQL("<" if order.descending else ">")
        clause = SQL("{} AND ({}, ticket_id) {} (%s::timestamptz, %s)").format(
            clause, expr, compare)
        params = [*params, value if value is not None else "infinity", after_id]
    query = SQL("SELECT * FROM {}.tickets WHERE {} ORDER BY {} {}, ticket_id {} LIMIT %s"
                ).format(Identifier(schema), clause, expr, direction, direction)
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, [*params, limit + 1], prepare=False).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = ""
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(order, last[order.key], last["ticket_id"])
    for r in rows:
        _internal(r)
    return rows, next_cursor


def count(pool: ConnectionPool, schema: str, f: TicketFilter, cap: int = 100_000) -> int:
    """How many tickets match, counted up to `cap` (an exact count of millions costs a scan)."""
    clause, params = where(f, schema)
    query = SQL("SELECT count(*) FROM (SELECT 1 FROM {}.tickets WHERE {} LIMIT %s) t").format(
        Identifier(schema), clause)
    with pool.connection() as conn:
        found = conn.execute(query, [*params, cap], prepare=False).fetchone()
    return int(found[0]) if found else 0


def rows_for_export(pool: ConnectionPool, schema: str, f: TicketFilter, order: Order,
                    limit: int) -> list[dict[str, Any]]:
    clause, params = where(f, schema)
    expr = SQL(SORT_EXPR[order.key])
    direction = SQL("DESC" if order.descending else "ASC")
    query = SQL("SELECT * FROM {}.tickets WHERE {} ORDER BY {} {}, ticket_id {} LIMIT %s"
                ).format(Identifier(schema), clause, expr, direction, direction)
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, [*params, limit], prepare=False).fetchall()


def by_code(pool: ConnectionPool, schema: str, code: str) -> dict[str, Any] | None:
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(SQL("SELECT * FROM {}.tickets WHERE replace(code, '-', '') ="
                                " replace(%s, '-', '') AND code = %s").format(
            Identifier(schema)), (code, code)).fetchone()
    if found:
        _internal(found)
    return found


def _internal(row: dict[str, Any]) -> None:
    """Drop the columns that are the consumer's, not the list's."""
    for name in ("grams", "stamp", "prev_stamp"):
        row.pop(name, None)


OPEN = ("submitted", "accepted", "queued", "assigned", "signed_for", "bounced_back", "replied",
        "reply_returned", "needs_longer", "reopened")


def similar_open(pool: ConnectionPool, schema: str, *, text: str, county: str = "",
                 address: str = "", limit: int = 8) -> list[dict[str, Any]]:
    """Open tickets that share the most bigrams with what the operator is typing, the same
    road or estate first: the likely duplicates and the open tickets at the same place."""
    grams = bigrams(text)
    place = bigrams(address)
    if not grams and not place:
        return []
    query = SQL(
        "SELECT ticket_id, code, status, channel, county, unit, title_masked, text_masked,"
        " address_masked, submitted_at,"
        " cardinality(ARRAY(SELECT unnest(grams) INTERSECT SELECT unnest(%s::text[])))"
        "   AS shared_text,"
        " cardinality(ARRAY(SELECT unnest(grams) INTERSECT SELECT unnest(%s::text[])))"
        "   AS shared_place"
        " FROM {}.tickets JOIN {}.ticket_grams USING (ticket_id)"
        " WHERE status = ANY(%s) AND grams && %s::text[] AND (%s = '' OR county = %s)"
        " ORDER BY shared_place DESC, shared_text DESC, submitted_at DESC LIMIT 200"
    ).format(Identifier(schema), Identifier(schema))
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (grams, place, list(OPEN), grams + place, county,
                                   county)).fetchall()
    scored = []
    for r in rows:
        text_score = r["shared_text"] / max(len(grams), 1)
        place_score = r["shared_place"] / max(len(place), 1) if place else 0.0
        r["score"] = round(0.6 * text_score + 0.4 * place_score, 3)
        r["same_place"] = bool(place) and place_score >= 0.6
        if r["score"] >= 0.25 or r["same_place"]:
            scored.append(r)
    scored.sort(key=lambda r: r["score"], reverse=True)
    return scored[:limit]
