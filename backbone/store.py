"""Each service's own state: an `eventsourcing` application on PostgreSQL, in its own schema.

The recorder below extends eventsourcing's PostgreSQL recorder so that, in the SAME transaction
as an aggregate's new events, it can also write:

- `consumer_positions`: the Kafka offset a consumer has applied, per topic and partition;
- `consumed_events`: the ids of the events a consumer has applied (the relay publishes at least
  once, so a copy may come back at a new offset);
- each stored event's context: the ticket, trace, causation and actor it belongs to, which the
  outbox relay puts in the envelope, in seven columns of the event's own row (since session 8;
  rows stored before have theirs in `event_context`, which is still read, and still written
  where eventsourcing's own insert runs). The domain stays free of plumbing this way;
- the relay's messages, encoded at commit (group commit with an opted-in relay), in the
  event's own row (`outgoing`, a column added to eventsourcing's events table);
- a NOTIFY on the schema's outbox channel, delivered at commit, which wakes the relay
  (eventsourcing's own NOTIFY, sent to that channel: one per save).

So "what a handler did" and "that it did it" commit together or not at all.
"""

from __future__ import annotations

import functools
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import attrgetter
from types import SimpleNamespace
from typing import Any

import psycopg
from eventsourcing.persistence import ConnectionUnavailableError, StoredEvent
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import ProgrammingError as StoreProgrammingError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.rows import scalar_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import ConnectionPool, PoolTimeout

from backbone import pg_arrays
from backbone.settings import ServiceSettings


def forget_prepared(conn: psycopg.Connection[Any]) -> None:
    """After a failed pipeline: forget every prepared statement, in psycopg's memory of them
    and on the server. psycopg names a statement prepared when it sends its Parse; in a
    pipeline that an earlier error aborted the server skipped it, yet psycopg still believes
    it there (and when the transaction ended IDLE, no ROLLBACK tells it otherwise), so the
    next use of this connection failed with `prepared statement "_pg3_0" does not exist`:
    a consumer's step-by-step retry dead-lettered a good message (seen in CI,
    test_consumer_pipeline), and after one replayed request (a version already stored) every
    save that later took the pooled connection, anyone's, failed (intake answered 500 to
    15-30 % of submissions until restarted, session 17). psycopg has no public call for
    this: its prepared-statement manager's `clear()` forgets the names and has it send
    `DEALLOCATE ALL` before its next statement (what it does itself on a ROLLBACK it sees);
    a `DEALLOCATE ALL` of our own would be noticed by psycopg only the first time it is sent
    on a connection."""
    manager = getattr(conn, "_prepared", None)
    if manager is not None and callable(getattr(manager, "clear", None)):
        manager.clear()
        return
    with suppress(psycopg.Error):  # a psycopg without it: the server side at least
        conn.execute("DEALLOCATE ALL")


# PostgreSQL restarting or out of reach: nothing was acknowledged and the caller may retry
# (HTTP 503 with Retry-After, gRPC UNAVAILABLE), never an internal error.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, StoreOperationalError,
    StoreInterfaceError, ConnectionUnavailableError)
STORE_UNAVAILABLE_REASON = "the store is not reachable right now; retry shortly"


@dataclass(frozen=True, init=False)
class EventContext:
    """What the envelope of an event needs beyond the event itself."""

    ticket_id: str = ""
    ticket_code: str = ""
    trace_id: str = ""
    causation_id: str = ""
    actor_role: str = "system"
    actor_id: str = ""
    actor_unit: str = ""

    def __init__(self, ticket_id: str = "", ticket_code: str = "", trace_id: str = "",
                 causation_id: str = "", actor_role: str = "system", actor_id: str = "",
                 actor_unit: str = "") -> None:
        # the frozen dataclass's own __init__, without its object.__setattr__ a field (one
        # is made for every command saved and every event consumed: 0.6 -> 0.37 us), each
        # field set in the instance's dict (update() of a dict display made a second dict:
        # 0.58 -> 0.43 us)
        d = self.__dict__
        d["ticket_id"] = ticket_id
        d["ticket_code"] = ticket_code
        d["trace_id"] = trace_id
        d["causation_id"] = causation_id
        d["actor_role"] = actor_role
        d["actor_id"] = actor_id
        d["actor_unit"] = actor_unit


@dataclass(frozen=True)
class Statement:
    """A read-model write to run in the same transaction as the events (`app.save(sql=[...])`)."""

    # bytes: a statement composed once and kept as the query text (every user hands it to
    # `cursor.execute`, which takes bytes), not composed again per write
    sql: psycopg.sql.SQL | psycopg.sql.Composed | bytes
    params: Sequence[Any] | dict[str, Any] = ()
    # the row it locks that other processes' transactions lock too (a citizen's key, a request
    # id's row), named uniquely across tables ("citizen_keys:<citizen>"), or None: see
    # `in_lock_order`
    lock: str | None = None


def in_lock_order(statements: Sequence[Statement]) -> Sequence[Statement]:
    """The statements that name a `lock` first, ordered by it, then the others as given.

    A group commit's transaction runs the statements of every command in its batch. Two
    processes' batches that lock the same two rows (two citizens' keys, each claimed or held by
    a command in both) in opposite orders wait on each other: a deadlock, which PostgreSQL
    breaks only after `deadlock_timeout` (1 s) by failing one transaction, to be tried again.
    Taking such rows first and always in one order makes that cycle impossible: a transaction
    holding one of them never waits for a row earlier in the order. (They go before the
    read-model writes that lock nothing shared and before the events' table lock, which every
    batch takes after them.)"""
    locking = [s for s in statements if s.lock is not None]
    if not locking:
        return statements
    locking.sort(key=_lock_of)
    return [*locking, *(s for s in statements if s.lock is None)]


def _lock_of(statement: Statement) -> str:
    return statement.lock or ""


@dataclass
class Progress:
    """What a consumer has applied: offsets per (topic, partition) and event ids."""

    consumer: str
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)

    def advance(self, topic: str, partition: int, offset: int, event_id: str | None) -> None:
        key = (topic, partition)
        self.offsets[key] = max(offset, self.offsets.get(key, -1))
        if event_id:
            self.event_ids.append(event_id)


@contextmanager
def autocommit(pool: ConnectionPool) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in autocommit, for a lone statement (a read, or one write atomic
    alone): one round trip, no BEGIN and COMMIT around it. The pool's other users get it back
    as they expect it (not autocommit)."""
    with pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.autocommit = False


def plumbing_tables(schema: str) -> list[psycopg.sql.Composed]:
    s = Identifier(schema)
    return [
        SQL("CREATE TABLE IF NOT EXISTS {}.consumer_positions ("
            " consumer text NOT NULL, topic text NOT NULL, partition int NOT NULL,"
            " next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (consumer, topic, partition))").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.consumed_events ("
            " consumer text NOT NULL, event_id uuid NOT NULL,"
            " consumed_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (consumer, event_id))").format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.event_context ("
            " originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
            " ticket_id text NOT NULL, ticket_code text NOT NULL, trace_id text NOT NULL,"
            " causation_id text NOT NULL, actor_role text NOT NULL, actor_id text NOT NULL,"
            " actor_unit text NOT NULL, PRIMARY KEY (originator_id, originator_version))"
            ).format(s),
        SQL("CREATE TABLE IF NOT EXISTS {}.relay_positions ("
            " relay text PRIMARY KEY, last_notification_id bigint NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT now())").format(s),
        # added later (a migration for existing schemas; looked up first, so a running
        # service's table is not locked by every start): the messages the relay will send for
        # the event, encoded at commit (backbone.relay.encode_records); NULL: the relay
        # translates the event itself, as it always did. Since session 7 they go in the
        # event's own row (_outgoing_column) when this module inserts the events; here only
        # on eventsourcing's own insert, and in rows stored before
        SQL("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = {} AND table_name = 'event_context'"
            " AND column_name = 'outgoing') THEN"
            " ALTER TABLE {}.event_context ADD COLUMN IF NOT EXISTS outgoing bytea;"
            " END IF; END $$").format(Literal(schema), s),
    ]


def _outgoing_column(schema: str, events_table: str) -> psycopg.sql.Composed:
    """The relay's messages encoded at commit, in the event's own row (added later: a
    migration, looked up first so that a running service's table is not locked by every
    start). The relay reads them with the notification log's index scan alone; in
    event_context.outgoing (rows stored before, or by eventsourcing's own insert) they cost
    it a join, an index probe per event. NULL in both: the relay translates the event."""
    return SQL("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
               " WHERE table_schema = {} AND table_name = {} AND column_name = 'outgoing')"
               " THEN ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS outgoing bytea;"
               " END IF; END $$").format(Literal(schema), Literal(events_table),
                                         Identifier(schema), Identifier(events_table))


# The event's context in its own row (since session 8): one row an append, not two (the
# event_context row, a second heap tuple and a second btree on random uuids, doubled what
# PostgreSQL did per append). NULL in all seven: no context in the row (a row stored before,
# whose context, if any, is in event_context).
CONTEXT_FIELDS = ("ticket_id", "ticket_code", "trace_id", "causation_id", "actor_role",
                  "actor_id", "actor_unit")


def _context_columns(schema: str, events_table: str) -> psycopg.sql.Composed:
    """The context's seven nullable columns on the events table (added later: a migration,
    looked up first, as `_outgoing_column`; adding a nullable column without a default
    rewrites nothing)."""
    adds = SQL(", ").join(SQL("ADD COLUMN IF NOT EXISTS {} text").format(Identifier(name))
                          for name in CONTEXT_FIELDS)
    return SQL("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
               " WHERE table_schema = {} AND table_name = {} AND column_name = 'actor_unit')"
               " THEN ALTER TABLE {}.{} {};"
               " END IF; END $$").format(Literal(schema), Literal(events_table),
                                         Identifier(schema), Identifier(events_table), adds)


def has_context_columns(conn: psycopg.Connection[Any], schema: str, events_table: str) -> bool:
    """Whether the events table holds the contexts itself (a service of session 8 or later
    has started on it)."""
    return conn.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
                        " AND table_name = %s AND column_name = 'actor_unit'",
                        (schema, events_table)).fetchone() is not None


def outbox_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which a schema's relays hear of newly stored events."""
    return f"minsheng_outbox_{schema}"[:63]


def record_progress(cur: psycopg.Cursor[Any], schema: str, progress: Progress) -> None:
    """Write a consumer's progress with the cursor of the transaction that applied it.

    A duplicate event id raises an IntegrityError, rolling back the whole transaction: the
    consumer then re-reads its position and skips what is already applied.
    """
    s = Identifier(schema)
    if progress.offsets:  # one statement, binary arrays (executemany: a pipeline per batch)
        keys = list(progress.offsets)
        cur.execute(
            SQL("INSERT INTO {}.consumer_positions (consumer, topic, partition, next_offset)"
                " SELECT %b, * FROM unnest(%b::text[], %b::int4[], %b::int8[])"
                " ON CONFLICT (consumer, topic, partition) DO UPDATE"
                " SET next_offset = EXCLUDED.next_offset, updated_at = now()"
                " WHERE consumer_positions.next_offset < EXCLUDED.next_offset").format(s),
            (progress.consumer, [t for t, _ in keys], [p for _, p in keys],
             [progress.offsets[k] + 1 for k in keys]),
        )
    if progress.event_ids:  # one statement for the batch (executemany is a round per row)
        cur.execute(
            SQL("INSERT INTO {}.consumed_events (consumer, event_id)"
                " SELECT %s, unnest(%s::uuid[])").format(s),
            (progress.consumer, progress.event_ids),
        )


def record_contexts(cur: psycopg.Cursor[Any], schema: str,
                    rows: Iterable[tuple[uuid.UUID | str, int, EventContext]],
                    outgoing: dict[tuple[Any, int], bytes] | None = None) -> None:
    """One statement, one array per column, sent in binary (psycopg dumps text arrays in
    Python, element by element; binary arrays of plain values cost a fifth of that).
    `outgoing`: the relay's messages encoded at commit, by (originator id, version)."""
    rows = list(rows)
    if not rows:
        return
    columns: list[list[Any]] = [[_uuid(oid) for oid, _, _ in rows], [v for _, v, _ in rows]]
    contexts = [c for _, _, c in rows]
    columns.extend([getattr(c, name) for c in contexts] for name in CONTEXT_FIELDS)
    names: psycopg.sql.Composable = _CONTEXT_COLUMNS
    arrays: psycopg.sql.Composable = _CONTEXT_ARRAYS
    messages = [outgoing.get((oid, v)) for oid, v, _ in rows] if outgoing else []
    if any(m is not None for m in messages):
        columns.append(messages)
        names, arrays = names + SQL(", outgoing"), arrays + SQL(", %b::bytea[]")
    # No ON CONFLICT: a context is only ever written with its event, in one transaction, so a
    # row already there means the event is too, and the save must fail as a clash anyway
    # (an IntegrityError, raised here before the events table's lock is taken); ON CONFLICT
    # DO NOTHING made every row a speculative insertion (an index probe first, more WAL)
    cur.execute(SQL("INSERT INTO {}.event_context ({}) SELECT * FROM unnest({})")
                .format(Identifier(schema), names, arrays), columns)


_CONTEXT_COLUMNS = SQL(", ").join([SQL("originator_id"), SQL("originator_version"),
                                   *[SQL(name) for name in CONTEXT_FIELDS]])
_CONTEXT_ARRAYS = SQL("%b::uuid[], %b::int8[], " + ", ".join(["%b::text[]"] * 7))


# the seven context columns of a batch: one getter per field over the events' contexts
_CONTEXT_GETTERS = [attrgetter(name) for name in CONTEXT_FIELDS]
_NO_CONTEXT = SimpleNamespace(**dict.fromkeys(CONTEXT_FIELDS))  # NULL in all seven


_ORIGINATOR_ID, _ORIGINATOR_VERSION = attrgetter("originator_id"), attrgetter("originator_version")
_TOPIC, _STATE = attrgetter("topic"), attrgetter("state")
_UUID_ONLY = {uuid.UUID}
_NONE_TYPE = type(None)


_BEGIN = b"BEGIN"
_COMMIT = b"COMMIT"


def _as_bytes(query: Any) -> Any:
    """A composed statement as the bytes psycopg would make of it (its identifiers quoted
    without a connection: they are the service's own schema and table names)."""
    return query.as_bytes(None) if isinstance(query, psycopg.sql.Composable) else query


def _queue(conn: psycopg.Connection[Any], curs: psycopg.Cursor[Any]) -> Any:
    """How a save's statements without parameters (BEGIN, LOCK, NOTIFY, COMMIT) go into its
    pipeline: queued to be sent with the next statement that is sent, as psycopg queues its own
    BEGIN and COMMIT in a pipeline (`_exec_command`), instead of each executed and sent at
    once. One send then carries BEGIN, LOCK, NOTIFY and the first INSERT, and one COMMIT and
    the Sync: fewer sends, fewer wake-ups of the backend, less of psycopg's per-execute
    Python. Their results are checked as an execute's are (an error raises when the pipeline
    next reads, as any statement's in a pipeline). Where psycopg lacks it: executed."""
    command = getattr(conn, "_exec_command", None)
    if command is None:  # pragma: no cover (psycopg 3.2 and 3.3 have it)
        return curs.execute
    wait = conn.wait
    return lambda statement: wait(command(statement))


def _send_queued(conn: psycopg.Connection[Any]) -> None:
    """Send what is queued in the connection's pipeline (`_queue`'s statements) without a
    Sync and without waiting for results (psycopg's own step that sends a pipeline's queue and
    reads whatever results have already come). Where psycopg lacks it: left to the Sync."""
    pipeline = getattr(conn, "_pipeline", None)
    communicate = getattr(pipeline, "_communicate_gen", None)
    if communicate is not None:
        conn.wait(communicate())


def _unnested(arrays: Sequence[str]) -> str:
    """A select list unnesting each array parameter in step: `unnest(%b::uuid[]), ...`."""
    return ", ".join(f"unnest({array})" for array in arrays)


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# A part of a save (TrackedRecorder.insert_parts): its stored events, the relay's messages of
# each, aligned (None: the relay translates that event), or None for none, and optionally each
# event's context, aligned (the group commit has them at hand; without them the contexts are
# looked up in the save's `contexts`/`context`, one dict lookup an event)
Part = (tuple[Sequence[StoredEvent], Sequence[bytes | None] | None]
        | tuple[Sequence[StoredEvent], Sequence[bytes | None] | None,
                Sequence[EventContext] | None])


def _aligned(stored_events: Sequence[StoredEvent],
             outgoing: dict[tuple[Any, int], bytes] | None) -> list[bytes | None] | None:
    """The messages by (originator id, version), as `app.save(outgoing=...)` gives them,
    aligned with the events."""
    if not outgoing:
        return None
    return [outgoing.get((e.originator_id, e.originator_version)) for e in stored_events]


class _Parts:
    """A save's parts, each made once: a round retried on another connection (the recorder's
    `retry`) sends the parts the first try made, then makes the rest; a part that failed to
    be made fails every try."""

    def __init__(self, parts: Iterable[Part]):
        self._source: Iterator[Part] = iter(parts)
        self._made: list[Part] = []
        self._failed: BaseException | None = None

    def __iter__(self) -> Iterator[Part]:
        yield from self._made
        if self._failed is not None:
            raise self._failed
        while True:
            try:
                part = next(self._source)
            except StopIteration:
                return
            except BaseException as exc:
                self._failed = exc
                raise
            self._made.append(part)
            yield part


class TrackedRecorder(PostgresApplicationRecorder):
    """eventsourcing's recorder plus consumer progress and event context, in one transaction.

    `app.save(*aggregates, progress=Progress(...), context=EventContext(...))` or
    `contexts={aggregate_id: EventContext}` for a save that spans several tickets;
    `sql=[Statement(...)]` adds read-model writes to the same transaction.
    """

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        # lock_timeout set once, when a connection is made (a startup option: no statement),
        # instead of a SET LOCAL in every save; only while the pool has made no connection
        # yet (the recorder's construction makes the first)
        pool, connect_args = datastore.pool, datastore.pool.kwargs
        per_connection = bool(pool.closed and datastore.lock_timeout
                              and isinstance(connect_args, dict))
        if per_connection and isinstance(connect_args, dict):
            option = f"-c lock_timeout={int(datastore.lock_timeout)}s"
            connect_args["options"] = f"{connect_args.get('options', '')} {option}".strip()
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(plumbing_tables(datastore.schema))
        self.sql_create_statements.append(_outgoing_column(datastore.schema,
                                                           self.events_table_name))
        self.sql_create_statements.append(_context_columns(datastore.schema,
                                                           self.events_table_name))
        # eventsourcing dumps its rows as an array of a composite type, in text, in Python
        # (~14 us a row measured, the largest part of a group commit); the same rows as
        # binary arrays cost ~3 us. Same table, same lock, same RETURNING; each event's
        # context in its own row (no event_context row)
        names = ", ".join(("originator_id", "originator_version", "topic", "state",
                           *CONTEXT_FIELDS))
        arrays = ["%b::uuid[]", "%b::int8[]", "%b::text[]", "%b::bytea[]", *["%b::text[]"] * 7]
        table = (Identifier(datastore.schema), Identifier(self.events_table_name))
        # the arrays unnested in the select list, in step (PostgreSQL's ProjectSet: one row
        # at a time, in the arrays' order), not `SELECT * FROM unnest(a, b, ...)`: that is
        # ROWS FROM (unnest(a), unnest(b), ...), whose function scan first copies each
        # array's elements into a tuplestore of its own and then reads them back, 12 of them
        # for a batch's part (~9 % of PostgreSQL's CPU a row: 9.07 -> 8.20 us, session 24).
        # The same rows, in the same order, so the same notification ids; the arrays all have
        # one length (a row an event), where both forms give the same rows anyway
        insert = SQL("INSERT INTO {}.{} (" + names + ") SELECT " + _unnested(arrays)
                     ).format(*table)
        # the same with the relay's messages encoded at commit, in the event's own row (the
        # relay then reads them without a join: see _outgoing_column)
        insert_outgoing = SQL("INSERT INTO {}.{} (" + names + ", outgoing) SELECT "
                              + _unnested([*arrays, "%b::bytea[]"])).format(*table)
        returning = SQL(" RETURNING notification_id")
        self._binary_insert = insert + returning
        self._binary_insert_outgoing = insert_outgoing + returning
        # without RETURNING, for a save whose caller does not read the notification ids (the
        # group commit's, insert_parts(notification_ids=False)): PostgreSQL sends no row an
        # event back and libpq and psycopg parse none; the INSERTs' row counts (their command
        # tags) are checked instead. Always with the messages' column (NULL where a part has
        # none, as the statement without it leaves it): one statement for every part
        self._binary_insert_outgoing_quiet: Any = insert_outgoing
        # One notification per save: eventsourcing's NOTIFY goes to the outbox channel (its
        # own "<schema>_events" channel had no listener; a pg_notify of ours followed it).
        self.channel_name = outbox_channel(datastore.schema)
        self._notify_statement = SQL("NOTIFY {}").format(Identifier(self.channel_name))
        if per_connection:
            self.lock_table_statements = [SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(
                Identifier(datastore.schema), Identifier(self.events_table_name))]
        # a save's statements as bytes, made once: psycopg turns a Composed into bytes on
        # every execute (quoting each identifier again), a tenth of the insert's Python
        self.lock_table_statements = [_as_bytes(q) for q in self.lock_table_statements]
        self._binary_insert = _as_bytes(self._binary_insert)
        self._binary_insert_outgoing = _as_bytes(self._binary_insert_outgoing)
        self._binary_insert_outgoing_quiet = _as_bytes(self._binary_insert_outgoing_quiet)
        self._notify_statement = _as_bytes(self._notify_statement)

    @property
    def _binary(self) -> bool:
        """Whether saves take this recorder's own insert (uuid ids, no database functions)."""
        return not self.datastore.enable_db_functions and self.datastore.originator_id_type == "uuid"

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if not self._binary:
            return super().insert_events(stored_events, **kwargs)
        return self._insert_in_one_round(_Parts([(stored_events, _aligned(
            stored_events, kwargs.pop("outgoing", None)))]), **kwargs)

    def insert_parts(self, parts: Iterable[Part], *, notification_ids: bool = True,
                     meanwhile: Callable[[], None] | None = None,
                     **kwargs: Any) -> Sequence[int] | None:
        """`insert_events` of a save made in parts, in ONE transaction: each part's INSERT
        is sent as soon as the part is made, so PostgreSQL inserts one part while the caller
        makes the next (the group commit encodes a batch's stored events and messages part
        by part). A part: its stored events, and the relay's messages of each (aligned, None
        for an event the relay translates itself) or None. Only for `_binary` recorders.
        `notification_ids=False`: the caller does not read the events' notification ids
        (returns None; the INSERTs have no RETURNING, each one's row count is checked).
        `meanwhile`: called once the last part and COMMIT are sent, while PostgreSQL inserts
        the last part and commits (the fsync), before the results are waited for; it must
        not raise (the COMMIT is on its way) and is called again if the round is retried."""
        return self._insert_in_one_round(_Parts(parts), _returning=notification_ids,
                                         meanwhile=meanwhile, **kwargs)

    @retry((StoreInterfaceError, StoreOperationalError), max_attempts=10, wait=0.2)
    def _insert_in_one_round(self, parts: _Parts, *, _returning: bool = True,
                             meanwhile: Callable[[], None] | None = None,
                             **kwargs: Any) -> Sequence[int] | None:
        """eventsourcing's insert_events in one round trip: BEGIN, the statements, the lock,
        the events and COMMIT pipelined up to one Sync, the pipeline's closing one (its
        pipeline waited for BEGIN, for the inserts, for COMMIT and once more: five round
        trips a save). The same transaction, the same statements; COMMIT still waits for the
        fsync before the Sync is answered. A failed statement skips the rest (COMMIT too) and
        is rolled back here, its error raised as eventsourcing's (IntegrityError for a
        version already stored). The events go in one INSERT a part (see insert_parts), in
        order, after one LOCK: their notification ids follow the parts' order. The
        `_insert_events` hook (subclasses add their statements there: dispatch's and sla's
        read models) runs first and is given no stored events on this path: they are made
        and sent after it, part by part; a hook takes what it needs from the save's kwargs."""
        inserted: list[tuple[Any, int]] = []  # a cursor a part (the ids, no dict a row)
        # the first part made before a connection is taken and BEGIN sent: a save of one
        # part (the usual one) holds no connection, nor the rows its statements write, while
        # it is made
        remaining = iter(parts)
        first = list(islice(remaining, 1))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            failed = True
            try:
                with conn.pipeline():  # its exit sends the one Sync; a failure raises there
                    queue = _queue(conn, curs)
                    queue(_BEGIN)
                    self._insert_events(curs, (), **kwargs)
                    if not _returning:
                        # the parts' INSERTs as one executemany of one cursor: the statement
                        # converted once, each part's arrays dumped and sent as soon as the
                        # part is made (its row counts added up by the cursor)
                        cursor = conn.cursor()
                        counted = [0]
                        inserted.append((cursor, 0))
                        cursor.executemany(self._binary_insert_outgoing_quiet, self._part_columns(
                            chain(first, remaining), queue, counted, kwargs))
                        inserted[0] = (cursor, counted[0])
                    else:
                        for part in chain(first, remaining):
                            stored_events = part[0]
                            if not stored_events:
                                continue
                            if not inserted:  # notification ids become visible in issue order
                                for statement in self.lock_table_statements:
                                    queue(statement)
                                queue(self._notify_statement)
                            cursor = conn.cursor(row_factory=scalar_row)
                            inserted.append((cursor, len(stored_events)))
                            self._insert_rows(cursor, stored_events, part[1],
                                              part[2] if len(part) > 2 else None, **kwargs)
                    queue(_COMMIT)  # sent with the pipeline's Sync
                    if meanwhile is not None:
                        # COMMIT sent now (PostgreSQL runs it on arrival: the fsync starts),
                        # the Sync at the pipeline's exit; the caller works meanwhile
                        _send_queued(conn)
                        meanwhile()
                failed = False
                if not _returning:  # committed: the INSERTs' row count, from their tags
                    cursor, n = inserted[0]
                    if n and cursor.rowcount != n:
                        raise StoreProgrammingError(f"Couldn't insert all events"
                                                    f" (got {cursor.rowcount}, expected {n})")
                    return None
                if not inserted:
                    return None
                ids: list[int] = []
                for cursor, n in inserted:
                    got = cursor.fetchall()
                    if len(got) != n:
                        raise StoreProgrammingError(f"Couldn't get all notification IDs (got"
                                                    f" {len(got)}, expected {n})")
                    ids.extend(got)
                return ids
            finally:
                for cursor, _ in inserted:
                    cursor.close()
                if not conn.closed and \
                        conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                if failed and not conn.closed:
                    forget_prepared(conn)

    def _part_columns(self, parts: Iterable[Part], queue: Any, counted: list[int],
                      kwargs: dict[str, Any]) -> Iterator[list[pg_arrays.BinaryArray]]:
        """Each part's columns (`_columns`, with the relay's messages: NULL where a part has
        none, as the statement without them leaves them), made when the executemany asks
        for them; the LOCK and the NOTIFY queued before the first. `counted[0]`: the events
        so far."""
        for part in parts:
            stored_events = part[0]
            if not stored_events:
                continue
            if not counted[0]:  # notification ids become visible in issue order
                for statement in self.lock_table_statements:
                    queue(statement)
                queue(self._notify_statement)
            counted[0] += len(stored_events)
            columns, outgoing = self._columns(stored_events, part[1],
                                              part[2] if len(part) > 2 else None, kwargs)
            columns.append(pg_arrays.byteas(list(outgoing) if outgoing is not None
                                            else [None] * len(stored_events)))
            yield columns

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        if self.datastore.originator_id_type != "uuid":
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        self._lock_table(curs)  # notification ids become visible in the order they are issued
        self._notify_channel(curs)
        self._insert_rows(curs, stored_events,
                          _aligned(stored_events, kwargs.get("outgoing")), None, **kwargs)

    def _insert_rows(self, curs: Any, stored_events: Sequence[StoredEvent],
                     outgoing: Sequence[bytes | None] | None,
                     event_contexts: Sequence[EventContext | None] | None = None,
                     **kwargs: Any) -> None:
        """One INSERT of the events' rows (`_columns`), with the relay's messages where there
        are any."""
        columns, outgoing = self._columns(stored_events, outgoing, event_contexts, kwargs)
        if outgoing is not None:
            columns.append(pg_arrays.byteas(list(outgoing)))
            curs.execute(self._binary_insert_outgoing, columns)
        else:
            curs.execute(self._binary_insert, columns)

    def _columns(self, stored_events: Sequence[StoredEvent],
                 outgoing: Sequence[bytes | None] | None,
                 event_contexts: Sequence[EventContext | None] | None,
                 kwargs: dict[str, Any]) -> tuple[list[pg_arrays.BinaryArray],
                                                  Sequence[bytes | None] | None]:
        """The columns of one INSERT of the events' rows, each a binary array made here
        (backbone.pg_arrays: psycopg dumped lists element by element in Python, after
        scanning each for its element type). `event_contexts`: each event's, aligned (None:
        looked up in the save's `contexts` and `context`). A text column holding one value in
        every row (the topic of a batch of one event class, most context fields) is that
        value's element repeated. With the relay's messages, aligned, or None where the
        events have none."""
        ids = list(map(_ORIGINATOR_ID, stored_events))
        if set(map(type, ids)) != _UUID_ONLY:
            ids = list(map(_uuid, ids))
        columns: list[pg_arrays.BinaryArray] = [
            pg_arrays.uuids(ids),
            pg_arrays.int8s(list(map(_ORIGINATOR_VERSION, stored_events))),
            pg_arrays.texts(list(map(_TOPIC, stored_events))),
            pg_arrays.byteas(list(map(_STATE, stored_events)))]
        contexts: Sequence[Any] | None = event_contexts
        if contexts is None:
            default: EventContext | None = kwargs.get("context")
            per_aggregate: dict[Any, EventContext] = kwargs.get("contexts") or {}
            contexts = [per_aggregate.get(e.originator_id, default) or _NO_CONTEXT
                        for e in stored_events]
        elif _NONE_TYPE in set(map(type, contexts)):  # (types: `None in` calls each __eq__)
            contexts = [c or _NO_CONTEXT for c in contexts]
        columns.extend(pg_arrays.texts(list(map(field, contexts))) for field in _CONTEXT_GETTERS)
        if outgoing and outgoing.count(None) != len(outgoing):
            return columns, outgoing
        return columns, None

    def _notify_channel(self, curs: Any) -> None:
        # delivered at COMMIT (never for a rollback): the relay wakes instead of polling
        curs.execute(self._notify_statement)

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        progress: Progress | None = kwargs.get("progress")
        if progress is not None:
            record_progress(curs, self.datastore.schema, progress)
        if not self._binary:
            # eventsourcing's own insert (non-uuid ids) writes the events' rows: their
            # contexts, and the relay's messages, go in event_context
            default: EventContext | None = kwargs.get("context")
            per_aggregate: dict[uuid.UUID, EventContext] = kwargs.get("contexts") or {}
            rows: list[tuple[uuid.UUID | str, int, EventContext]] = []
            for e in stored_events:
                ctx = per_aggregate.get(e.originator_id, default)  # type: ignore[arg-type]
                if ctx is not None:
                    rows.append((e.originator_id, e.originator_version, ctx))
            record_contexts(curs, self.datastore.schema, rows, kwargs.get("outgoing"))
        for statement in in_lock_order(kwargs.get("sql") or ()):
            curs.execute(statement.sql, statement.params)


def application_env(settings: ServiceSettings) -> dict[str, str]:
    """The environment an eventsourcing Application needs to live in the service's schema."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": settings.pg_dbname,
        "POSTGRES_HOST": settings.pg_host,
        "POSTGRES_PORT": str(settings.pg_port),
        "POSTGRES_USER": settings.pg_user,
        "POSTGRES_PASSWORD": settings.pg_password,
        "POSTGRES_SCHEMA": settings.schema,
        "POSTGRES_POOL_SIZE": str(settings.pg_pool_size),
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_CONN_MAX_AGE": "600",
        # no pre-ping (an empty round trip on every checkout, ~12 a full ticket): a dead
        # connection raises OperationalError, which the recorder's methods retry (10 tries,
        # 0.2 s apart) on another; the pool replaces the dead one
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "APPLICATION_RECORDER_TOPIC": "backbone.store:TrackedRecorder",
        # eventsourcing's JSON transcoding, the same bytes, written by orjson (see there)
        "TRANSCODER_TOPIC": "backbone.transcoder:StoredStateTranscoder",
        "MAPPER_TOPIC": "backbone.transcoder:StoredEventMapper",
        "CREATE_TABLE": "y",
    }


def ensure_database(settings: ServiceSettings) -> None:
    """Create the database (if missing) and the service's schema and plumbing tables."""
    admin = settings.model_copy(update={"pg_dbname": "postgres"})
    with psycopg.connect(admin.pg_conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (settings.pg_dbname,)).fetchone()
        if not exists:
            try:
                conn.execute(SQL("CREATE DATABASE {}").format(Identifier(settings.pg_dbname)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another service won the race
    # Replicas of a service start together; concurrent CREATE ... IF NOT EXISTS of one table
    # can still fail (a unique violation in the catalogue), so they take turns.
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                     (f"minsheng-ddl:{settings.schema}",))
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(settings.schema)))
        for statement in plumbing_tables(settings.schema):
            conn.execute(statement)


def consumer_offsets(conn: psycopg.Connection[Any], schema: str,
                     consumer: str) -> dict[tuple[str, int], int]:
    rows = conn.execute(
        SQL("SELECT topic, partition, next_offset FROM {}.consumer_positions"
            " WHERE consumer = %s").format(Identifier(schema)), (consumer,)).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def already_consumed(conn: psycopg.Connection[Any], schema: str, consumer: str,
                     event_ids: list[str]) -> set[str]:
    if not event_ids:
        return set()
    rows = conn.execute(
        SQL("SELECT event_id::text FROM {}.consumed_events WHERE consumer = %s"
            " AND event_id = ANY(%s::uuid[])").format(Identifier(schema)),
        (consumer, event_ids)).fetchall()
    return {r[0] for r in rows}


def says_when_unreachable(main: Callable[..., int]) -> Callable[..., int]:
    """An operator command (`python -m services.<name> ...`) whose PostgreSQL does not answer
    says so in one line on stderr and exits 2, instead of psycopg's traceback."""

    @functools.wraps(main)
    def command(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL did not answer: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2

    return command
