"""The facts table: analytics' durable state, written in the consumer's transaction.

`facts` holds one row per counted event (event id unique). The in-memory KPI model follows
the table with `FactTail`: it reads rows by `seq`, and re-reads the last `grace` seconds of
rows because a concurrent writer (another replica) may commit a lower `seq` after a higher
one; facts are a set keyed by event id, so reading a row twice changes nothing.
"""

from __future__ import annotations

import functools
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.sql import SQL, Identifier
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from services.analytics.domain.facts import Fact

# rows a read takes at most: the startup reads the table in pages through the live fold; a
# page's rows and facts are transient, yet 20,000 of them left an analytics process 23 MB
# bigger after the startup (168 vs 145 MB RSS over 158,406 facts, docs/analytics.md)
PAGE = 5000
MAX_GAP = 20000  # seqs remembered as missed at one jump (FactTail)


def facts_channel(schema: str) -> str:
    """The NOTIFY channel of commits that wrote facts (the consumer's `notify_channel`): the
    live state of every replica wakes on it instead of polling the table."""
    return f"minsheng_facts_{schema}"[:63]


def create_tables(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn, conn.cursor() as cur:
        create_tables_in(cur, schema)


def create_tables_in(cur: psycopg.Cursor[Any], schema: str) -> None:
    """:func:`create_tables` in the caller's transaction (a rebuild's: one commit for all)."""
    s = Identifier(schema)
    cur.execute(SQL(
        "CREATE TABLE IF NOT EXISTS {}.facts ("
        " seq bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, ticket_id text NOT NULL,"
        " kind text NOT NULL, at timestamptz NOT NULL, attrs jsonb NOT NULL,"
        " recorded_at timestamptz NOT NULL DEFAULT clock_timestamp())").format(s))
    create_indexes_in(cur, schema)


# the facts table's indexes besides its keys' (`create_indexes_in`): what the readers look
# facts up by; a rebuild drops them before its COPY and makes them again after it
SECONDARY_INDEXES = ("facts_ticket", "facts_submitted", "facts_placing")


def drop_indexes_in(cur: psycopg.Cursor[Any], schema: str) -> None:
    """The `SECONDARY_INDEXES` dropped in the caller's transaction (a rebuild's, the table
    just truncated: `create_indexes_in` makes them again before it commits)."""
    s = Identifier(schema)
    cur.execute(SQL("DROP INDEX IF EXISTS {}").format(
        SQL(", ").join(SQL("{}.{}").format(s, Identifier(name)) for name in SECONDARY_INDEXES)))


def key_constraints_in(cur: psycopg.Cursor[Any], schema: str) -> None:
    """Asks for the facts table's key constraints (primary key, unique), as (name, its
    definition) in name order: ``cur.fetchall()`` once the statement has run (in a pipeline:
    after it). A rebuild drops them for its COPY (`drop_keys_in`) and makes them again after
    it, as they were (`add_keys_in`)."""
    cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = (quote_ident(%s) || '.facts')::regclass"
                " AND contype IN ('p', 'u') ORDER BY conname", (schema,))


def drop_keys_in(cur: psycopg.Cursor[Any], schema: str, keys: list[tuple[str, str]]) -> None:
    """The key constraints ``keys`` (`key_constraints_in`'s) dropped in the caller's
    transaction (a rebuild's, the table just truncated): the COPY then inserts into the heap
    only, and each key's index is built once from all the rows (`add_keys_in`) instead of
    taking them one by one (the unique event id's index at random places). A row that breaks
    a key fails that build instead of the COPY: the same error, the transaction rolls back."""
    if keys:
        cur.execute(SQL("ALTER TABLE {}.facts {}").format(Identifier(schema), SQL(", ").join(
            SQL("DROP CONSTRAINT {}").format(Identifier(name)) for name, _ in keys)))


def add_keys_in(cur: psycopg.Cursor[Any], schema: str, keys: list[tuple[str, str]]) -> None:
    """The key constraints `drop_keys_in` dropped, made again with their names and
    definitions (as the catalog gave them), in one statement."""
    if keys:
        cur.execute(SQL("ALTER TABLE {}.facts {}").format(Identifier(schema), SQL(", ").join(
            SQL("ADD CONSTRAINT {} ").format(Identifier(name)) + SQL(definition)
            for name, definition in keys)))


def create_indexes_in(cur: psycopg.Cursor[Any], schema: str) -> None:
    """The facts table's `SECONDARY_INDEXES`, where missing."""
    s = Identifier(schema)
    cur.execute(SQL("CREATE INDEX IF NOT EXISTS facts_ticket ON {}.facts (ticket_id)").format(s))
    # the tickets submitted in a window (hot topics, the map): read from the table, not memory
    cur.execute(SQL("CREATE INDEX IF NOT EXISTS facts_submitted ON {}.facts (at)"
                    " WHERE kind = 'submitted'").format(s))
    # the tickets an old period's buckets count (LiveKpis.model_for, `period_tickets`): the
    # facts that place a unit's outcome (assigning) or a close in a period, by time
    cur.execute(SQL("CREATE INDEX IF NOT EXISTS facts_placing ON {}.facts (at)"
                    " WHERE kind IN ('assigned', 'transferred', 'coordinated', 'closed')")
                .format(s))


@functools.lru_cache(maxsize=64)
def _insert_sql(schema: str) -> psycopg.sql.Composed:
    """Composed once per schema: a batch's facts as one array per column, one statement (in
    their order: `seq` is the order the live state reads them in)."""
    return SQL("INSERT INTO {}.facts (event_id, ticket_id, kind, at, attrs)"
               " SELECT e::uuid, t, k, a, j::jsonb FROM unnest(%b::text[], %b::text[],"
               " %b::text[], %b::timestamptz[], %b::text[]) AS u(e, t, k, a, j)"
               " ON CONFLICT (event_id) DO NOTHING").format(Identifier(schema))


def insert_facts(cur: psycopg.Cursor[Any], schema: str, facts: Iterable[Fact]) -> None:
    """The arrays go binary (%b): psycopg builds an array's text form element by element,
    a regular expression each (a sixth of the live consumer's CPU in py-spy); the attrs as
    JSON by orjson (jsonb stores the same value as json.dumps's)."""
    facts = list(facts)
    if facts:
        dumps = orjson.dumps
        cur.execute(_insert_sql(schema), (
            [f.event_id for f in facts], [f.ticket_id for f in facts], [f.kind for f in facts],
            [f.at for f in facts], [dumps(f.attrs).decode() for f in facts]))


@contextmanager
def fact_copy(cur: psycopg.Cursor[Any], schema: str, binary: bool | None = None
              ) -> Iterator[Callable[[Iterable[Fact]], None]]:
    """A writer of facts into a table that holds none of them (a rebuild's, just truncated):
    one COPY for all of them, whose rows the database inserts while the caller goes on;
    leaving the block waits for the last row. (psycopg's queued writer, a thread sending the
    rows, made rebuilds slower on a busy machine: the two threads queue for the GIL.)

    Each call's facts go as one block of rows built here (psycopg's `write_row` adapts every
    value of every row on its own: most of the writer's time), in COPY's binary format
    (`copy_row`): the server then parses no uuid, time or escaped text, only the attrs' JSON
    (jsonb's binary input is its text). A connection whose client encoding is not UTF-8 gets
    COPY text lines (`copy_line`) instead (``binary``: the one or the other, for a test)."""
    if binary is None:
        binary = cur.connection.info.encoding == "utf-8"
    fmt = " (FORMAT BINARY)" if binary else ""
    with cur.copy(SQL("COPY {}.facts (event_id, ticket_id, kind, at, attrs) FROM STDIN" + fmt)
                  .format(Identifier(schema))) as copy:
        if binary:
            copy.write(_BINARY_SIGNATURE)
            tickets: dict[str, bytes] = {}  # a ticket's id as a field, for its next facts

            def write(facts: Iterable[Fact]) -> None:
                copy.write(copy_rows(facts, tickets))
        else:

            def write(facts: Iterable[Fact]) -> None:
                copy.write("".join(map(copy_line, facts)))

        yield write
        if binary:
            copy.write(_BINARY_TRAILER)


_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """A value in COPY's text format: backslash, tab, newline and carriage return escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_SPECIAL)
    return value


def copy_line(f: Fact, dumps: Callable[[Any], bytes] = orjson.dumps) -> str:
    """One fact as a line of COPY text: its attrs as JSON by orjson (UTF-8, no raw control
    characters; jsonb stores the same value as json.dumps's), its time in ISO 8601 with its
    offset."""
    return (f"{copy_text(f.event_id)}\t{copy_text(f.ticket_id)}\t{f.kind}\t"
            f"{f.at.isoformat()}\t{copy_text(dumps(f.attrs).decode())}\n")


# COPY's binary format (PostgreSQL's "COPY", "Binary Format"): a header (signature, flags,
# extension length), rows of (field count, then each field's length and bytes), a trailer
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_BINARY_TRAILER = b"\xff\xff"
_ROW_HEAD = struct.Struct(">hi16si").pack  # 5 fields; the uuid's 16 bytes; ticket_id's length
_LENGTH = struct.Struct(">i").pack
_AT_ATTRS = struct.Struct(">iqib").pack  # the time (int8), the jsonb's length and version (1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamptz: microseconds since
_MICROSECOND = timedelta(microseconds=1)
_KINDS: dict[str, bytes] = {}  # a kind's length and UTF-8 bytes


def copy_row(f: Fact, dumps: Callable[[Any], bytes] = orjson.dumps) -> bytes:
    """One fact as a row of binary COPY: what the server stores from `copy_line`'s text (the
    same uuid, text, microseconds and JSON text), without its parsing. The event id must be
    what uuid's text input takes (`uuid_bytes`); the time aware (every Fact's is)."""
    ticket = f.ticket_id.encode()
    kind = _KINDS.get(f.kind)
    if kind is None:
        raw = f.kind.encode()
        kind = _KINDS[f.kind] = _LENGTH(len(raw)) + raw
    attrs = dumps(f.attrs)
    return b"".join((_ROW_HEAD(5, 16, uuid_bytes(f.event_id), len(ticket)), ticket, kind,
                     _AT_ATTRS(8, (f.at - _PG_EPOCH) // _MICROSECOND, len(attrs) + 1, 1),
                     attrs))


_FIELDS_UUID = struct.Struct(">hi").pack(5, 16)  # a row's field count, the uuid's length


def copy_rows(facts: Iterable[Fact], tickets: dict[str, bytes] | None = None,
              dumps: Callable[[Any], bytes] = orjson.dumps,
              fromhex: Callable[[str], bytes] = bytes.fromhex) -> bytes:
    """``b"".join(map(copy_row, facts))`` in one loop: the canonical event id (`uuid_bytes`'
    first case) converted here, any other form by `uuid_bytes`; ``tickets`` keeps each
    ticket id's field (length and UTF-8) for the ticket's next facts (a rebuild's COPY: one
    entry a ticket, as the rebuild keeps the ticket's facts). Each row is joined as it is
    made (its parts freed at once: held to the batch's end they made the rebuild slower)."""
    rows: list[bytes] = []
    add, join, kinds, length, at_attrs = rows.append, b"".join, _KINDS, _LENGTH, _AT_ATTRS
    if tickets is None:
        tickets = {}
    epoch, microsecond, fields_uuid = _PG_EPOCH, _MICROSECOND, _FIELDS_UUID
    for f in facts:
        event_id = f.event_id
        raw = b""
        if len(event_id) == 36 and event_id[8] == "-" and event_id[13] == "-" \
                and event_id[18] == "-" and event_id[23] == "-":
            try:
                raw = fromhex(event_id.replace("-", ""))
            except ValueError:
                pass
        if len(raw) != 16:
            raw = uuid_bytes(event_id)
        ticket = tickets.get(f.ticket_id)
        if ticket is None:
            encoded = f.ticket_id.encode()
            ticket = tickets[f.ticket_id] = length(len(encoded)) + encoded
        kind = kinds.get(f.kind)
        if kind is None:
            encoded = f.kind.encode()
            kind = kinds[f.kind] = length(len(encoded)) + encoded
        attrs = dumps(f.attrs)
        add(join((fields_uuid, raw, ticket, kind,
                  at_attrs(8, (f.at - epoch) // microsecond, len(attrs) + 1, 1), attrs)))
    return join(rows)


_HEX = frozenset("0123456789abcdefABCDEF")


def uuid_bytes(text: str) -> bytes:
    """The 16 bytes PostgreSQL's uuid input makes of ``text`` (uuid.c `string_to_uuid`: 32
    hexadecimal digits, a hyphen allowed after each group of four, optionally in braces);
    anything else is refused with its error (psycopg.DataError, the class of the COPY's
    InvalidTextRepresentation)."""
    if len(text) == 36 and text[8] == "-" and text[13] == "-" and text[18] == "-" \
            and text[23] == "-":  # the canonical form: 32 digits if it makes 16 bytes
        try:
            raw = bytes.fromhex(text.replace("-", ""))  # (it skips whitespace: fewer bytes)
        except ValueError:
            raw = b""
        if len(raw) == 16:
            return raw
    src, i, out = text, 0, bytearray()
    braces = src[:1] == "{"
    if braces:
        i = 1
    for n in range(16):
        pair = src[i:i + 2]
        if len(pair) < 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            raise psycopg.DataError(f'invalid input syntax for type uuid: "{text}"')
        out.append(int(pair, 16))
        i += 2
        if src[i:i + 1] == "-" and n % 2 == 1 and n < 15:
            i += 1
    if braces:
        if src[i:i + 1] != "}":
            raise psycopg.DataError(f'invalid input syntax for type uuid: "{text}"')
        i += 1
    if i != len(src):
        raise psycopg.DataError(f'invalid input syntax for type uuid: "{text}"')
    return bytes(out)


def _fact(row: tuple[Any, ...]) -> Fact:
    return Fact(event_id=str(row[0]), ticket_id=row[1], kind=row[2], at=row[3], attrs=row[4])


def all_facts(pool: ConnectionPool, schema: str) -> Iterator[list[Fact]]:
    """Every stored fact, page by page, in seq order."""
    after = 0
    while True:
        with pool.connection() as conn:
            rows = conn.execute(
                SQL("SELECT seq, event_id, ticket_id, kind, at, attrs FROM {}.facts"
                    " WHERE seq > %s ORDER BY seq LIMIT %s").format(Identifier(schema)),
                (after, PAGE)).fetchall()
        if not rows:
            return
        after = rows[-1][0]
        yield [_fact(r[1:]) for r in rows]


class FactTail:
    """Reads the facts committed since the last call, and the late ones.

    A concurrent writer (another replica, or the consumer's next transaction) may commit a
    lower `seq` after a higher one was read: every `seq` skipped below the highest read is
    remembered as a gap and asked for again on each read until it arrives or `grace_s` has
    passed since it was first missed (a rolled-back transaction's seqs never arrive). Only
    the gaps are read again, not every recent row (that re-read the last 10 s of facts on
    every commit's news)."""

    def __init__(self, pool: ConnectionPool, schema: str, grace_s: float = 10.0,
                 now: Callable[[], float] = time.monotonic):
        self.pool = pool
        self.schema = schema
        self.grace_s = grace_s
        self.now = now
        self.high = 0  # highest seq read
        self.gaps: dict[int, float] = {}  # seq missed below `high` -> when it was first missed
        self.caught_up = False
        self.earlier: dict[str, list[Fact]] = {}  # see `read`

    def read(self, known: Callable[[str, str], bool],
             away: Callable[[Iterable[str]], list[str]] | None = None) -> list[Fact]:
        """Facts not `known(event_id, ticket_id)` yet: late commits into the gaps, then the
        next page of new rows. `caught_up` says whether more rows were waiting.

        `away(ticket ids)`: of the tickets read, those whose earlier facts the reader does
        not hold; their facts read before this call (every row at or below the high mark
        read before, but the seqs still missed then) are read in the same turn, one query,
        into `earlier` (ticket id -> facts). They are exactly the rows read and returned by
        earlier calls: this call's rows are above the old high mark or in the old gaps, and
        so are the rows not read yet (but a seq that committed after its grace was given up:
        it was never read, yet it counts as read here)."""
        s = Identifier(self.schema)
        now = self.now()
        before, missed = self.high, list(self.gaps)  # what had been read: the bounds
        for seq in [q for q, since in self.gaps.items() if now - since > self.grace_s]:
            del self.gaps[seq]
        with self.pool.connection() as conn:
            late = conn.execute(
                SQL("SELECT seq, event_id, ticket_id, kind, at, attrs FROM {}.facts"
                    " WHERE seq = ANY(%s) ORDER BY seq").format(s),
                (list(self.gaps),)).fetchall() if self.gaps else []
            new = conn.execute(
                SQL("SELECT seq, event_id, ticket_id, kind, at, attrs FROM {}.facts"
                    " WHERE seq > %s ORDER BY seq LIMIT %s").format(s),
                (self.high, PAGE)).fetchall()
            wanted = away(dict.fromkeys(r[2] for rows in (late, new) for r in rows)) \
                if away is not None and before and (late or new) else []
            earlier_rows = conn.execute(_EARLIER_SQL.format(s), (
                wanted, before, missed)).fetchall() if wanted else []
        self.caught_up = len(new) < PAGE
        for row in late:
            del self.gaps[row[0]]
        expected = self.high + 1 if self.high else None  # the first read starts at a row
        for row in new:
            if expected is not None and row[0] > expected:
                # at most MAX_GAP seqs right below the row (a transaction in flight holds seqs
                # it took from the sequence moments ago, as many as its batch's facts)
                self.gaps.update(dict.fromkeys(range(max(expected, row[0] - MAX_GAP), row[0]),
                                               now))
            expected = row[0] + 1
        if new:
            self.high = new[-1][0]
        earlier: dict[str, list[Fact]] = {}
        for row in earlier_rows:
            earlier.setdefault(row[1], []).append(_fact(row))
        self.earlier = earlier
        return [_fact(r[1:]) for r in late if not known(str(r[1]), r[2])] + \
            [_fact(r[1:]) for r in new]


# the facts of some tickets read before: at or below the high mark, but the seqs missed then
_EARLIER_SQL = SQL("SELECT event_id, ticket_id, kind, at, attrs FROM {}.facts"
                   " WHERE ticket_id = ANY(%s) AND seq <= %s AND seq <> ALL(%s::bigint[])")

# the tickets that count in a period's buckets: received in it (ticket buckets), given to a
# unit in it (the unit's outcome), or closed in it (closed_in_period): every fact of each,
# by ticket (both sub-selects on partial indexes of `at`; the kinds written out as the
# indexes' predicates are, so the planner can use them)
_PERIOD_SQL = SQL(
    "SELECT event_id, ticket_id, kind, at, attrs FROM {s}.facts WHERE ticket_id IN ("
    "SELECT ticket_id FROM {s}.facts WHERE kind = 'submitted' AND at >= %(start)s"
    " AND at < %(end)s UNION ALL SELECT ticket_id FROM {s}.facts WHERE kind IN"
    " ('assigned', 'transferred', 'coordinated', 'closed') AND at >= %(start)s"
    " AND at < %(end)s) ORDER BY ticket_id")


def period_tickets(pool: ConnectionPool, schema: str, start: datetime, end: datetime
                   ) -> Iterator[list[Fact]]:
    """Every fact of each ticket that counts in a period within [start, end) (see
    `_PERIOD_SQL`), ticket by ticket, streamed (a server-side cursor: a month of a city's
    facts is never all in memory); the attrs' JSON read by orjson (the standard library's
    json was a fifth of an old month's fold)."""
    with pool.connection() as conn, conn.transaction(), conn.cursor(name="period_tickets") as cur:
        cur.itersize = 2000
        set_json_loads(orjson.loads, cur)
        cur.execute(_PERIOD_SQL.format(s=Identifier(schema)), {"start": start, "end": end})
        ticket: Any = None
        facts: list[Fact] = []
        for row in cur:
            if row[1] != ticket:
                if facts:
                    yield facts
                ticket, facts = row[1], []
            facts.append(_fact(row))
        if facts:
            yield facts


# what the texts and the map read of a ticket (fold.ticket_text, ticket_map.map_cells)
WINDOW_KINDS = ["submitted", "queued", "assigned", "transferred", "coordinated"]


def submitted_in(pool: ConnectionPool, schema: str, start: datetime, end: datetime
                 ) -> list[list[Fact]]:
    """The tickets with a 'submitted' fact in [start, end): of each, the facts that say its
    text, place, dimensions and units (WINDOW_KINDS), in the order the table took them."""
    with pool.connection() as conn:
        rows = conn.execute(
            SQL("SELECT event_id, ticket_id, kind, at, attrs FROM {s}.facts"
                " WHERE ticket_id IN (SELECT ticket_id FROM {s}.facts WHERE kind = 'submitted'"
                " AND at >= %s AND at < %s) AND kind = ANY(%s) ORDER BY seq").format(
                s=Identifier(schema)), (start, end, WINDOW_KINDS)).fetchall()
    tickets: dict[str, list[Fact]] = {}
    for row in rows:
        tickets.setdefault(row[1], []).append(_fact(row))
    return list(tickets.values())
