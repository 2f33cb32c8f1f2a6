"""The idempotent consumer.

A polled batch is applied in ONE PostgreSQL transaction together with the record of what was
applied: the next offset per topic-partition and the event ids. Offsets live in PostgreSQL,
not in Kafka, so after a crash the consumer seeks each partition it is given to the position
that committed with the effects: nothing is lost and nothing is applied twice. Event ids catch
the copies the at-least-once relay may publish at new offsets.

Consumption by interest: the envelope's event type travels in a Kafka header, so a message
whose type is not in the consumer's handler table is skipped WITHOUT decoding and WITHOUT a
`consumed_events` row; only the partition's position moves, and that position rides on the next
transaction the consumer commits anyway (or is written once when the consumer falls idle). A
skipped message read again after a crash is skipped again: nothing to make idempotent.

Batches grow under load: after a poll that did not fill the batch, the consumer lingers a few
milliseconds for more (`MINSHENG_CONSUMER_LINGER_MS`), and while a batch is applied in a worker
thread the fetcher keeps filling its buffer, so a busy consumer takes hundreds of messages per
transaction and an idle one answers within a few milliseconds.

A message that cannot be decoded, or whose handler raises a non-transient error, goes to the
dead-letter topic with the error, is recorded as consumed, and the consumer carries on.

Two kinds of handler:
- `AggregateHandler`: for eventsourcing applications; the handler loads and changes aggregates
  through a `UnitOfWork`, which saves them with the progress in one `app.save`. The consumer
  keeps what its batches loaded and saved in an `AggregateCache` (no load per event, no copy):
  each commit checks, in its own transaction, that nothing it read from the cache changed
  since (`AggregateCache.guard`), so a stale entry costs a conflict and a retry, never a
  wrong effect.
- `SqlHandler`: for read models and the audit ledger; the handler writes with the transaction's
  cursor, and the progress is written with the same cursor. A table may also name a
  `batch` handler that gets the whole batch's (event, record) pairs at once (multi-row writes,
  one write per ticket); if it fails on a poison message the batch is re-applied one message
  at a time, so the poison is found and dead-lettered alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError as ESIntegrityError
from eventsourcing.persistence import OperationalError as ESOperationalError
from prometheus_client import Counter
from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import ConnectionPool

from backbone import dead_letters, events, pg_arrays
from backbone.handoff import HandOff
from backbone.kafka import client_options, pace_fetches, poll_or_stop, quiet_options
from backbone.logs import ticket_id_var, trace_id_var
from backbone.pipelines import lazy_pipeline
from backbone.settings import ServiceSettings
from backbone.store import (
    EventContext,
    Progress,
    Statement,
    _uuid,
    already_consumed,
    autocommit,
    consumer_offsets,
    forget_prepared,
)

log = logging.getLogger(__name__)

CONSUMED = Counter("minsheng_consumer_applied_total", "Events applied", ["consumer", "event_type"])
DEAD_LETTERED = Counter("minsheng_consumer_dead_lettered_total", "Messages sent to dead letter",
                        ["consumer"])
DUPLICATES = Counter("minsheng_consumer_duplicates_total", "Copies dropped", ["consumer"])

IDLE_POLL_S = 30.0  # an idle consumer's poll, cut short by a message or by `stop`
SKIPPED_WRITE_S = 5.0  # positions of skipped messages wait at most this for a commit
# Kafka's committed offsets are only for lag dashboards (the truth is in PostgreSQL): mirrored
# at most this often while events flow (an OffsetCommit request, and a write to the broker's
# offsets log, a second per consumer group was ~10 requests/s of the platform's), and at once
# when the consumer falls idle, so an idle group shows no lag
MIRROR_EVERY_S = 5.0


class ConcurrentUpdateError(Exception):
    """Another writer kept changing the same aggregate; the batch is retried later."""


TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, ESOperationalError,
             ConnectionError, TimeoutError, ConcurrentUpdateError)


def _project(aggregate: Any, domain_events: Any) -> Any:
    """eventsourcing's `project_aggregate` without its per-event `assert isinstance(...,
    CanMutateProtocol)`: a runtime Protocol check that costs more than the mutation itself
    (~70 us per event on Python 3.11); every stored event of ours is an eventsourcing event."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


ABSENT = object()  # cached: no aggregate has this id


class AggregateCache:
    """The aggregates a consumer's committed batches left behind, kept for the next batches.

    Entries are the committed objects themselves (no deepcopy: a batch works on them in
    place), so they are trusted only while every batch since the last `clear` committed: a
    batch `begin`s by clearing a cache that a failed batch may have touched, and `commit`
    trusts it again. Entries can still go stale when another writer changes an aggregate: a
    save of this process through the same application evicts what it saved (`watch`), and a
    writer elsewhere (another replica) is caught by `guard`: the committing transaction checks
    that no aggregate read from the cache has an event past the version read, and fails as a
    conflict (IntegrityError) if one has; the consumer then forgets its state and applies the
    batch again from the store. Cleared on a rebalance and after any failure."""

    def __init__(self, app: Application, maxsize: int = 4096):
        self.app = app
        self.maxsize = maxsize
        self.entries: dict[uuid.UUID, Any] = {}
        self._trusted = True
        self._lock = threading.Lock()
        self._evicted: set[uuid.UUID] = set()  # saved by another writer of this process
        self._own = threading.local()  # set while the consumer itself saves
        self._guard: SQL | Any = None
        self.guard_function: str | None = None  # its quoted name, once installed

    @staticmethod
    def supports(app: Application) -> bool:
        """Only a PostgreSQL event store keyed by uuid can check what was read."""
        recorder: Any = getattr(app, "recorder", None)
        datastore = getattr(recorder, "datastore", None)
        return (hasattr(recorder, "events_table_name") and
                getattr(datastore, "originator_id_type", None) == "uuid")

    def watch(self) -> None:
        """Evict what any other writer of this process saves through the application's
        recorder (commands, timers): they change aggregates this cache may hold."""
        recorder: Any = self.app.recorder
        insert_events = recorder.insert_events
        own = self._own

        def insert_and_evict(stored_events: Any, **kwargs: Any) -> Any:
            result = insert_events(stored_events, **kwargs)
            if not getattr(own, "saving", False):
                self.evict({e.originator_id for e in stored_events})
            return result

        recorder.insert_events = insert_and_evict

    def evict(self, ids: set[Any]) -> None:
        with self._lock:
            self._evicted.update(ids)
            for aggregate_id in ids:
                self.entries.pop(aggregate_id, None)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self._evicted.clear()

    def begin(self) -> None:
        with self._lock:
            if not self._trusted:  # the last batch did not commit: it may have changed entries
                self.entries.clear()
            self._evicted.clear()
            self._trusted = False

    def commit(self, aggregates: dict[uuid.UUID, Any], missing: set[uuid.UUID]) -> None:
        """After the batch committed: its aggregates (and the ids it found absent) are the
        store's state, except what another writer saved meanwhile."""
        with self._lock:
            entries = self.entries
            for aggregate_id in missing:
                entries.pop(aggregate_id, None)
                entries[aggregate_id] = ABSENT
            for aggregate_id, aggregate in aggregates.items():
                entries.pop(aggregate_id, None)  # re-inserted: most recently used last
                entries[aggregate_id] = aggregate
            for aggregate_id in self._evicted:
                entries.pop(aggregate_id, None)
            self._evicted.clear()
            excess = len(entries) - self.maxsize
            if excess > 0:
                for aggregate_id in list(itertools.islice(entries, excess)):
                    del entries[aggregate_id]
            self._trusted = True

    @contextlib.contextmanager
    def saving(self) -> Any:
        self._own.saving = True
        try:
            yield
        finally:
            self._own.saving = False

    def guard(self, read: dict[uuid.UUID, int]) -> Statement:
        """The statement that fails the transaction (IntegrityError) if any aggregate has an
        event past the version read from the cache (0: read as absent)."""
        if self._guard is None:
            raise RuntimeError("AggregateCache.install() was not called")
        return Statement(self._guard, guard_params(read))

    def install(self, pool: ConnectionPool) -> None:
        """Create the guard's function next to the application's events (once per start)."""
        recorder: Any = self.app.recorder
        schema, table = recorder.datastore.schema, recorder.events_table_name
        function = Identifier(schema, f"{table}_unchanged"[:63])
        with pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"minsheng-ddl:{schema}",))
            conn.execute(SQL(
                "CREATE OR REPLACE FUNCTION {}(ids uuid[], versions int8[]) RETURNS void"
                " LANGUAGE plpgsql AS $guard$ BEGIN"
                " IF EXISTS (SELECT 1 FROM unnest(ids, versions) AS r(id, v) WHERE EXISTS ("
                "  SELECT 1 FROM {} e WHERE e.originator_id = r.id"
                "  AND e.originator_version > r.v)) THEN"
                " RAISE EXCEPTION 'an aggregate changed after this consumer cached it'"
                "  USING ERRCODE = 'unique_violation';"
                " END IF; END $guard$").format(function, Identifier(schema, table)))
        self.guard_function = function.as_string(None)
        self._guard = SQL(SQL("SELECT {}(%b::uuid[], %b::int8[])").format(function)
                          .as_string(None))


def guard_params(read: dict[Any, int]) -> list[Any]:
    """The guard function's two arrays (ids, versions read), in binary (backbone.pg_arrays)."""
    return [pg_arrays.uuids(list(map(_uuid, read))), pg_arrays.int8s(list(read.values()))]


_BEGIN = b"BEGIN"
_COMMIT = b"COMMIT"


class _PipelinedCursor(psycopg.Cursor[Any]):
    """A cursor whose `rowcount` and `statusmessage` wait for their statement's result, as a
    fetch does: in pipeline mode an `execute` returns before its result arrives, and a
    handler that looks at how many rows it changed must see the real count."""

    @property
    def rowcount(self) -> int:
        self._fetch_pipeline()
        return self._rowcount

    @property
    def statusmessage(self) -> str | None:
        self._fetch_pipeline()
        return self._statusmessage.decode() if self._statusmessage else None


class ProgressStatements:
    """What a consumer has applied (`Progress`) as ONE statement: the positions upsert and the
    consumed ids insert as data-modifying CTEs of one INSERT, and the commit's `pg_notify` (and
    the aggregate cache's guard) as its final SELECT (were two to four statements: each a
    parse and an execution, and in SQL mode a round trip; the aggregate save pipelines them). A copy of an applied event id
    fails it on `consumed_events`' key, rolling the transaction back, as the separate
    statements did. The SQL is composed once per shape, not per batch."""

    def __init__(self, schema: str, consumer: str):
        self.schema = schema
        self.consumer = consumer
        self._shapes: dict[tuple[bool, bool, bool, str | None], SQL] = {}

    def _sql(self, positions: bool, ids: bool, notify: bool, guard: str | None) -> SQL:
        shape = (positions, ids, notify, guard)
        if shape not in self._shapes:
            s = Identifier(self.schema)
            parts: list[Composable] = []
            if positions:
                parts.append(SQL(
                    "INSERT INTO {}.consumer_positions (consumer, topic, partition, next_offset)"
                    " SELECT %b, * FROM unnest(%b::text[], %b::int4[], %b::int8[])"
                    " ON CONFLICT (consumer, topic, partition) DO UPDATE"
                    " SET next_offset = EXCLUDED.next_offset, updated_at = now()"
                    " WHERE consumer_positions.next_offset < EXCLUDED.next_offset").format(s))
            if ids:
                parts.append(SQL("INSERT INTO {}.consumed_events (consumer, event_id)"
                                 " SELECT %b, unnest(%b::text[]::uuid[])").format(s))
            selected = []
            if notify:
                selected.append(SQL("pg_notify(%b, '')"))
            if guard is not None:  # the AggregateCache's check, its quoted function name
                selected.append(SQL(guard + "(%b::uuid[], %b::int8[])"))
            if selected:
                parts.append(SQL("SELECT ") + SQL(", ").join(selected))
            ctes = [SQL("w{} AS ({})").format(SQL(str(i)), part)
                    for i, part in enumerate(parts[:-1])]
            query = (SQL("WITH ") + SQL(", ").join(ctes) + SQL(" ") + parts[-1]
                     if ctes else parts[-1])
            self._shapes[shape] = SQL(query.as_string(None))  # composed once, not per run
        return self._shapes[shape]

    def statement(self, progress: Progress, notify_channel: str | None = None,
                  guard: tuple[str, dict[Any, int]] | None = None) -> Statement | None:
        """None when there is nothing to write (and nothing to notify or check). `guard`:
        the `AggregateCache`'s check as well (its function's name, and what was read from
        the cache), as the final SELECT: one statement less per batch. The data-modifying
        parts run whatever the SELECT does, and the check fails the statement as it failed
        its own (unique_violation). Arrays in binary (backbone.pg_arrays: psycopg dumps a
        list element by element after scanning it for the element's type)."""
        params: list[Any] = []
        offsets = progress.offsets
        if offsets:
            keys = list(offsets)
            params += [self.consumer, pg_arrays.texts([t for t, _ in keys]),
                       pg_arrays.int8s([p for _, p in keys]),  # (cast to int4[] there)
                       pg_arrays.int8s([offsets[k] + 1 for k in keys])]
        if progress.event_ids:
            params += [self.consumer, pg_arrays.texts(progress.event_ids)]
        if notify_channel is not None:
            params.append(notify_channel)
        if guard is not None and guard[1]:
            params += guard_params(guard[1])
        else:
            guard = None
        if not params:
            return None
        return Statement(self._sql(bool(offsets), bool(progress.event_ids),
                                   notify_channel is not None,
                                   guard[0] if guard is not None else None), params)


class UnitOfWork:
    """Aggregates loaded and changed while applying a batch; saved together at the end.

    With a `cache` (the consumer's), loads are answered from it when it has the aggregate, and
    the save checks that what was read from it is still current (`AggregateCache.guard`)."""

    def __init__(self, app: Application, cache: AggregateCache | None = None):
        self.app = app
        self.cache = cache
        self.aggregates: dict[uuid.UUID, Any] = {}
        self.contexts: dict[tuple[uuid.UUID, int], EventContext] = {}
        self.context = EventContext()
        self.statements: list[Statement] = []  # read-model writes for the same transaction
        self._missing: set[uuid.UUID] = set()  # ids a load found no aggregate for
        self._cached: dict[uuid.UUID, int] = {}  # read from the cache: id -> version read
        self.batch: list[Any] = []  # the decoded events the batch applies (for prefetching)

    def get(self, aggregate_id: uuid.UUID) -> Any | None:
        """The aggregate as this batch has left it, or None if it does not exist."""
        if aggregate_id in self.aggregates:
            return self.aggregates[aggregate_id]
        if aggregate_id in self._missing:  # asked before in this batch: still not there
            return None
        if self.cache is not None:
            hit = self.cache.entries.get(aggregate_id)
            if hit is ABSENT:
                self._cached[aggregate_id] = 0
                self._missing.add(aggregate_id)
                return None
            if hit is not None:
                self._cached[aggregate_id] = hit.version
                self.aggregates[aggregate_id] = hit
                return hit
        try:
            aggregate: Any = self.app.repository.get(aggregate_id, projector_func=_project)
        except AggregateNotFoundError:
            self._missing.add(aggregate_id)
            return None
        self.aggregates[aggregate_id] = aggregate
        return aggregate

    def assume_absent(self, aggregate_id: uuid.UUID) -> bool:
        """Take an aggregate this batch has not seen, and the cache does not hold, as absent
        without reading the store: the commit checks it as it checks what was read from the
        cache (`AggregateCache.guard`: no event of it stored), so were it there after all the
        batch fails as a conflict and is applied again from the store. Only with a cache;
        returns whether it was assumed."""
        if (self.cache is None or aggregate_id in self.aggregates
                or aggregate_id in self._missing or aggregate_id in self.cache.entries):
            return False
        self._cached[aggregate_id] = 0
        self._missing.add(aggregate_id)
        return True

    def add(self, aggregate: Any) -> None:
        """Keep a new or changed aggregate; its new events get the current context."""
        self.aggregates[aggregate.id] = aggregate
        self._stamp(aggregate)

    def execute(self, statement: Statement) -> None:
        """Run ``statement`` (a read-model write) in the transaction that saves the batch."""
        self.statements.append(statement)

    def _stamp(self, aggregate: Any) -> None:
        for e in aggregate.pending_events:
            self.contexts.setdefault((e.originator_id, e.originator_version), self.context)

    def save(self, progress: Progress | Statement | None,
             statements: ProgressStatements | None = None) -> None:
        """`progress`: what the batch applied, as a `Progress` (written by the recorder) or
        as the consumer's own one statement (`ProgressStatements`), run in the same
        transaction as the events. With `statements` (the consumer's), a `Progress` is
        written as its one statement, which also makes the cache's check."""
        for aggregate in self.aggregates.values():
            self._stamp(aggregate)
        changed = [a for a in self.aggregates.values() if a.pending_events]
        per_aggregate: dict[uuid.UUID, EventContext] = {}
        for (oid, _), ctx in self.contexts.items():
            per_aggregate.setdefault(oid, ctx)
        # eventsourcing writes one context per aggregate per save; events of one aggregate
        # caused by different messages in a batch share the first message's context.
        sql = list(self.statements)
        cache = self.cache
        checked = not (self._cached and cache is not None)  # nothing read from the cache
        if isinstance(progress, Progress) and statements is not None:
            merged = (cache.guard_function, self._cached) if (
                not checked and cache is not None and cache.guard_function) else None
            progress = statements.statement(progress, guard=merged)
            checked = checked or merged is not None
        if not checked and cache is not None:
            sql.append(cache.guard(self._cached))
        extra: dict[str, Any] = {}
        if isinstance(progress, Statement):
            sql.append(progress)
        elif progress is not None:
            extra["progress"] = progress
        if sql:
            extra["sql"] = sql
        if self.cache is None:
            self._save(changed, contexts=per_aggregate, **extra)
            return
        with self.cache.saving():
            self._save(changed, contexts=per_aggregate, **extra)
        self.cache.commit(self.aggregates, self._missing - self.aggregates.keys())

    def _save(self, changed: list[Any], **kwargs: Any) -> None:
        """`app.save(*changed, **kwargs)`. For an application that keeps eventsourcing's own
        `save`, what it does with aggregates, less `ProcessingEvent.collect_events`' two
        `isinstance` checks of each against runtime Protocols (~55 us an aggregate on Python
        3.11, more than the rest of collecting; dispatch and sla skip them in their own
        `save`): every object here is an aggregate the batch loaded or made."""
        app = self.app
        if type(app).save is not Application.save:
            app.save(*changed, **kwargs)
            return
        processing: ProcessingEvent[Any] = ProcessingEvent()
        for aggregate in changed:
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        processing.saved_kwargs.update(kwargs)
        recordings = app._record(processing)
        app._take_snapshots(processing)
        app._notify(recordings)
        app.notify(processing.events)  # (deprecated, a no-op unless overridden, as in save)


class AggregateHandler(Protocol):
    def __call__(self, event: events.DecodedEvent, uow: UnitOfWork) -> None: ...


class SqlHandler(Protocol):
    def __call__(self, event: events.DecodedEvent, cur: psycopg.Cursor[Any],
                 record: ConsumerRecord) -> None: ...


SqlBatchHandler = Callable[[list[tuple[events.DecodedEvent, ConsumerRecord]], psycopg.Cursor[Any]],
                          None]


@dataclass
class Handlers:
    """Which event types a consumer applies, declared as data: event type -> handler.

    The table is also what the consumer skips unread: a type not in it is never decoded.
    `batch` (SQL mode only): applies every wanted event of a batch at once, instead of the
    table's per-event handlers (the table still says which types are wanted). `forget`:
    called whenever the consumer forgets its state after a failed transaction (a handler
    that keeps rows in memory drops what the rolled-back transaction left there)."""

    table: dict[str, Callable[..., None]] = field(default_factory=dict)
    batch: SqlBatchHandler | None = None
    forget: Callable[[], None] | None = None

    def for_type(self, event_type: str) -> Callable[..., None] | None:
        return self.table.get(event_type)

    def wants(self, event_type: str) -> bool:
        return self.for_type(event_type) is not None


def header_event_type(record: ConsumerRecord) -> str | None:
    """The envelope's event type as the relay put it in the Kafka headers (None if absent)."""
    return events.header(record.headers, "event_type")


class PoisonMessageError(Exception):
    """`exact`: `record` is the message that failed (False: somewhere in a batch from it)."""

    def __init__(self, record: ConsumerRecord, reason: str, exact: bool = True):
        super().__init__(reason)
        self.record = record
        self.reason = reason
        self.exact = exact


def gather(ms: int, size: int = 256 * 1024) -> tuple[int, int] | None:
    """What a consumer's fetch waits for while events flow (`IdempotentConsumer(gather=...)`):
    `size` bytes or `ms` milliseconds, whichever first; 0 ms: none (the first byte answers).

    `size` was 64 KB: at 50 tickets/s (~15 lifecycle messages, ~8.5 KB on the wire a ticket)
    64 KB ended every gather after ~150 ms, so the services' 200-300 ms never applied, and
    each fetch costs the event loop its pure-Python request building and response decoding
    (aiokafka) and a batch's hand-off and transaction, whatever it holds. With 256 KB
    (feedback's decisions and hall chose it already) the services' ms end the gather up to
    ~100 tickets/s at 300 ms, ~150 at 200 ms (docs/profiles/consumer-core.md, session 16).
    The routing path keeps its own 16 KB (`routing_gather`)."""
    return (size, ms) if ms > 0 else None


def routing_gather(settings: ServiceSettings) -> tuple[int, int] | None:
    """The routing path's consumers gather briefly: 16 KB or `routing_gather_ms` (20 ms)."""
    return gather(settings.routing_gather_ms, 16 * 1024)


def static_member_id(instance: str, topics: Sequence[str]) -> str | None:
    """The consumer's `group.instance.id`: the process's stable name and a digest of the topics
    it reads (None: no name, a dynamic member).

    A static member that comes back under its old id is given its old assignment at once,
    without a rebalance: what makes a restart quick. But it is given it even when it comes back
    reading MORE topics (an upgrade that subscribes to a new one), and then no member ever got
    the new topic's partitions: measured on the local broker (Kafka 4.1.1), two replicas
    upgraded one after the other from [t1] to [t1, t2] held t1's partitions only, 60 s after
    the last one came back (tests/integration/wire/test_static_members.py).
    With the topics in the id, an upgraded process is a new member: it joins at once and the
    group rebalances; the old id's partitions are given out once its session timeout (10 s)
    has run out, as for a dynamic member. A plain restart keeps the id."""
    if not instance:
        return None
    digest = hashlib.sha1(",".join(sorted(set(topics))).encode()).hexdigest()[:8]
    return f"{instance}.{digest}"


class IdempotentConsumer:
    def __init__(self, *, name: str, settings: ServiceSettings, pool: ConnectionPool,
                 topics: list[str], handlers: Handlers, producer: Any,
                 app: Application | None = None, decode: Callable[[bytes], Any] = events.decode,
                 notify_channel: str | None = None, gather: tuple[int, int] | None = None):
        """`notify_channel` (SQL mode): a transaction that applied events also runs
        `pg_notify(notify_channel)`, delivered at its commit, so readers of the rows it
        wrote (in any replica) wait on `backbone.wakeup.CommitNews` instead of polling.
        `gather` (bytes, ms), for a consumer nobody waits on (a read model): while events flow
        (`_pace`), the broker answers a fetch once it holds that many bytes or that many ms
        have passed, so a batch (one fetch, one thread hop, one transaction) holds many events
        at any pace, not one or two (the workbench's list: 16 -> 2.3 ms of CPU per ticket at
        10 tickets/s)."""
        self.gather = gather
        self._gathering = False  # whether the fetcher gathers now (`_pace`)
        self.name = name
        self.settings = settings
        self.pool = pool
        self.schema = settings.schema
        self.topics = topics
        self.handlers = handlers
        self.app = app  # given: aggregate mode; None: SQL mode
        # aggregate mode: what the batches loaded and saved, for the next (class docstring)
        self.cache = (AggregateCache(app) if app is not None and AggregateCache.supports(app)
                      else None)
        if self.cache is not None:
            self.cache.watch()
        self._cache_installed = False
        # SQL mode: a batch's transaction goes as one pipeline (`_commit_sql`) until a handler
        # shows that it cannot run in one (COPY)
        self._pipelining = True
        self.producer = producer
        self.decode = decode
        self.consumer: AIOKafkaConsumer | None = None
        self.ready = False
        # the thread that applies this consumer's batches (and reads its positions): one
        # queue put and one wake-up back per batch, not an executor's submit (backbone/handoff)
        self._worker = HandOff(f"apply-{name}")
        # What PostgreSQL holds as applied (None: read it again), and the positions of skipped
        # messages not written yet (they ride on the next commit). Touched only by the apply
        # thread and by the event loop between batches, never at the same time.
        self._stored: dict[tuple[str, int], int] | None = None
        self._skipped = Progress(name)
        self._skipped_since = 0.0
        self._mirrored_at = 0.0
        self._unmirrored: dict[TopicPartition, int] = {}  # read since the last mirror
        self.notify_channel = notify_channel
        self._progress = ProgressStatements(self.schema, name)
        # called on the event loop after each commit (batch applied, or positions written):
        # in-process loops that depend on what the consumer stored wake on it (wakeup.Nudge)
        self.after_apply: list[Callable[[], None]] = []

    # -- Kafka -----------------------------------------------------------------------------
    def _make_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **client_options(self.settings),  # type: ignore[arg-type]
            group_id=self.settings.group(self.name),
            # static membership when the process has a stable name (ServiceSettings)
            group_instance_id=static_member_id(self.settings.consumer_instance, self.topics),
            client_id=f"minsheng-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.settings.consumer_batch,
            # a topic created after we subscribed is picked up within seconds, not minutes
            metadata_max_age_ms=10_000,
            **quiet_options(self.settings),
        )

    def _pace(self, flowing: bool) -> None:
        """A `gather` consumer gathers its fetches while events flow and long-polls once a
        poll found nothing (`backbone.kafka.pace_fetches`): the workbench's and intake's read
        side went from 0.1 to 0.33 % of a core idle when they gathered while idle."""
        if self.consumer is not None:
            self._gathering = pace_fetches(self.consumer, self.gather, flowing, self._gathering,
                                           self.settings.consumer_fetch_max_wait_ms)

    def _stored_offsets(self) -> dict[tuple[str, int], int]:
        with self.pool.connection() as conn:
            return consumer_offsets(conn, self.schema, self.name)

    async def _seek_to_stored(self, partitions: set[TopicPartition]) -> None:
        # in the apply thread: after the batch being applied (if any) committed, not beside it
        stored = await self._worker.run(self._stored_offsets)
        self._stored = dict(stored)
        self._unmirrored = {}  # (a partition no longer ours cannot be committed)
        if self.cache is not None:  # partitions move: another member may have written
            self.cache.clear()
        self._skipped = Progress(self.name)
        assert self.consumer is not None
        for tp in partitions:
            # never applied here: from offset 0, which the fetcher moves to the oldest message
            # kept if retention removed it (auto_offset_reset="earliest"). Not
            # `await seek_to_beginning(tp)`: it waits for the fetcher's next round, and inside a
            # rebalance listener (no heartbeats until it returns) one long-polled round per
            # partition outlasted the session: the member was dropped and rejoined, forever
            self.consumer.seek(tp, stored.get((tp.topic, tp.partition), 0))

    async def run(self, stop: asyncio.Event) -> None:
        outer = self
        self._loop_ref = asyncio.get_running_loop()

        class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
                return None

            async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
                await outer._seek_to_stored(assigned)

        try:
            while not stop.is_set():
                self.consumer = self._make_consumer()
                self._gathering = False  # a new consumer starts quiet
                try:
                    await self.consumer.start()
                    self.consumer.subscribe(self.topics, listener=Rebalance())
                    self.ready = True
                    await self._loop(stop)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("consumer %s failed; restarting it", self.name)
                    await asyncio.sleep(1.0)
                finally:
                    self.ready = False
                    await self.consumer.stop()
        finally:
            self._worker.close()

    async def _poll(self, stop: asyncio.Event, idle: bool) -> dict[Any, list[ConsumerRecord]]:
        """The next records (none: nothing came in the poll's time, or `stop` was set). The
        fetcher long-polls the broker in the background and getmany returns as soon as a
        message arrives. Busy: a plain getmany of at most 1 s. Idle (the last poll found
        nothing): one poll of IDLE_POLL_S that `stop` cuts short, instead of an empty poll a
        second (each one a wake-up of the service; a task more per poll only when idle)."""
        assert self.consumer is not None
        max_records = self.settings.consumer_batch
        if not idle:
            return await self.consumer.getmany(timeout_ms=1000, max_records=max_records)
        return await poll_or_stop(self.consumer, stop, IDLE_POLL_S, max_records)

    async def _loop(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None
        max_records = self.settings.consumer_batch
        linger_ms = self.settings.consumer_linger_ms
        idle = False
        while not stop.is_set():
            batches = await self._poll(stop, idle)
            n = sum(len(rs) for rs in batches.values())
            idle = n == 0
            if n and self._skip_unread([r for rs in batches.values() for r in rs]):
                self._pace(flowing=True)
                self._read_up_to(batches)
                continue  # nothing wanted: no linger, no thread hop, no transaction
            if 0 < n < max_records and linger_ms > 0 and not self._gathering:
                # a bounded wait for more: under load the batch grows, idle costs a few ms.
                # Not after a gathered fetch: it waited for its bytes or ms already, and the
                # next one (in flight from the moment these were taken) gathers as long, so
                # the linger only ever ran out (5 ms on every batch of dispatch at 50/s)
                more = await self.consumer.getmany(timeout_ms=linger_ms,
                                                   max_records=max_records - n)
                for tp, rs in more.items():
                    batches.setdefault(tp, []).extend(rs)
            records = [r for rs in batches.values() for r in rs]
            self._pace(flowing=bool(records))
            if not records:
                if self._skipped.offsets:  # falling idle: write where the skipping got to
                    await self._apply_with_retry([])
                    self._applied()
                await self._mirror_offsets(idle=True)
                continue
            await self._apply_with_retry(records)
            self._applied()
            self._read_up_to(batches)
            await self._mirror_offsets()

    def _skip_unread(self, records: list[ConsumerRecord]) -> bool:
        """True when the headers alone show the batch holds nothing this consumer handles
        (most batches of a consumer that wants a few types): its positions are noted here, on
        the event loop, to ride on the next commit as `_apply` would note them. False when the
        batch needs the apply thread: a wanted or unnamed type, positions not known, or
        skipped positions due to be written."""
        stored = self._stored
        if stored is None or (self._skipped_since and
                              time.monotonic() - self._skipped_since > SKIPPED_WRITE_S):
            return False
        catalogue = events.catalogue()
        for r in records:
            event_type = header_event_type(r)
            if event_type not in catalogue or self.handlers.wants(event_type):
                return False
        for r in records:
            if r.offset >= stored.get((r.topic, r.partition), -1):
                self._skipped.advance(r.topic, r.partition, r.offset, None)
                if not self._skipped_since:
                    self._skipped_since = time.monotonic()
        return True

    def _applied(self) -> None:
        for callback in self.after_apply:
            try:
                callback()
            except Exception:
                log.exception("an after-apply callback of %s failed", self.name)

    def _read_up_to(self, batches: dict[Any, list[ConsumerRecord]]) -> None:
        for tp, rs in batches.items():
            if rs:
                self._unmirrored[tp] = rs[-1].offset + 1

    async def _mirror_offsets(self, idle: bool = False) -> None:
        """Kafka's own offsets are only for lag dashboards (the truth is in PostgreSQL), so
        they are mirrored at most every MIRROR_EVERY_S while events flow, and when idle."""
        now = time.monotonic()
        if not self._unmirrored or (not idle and now - self._mirrored_at < MIRROR_EVERY_S):
            return
        self._mirrored_at = now
        offsets, self._unmirrored = self._unmirrored, {}
        assert self.consumer is not None
        try:
            await self.consumer.commit(offsets)
        except Exception:
            log.debug("could not mirror offsets to Kafka", exc_info=True)

    async def _apply_with_retry(self, records: list[ConsumerRecord]) -> None:
        delay = 0.2
        while True:
            try:
                await self._worker.run(self.apply, records)
                return
            except TRANSIENT:
                self._forget_state()
                log.warning("transient failure applying a batch; retrying", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- applying, in a worker thread ------------------------------------------------------
    def apply(self, records: list[ConsumerRecord]) -> None:
        """Apply a batch in one transaction. If a poison message fails it, the messages before
        it and after it are applied as batches again and the poison alone goes to the
        dead-letter topic (a batch handler cannot say which message failed: then the batch
        is halved until it is found). A conflict (another writer changed the same aggregate)
        makes the records go one by one, retried with fresh state, never dropped."""
        try:
            self._apply(records)
            return
        except PoisonMessageError as poison:
            self._forget_state()
            if len(records) == 1:
                self._apply_one(records[0])
                return
            at = next((i for i, r in enumerate(records) if r is poison.record), None)
            if poison.exact and at is not None:
                parts = [records[:at], [records[at]], records[at + 1:]]
            else:
                parts = [records[:len(records) // 2], records[len(records) // 2:]]
            for part in parts:
                if part:
                    self.apply(part)
            return
        except (psycopg.IntegrityError, ESIntegrityError):
            self._forget_state()
        for record in records:
            self._apply_one(record)

    def _apply_one(self, record: ConsumerRecord) -> None:
        for attempt in range(6):
            try:
                self._apply([record], check_copies=True)
                return
            except PoisonMessageError as poison:
                self._forget_state()
                self._dead_letter(poison.record, poison.reason)
                self._apply([record], skip=True)
                return
            except (psycopg.IntegrityError, ESIntegrityError):
                # _apply skips what is already applied, so this is a real conflict
                self._forget_state()
                log.warning("conflict applying %s[%s]@%s; retrying", record.topic,
                            record.partition, record.offset)
                time.sleep(0.05 * 2 ** attempt)
        raise ConcurrentUpdateError(
            f"{record.topic}[{record.partition}]@{record.offset} kept conflicting")

    # -- state kept between batches --------------------------------------------------------
    def _forget_state(self) -> None:
        """After any failure, read the stored positions again: a commit that raised may
        still have committed (connection lost after COMMIT was sent)."""
        self._stored = None
        if self.cache is not None:
            self.cache.clear()
        if self.handlers.forget is not None:
            self.handlers.forget()
        # positions of skipped messages may lie past a message of the failed batch not yet
        # applied: forget them, the one-by-one pass skips those messages again in order
        self._skipped = Progress(self.name)
        self._skipped_since = 0.0

    def _stored_positions(self) -> dict[tuple[str, int], int]:
        if self._stored is None:
            with autocommit(self.pool) as conn:
                self._stored = consumer_offsets(conn, self.schema, self.name)
        return self._stored

    # -- applying, in a worker thread ------------------------------------------------------
    def _wanted(self, r: ConsumerRecord) -> Any | None:
        """The decoded event if this consumer handles it, None if it is skipped unread. Only
        a header naming one of the platform's event types skips unread (the relay writes it);
        anything else (channel adapters' messages, older producers) is decoded first."""
        event_type = header_event_type(r)
        if event_type not in events.catalogue():
            event_type = None  # no header, or an outside producer's own name: decode to know
        elif not self.handlers.wants(event_type):
            return None
        try:
            d = self.decode(r.value)
        except events.EnvelopeError as exc:
            raise PoisonMessageError(r, f"{type(exc).__name__}: {exc}") from exc
        if event_type is not None and d.event_type != event_type:
            raise PoisonMessageError(r, f"header names {event_type!r}, envelope {d.event_type!r}")
        return d if self.handlers.wants(d.event_type) else None

    def _apply(self, records: list[ConsumerRecord], skip: bool = False,
               check_copies: bool = False) -> None:
        """`check_copies`: ask PostgreSQL which event ids were applied before, and skip them.
        A batch does not ask (a round trip per batch for what only a relay's restart makes):
        a copy fails its commit on `consumed_events`' key, and the records are applied again
        one by one, asking."""
        stored = self._stored_positions()
        fresh = [r for r in records
                 if r.offset >= stored.get((r.topic, r.partition), -1)]
        progress = Progress(self.name)
        if skip:  # the poison record: only record that it was handled (dead-lettered)
            for r in fresh:
                progress.advance(r.topic, r.partition, r.offset, None)
            self._commit(progress, [], with_skipped=True)
            return
        wanted: list[tuple[ConsumerRecord, Any]] = []
        for r in fresh:
            d = self._wanted(r)
            if d is None:
                self._skipped.advance(r.topic, r.partition, r.offset, None)
                if not self._skipped_since:
                    self._skipped_since = time.monotonic()
            else:
                wanted.append((r, d))
        if not wanted:
            # nothing to apply: the positions wait for the next commit, bounded in time
            if self._skipped.offsets and (not records or
                                          time.monotonic() - self._skipped_since >
                                          SKIPPED_WRITE_S):
                self._commit(progress, [], with_skipped=True)
            return
        seen: set[str] = set()
        if check_copies:
            with autocommit(self.pool) as conn:
                seen = already_consumed(conn, self.schema, self.name,
                                        [d.event_id for _, d in wanted])
        todo = []
        for r, d in wanted:
            duplicate = d.event_id in seen  # applied before, or earlier in this batch
            progress.advance(r.topic, r.partition, r.offset, None if duplicate else d.event_id)
            seen.add(d.event_id)
            if not duplicate:
                todo.append((r, d))
        self._commit(progress, todo, with_skipped=True, stepwise=check_copies)
        if len(todo) < len(wanted):  # counted once committed, as the applied ones
            DUPLICATES.labels(self.name).inc(len(wanted) - len(todo))

    def _commit(self, progress: Progress, todo: list[tuple[Any, Any]],
                with_skipped: bool, stepwise: bool = False) -> None:
        skipped = self._skipped
        if with_skipped:
            for (topic, partition), offset in skipped.offsets.items():
                progress.advance(topic, partition, offset, None)
        riders = self._riders(progress)
        if self.app is not None and todo:
            self._commit_aggregates(progress, todo, riders)
        elif todo:
            self._commit_sql(progress, todo, riders, stepwise)
        else:
            self._write_positions(progress, riders)
        self._committed(progress)
        # counted once committed: a batch that rolls back (a relay's copy in it, a conflict)
        # is applied again, and was counted twice when its handlers counted
        for _, d in todo:
            CONSUMED.labels(self.name, d.event_type).inc()
        stored = self._stored_positions()
        for key, offset in progress.offsets.items():
            stored[key] = max(stored.get(key, 0), offset + 1)
        if with_skipped and self._skipped is skipped:
            self._skipped = Progress(self.name)
            self._skipped_since = 0.0

    # -- hooks for a consumer that keeps more bookkeeping per position -----------------------
    def _riders(self, progress: Progress) -> list[Statement]:
        """Statements to commit in the same transaction as `progress` (sla: the partitions'
        event times reached with those positions); none here."""
        return []

    def _committed(self, progress: Progress) -> None:
        """Called after `progress` committed (with its riders)."""

    def _write_positions(self, progress: Progress, riders: list[Statement]) -> None:
        """Positions alone (skipped messages, a dead-lettered one): one autocommit statement,
        not BEGIN, upsert, COMMIT; with riders, all pipelined in one transaction."""
        statement = self._progress.statement(progress)
        statements = [s for s in (statement, *riders) if s is not None]
        if not statements:
            return
        if len(statements) == 1:
            with autocommit(self.pool) as conn:
                conn.execute(statements[0].sql, statements[0].params)
            return
        with self.pool.connection() as conn, lazy_pipeline(conn), conn.transaction(), \
                conn.cursor() as cur:
            for st in statements:
                cur.execute(st.sql, st.params)

    def _context_of(self, d: Any) -> EventContext:
        return EventContext(ticket_id=d.ticket_id, ticket_code=d.envelope.ticket_code,
                            trace_id=d.envelope.trace_id, causation_id=d.event_id,
                            actor_role="system", actor_id=self.settings.service)

    def _run_handler(self, r: ConsumerRecord, d: Any, *args: Any) -> None:
        handler = self.handlers.for_type(d.event_type)
        assert handler is not None
        ticket_id_var.set(d.ticket_id)
        trace_id_var.set(d.envelope.trace_id)
        try:
            handler(d, *args)
        except TRANSIENT:
            raise
        except Exception as exc:
            raise PoisonMessageError(r, f"{type(exc).__name__}: {exc}") from exc

    def _commit_aggregates(self, progress: Progress, todo: list[tuple[Any, Any]],
                           riders: list[Statement]) -> None:
        assert self.app is not None
        cache = self.cache
        if cache is not None:
            if not self._cache_installed:
                cache.install(self.pool)
                self._cache_installed = True
            cache.begin()
        uow = UnitOfWork(self.app, cache)
        uow.batch = [d for _, d in todo]
        for r, d in todo:
            uow.context = self._context_of(d)
            self._run_handler(r, d, uow)
        for rider in riders:
            uow.execute(rider)
        uow.save(progress, self._progress)  # with the cache's check, one statement

    def _commit_sql(self, progress: Progress, todo: list[tuple[Any, Any]],
                    riders: list[Statement], stepwise: bool = False) -> None:
        """The batch's transaction as one pipeline (`_commit_sql_pipelined`), or `stepwise`
        (each statement answers before the next is sent). In a pipeline a statement's error
        surfaces at a later read or at the end, outside the handler that made it, so a
        database error there names no message: the batch then takes the poison path without
        an exact culprit (halved until one message is left, which is applied step by step,
        where errors are raised where they happen, as they always were). A duplicate key
        goes the way it always went (one by one, asking for copies, step by step); a
        handler's own errors, transient or not, are raised as before."""
        if stepwise or not self._pipelining:
            self._commit_sql_stepwise(progress, todo, riders)
            return
        try:
            self._commit_sql_pipelined(progress, todo, riders)
        except PoisonMessageError as poison:
            cause = poison.__cause__  # (a handler raises transient errors unwrapped)
            if not isinstance(cause, psycopg.Error):
                raise
            raise self._unplaced(todo, cause) from cause
        except psycopg.errors.PipelineAborted as exc:
            raise self._unplaced(todo, exc) from exc
        except (psycopg.IntegrityError, *TRANSIENT):
            raise
        except psycopg.Error as exc:
            raise self._unplaced(todo, exc) from exc

    def _unplaced(self, todo: list[tuple[Any, Any]], error: psycopg.Error) -> PoisonMessageError:
        """A pipelined batch's database error, which no handler can be blamed for yet. One
        that psycopg itself raises for pipeline mode (a handler's COPY, `stream()`: no
        SQLSTATE, the server never saw it) turns pipelining off for this consumer: every
        batch would fail the same way."""
        if error.sqlstate is None and isinstance(error, (psycopg.NotSupportedError,
                                                         psycopg.ProgrammingError)):
            self._pipelining = False
            log.info("%s applies its batches step by step: %s", self.name, error)
        return PoisonMessageError(todo[0][0], f"{type(error).__name__}: {error}", exact=False)

    def _commit_sql_pipelined(self, progress: Progress, todo: list[tuple[Any, Any]],
                              riders: list[Statement]) -> None:
        """BEGIN, the handlers' statements, the riders, the progress (and NOTIFY) and COMMIT
        sent as one pipeline: a round trip for every handler's read (a fetch, or a look at
        `rowcount` or `statusmessage`, `_PipelinedCursor`) and one at the end, instead of one
        per statement plus BEGIN's and COMMIT's (the ledger's batch: 6 -> 2). The same
        transaction; COMMIT still waits for the fsync before the pipeline's Sync is answered."""
        with self.pool.connection() as conn:
            conn.autocommit = True  # BEGIN and COMMIT go in the pipeline
            failed = True
            try:
                with _PipelinedCursor(conn) as cur, lazy_pipeline(conn):
                    cur.execute(_BEGIN)
                    self._run_sql_handlers(todo, cur)
                    for rider in riders:
                        cur.execute(rider.sql, rider.params)
                    statement = self._progress.statement(progress, self.notify_channel)
                    if statement is not None:
                        cur.execute(statement.sql, statement.params)
                    cur.execute(_COMMIT)
                failed = False
            finally:
                if not conn.closed:
                    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        with contextlib.suppress(psycopg.Error):
                            conn.execute("ROLLBACK")
                    if failed:
                        forget_prepared(conn)
                    conn.autocommit = False  # as the pool's other users expect it

    def _run_sql_handlers(self, todo: list[tuple[Any, Any]], cur: psycopg.Cursor[Any]) -> None:
        if self.handlers.batch is not None:
            self._run_batch(todo, cur)
        else:
            for r, d in todo:
                self._run_handler(r, d, cur, r)

    def _commit_sql_stepwise(self, progress: Progress, todo: list[tuple[Any, Any]],
                             riders: list[Statement]) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            self._run_sql_handlers(todo, cur)
            for rider in riders:
                cur.execute(rider.sql, rider.params)
            # positions, consumed ids and the notification: one statement
            statement = self._progress.statement(progress, self.notify_channel)
            if statement is not None:
                cur.execute(statement.sql, statement.params)

    def _run_batch(self, todo: list[tuple[Any, Any]], cur: psycopg.Cursor[Any]) -> None:
        assert self.handlers.batch is not None
        try:
            self.handlers.batch([(d, r) for r, d in todo], cur)
        except TRANSIENT:
            raise
        except Exception as exc:
            # which message is poison is found by applying them one at a time
            raise PoisonMessageError(todo[0][0], f"{type(exc).__name__}: {exc}",
                                     exact=len(todo) == 1) from exc

    def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        """Publish a redacted note of the poison message (backbone/dead_letters.py: where it
        is, its ids, size, SHA-256 and the masked error; never its bytes); wait for the
        acknowledgement."""
        DEAD_LETTERED.labels(self.name).inc()
        value, headers = dead_letters.note(
            topic=record.topic, partition=record.partition, offset=record.offset,
            value=record.value, consumer=self.name, reason=reason)
        log.error("dead-lettering %s[%s]@%s (sha256 %s...): %s", record.topic,
                  record.partition, record.offset, dict(headers)["sha256"][:16].decode(),
                  dict(headers)["error"].decode())
        fut = asyncio.run_coroutine_threadsafe(
            self._send_dead_letter(value, headers), self._loop_ref)
        fut.result(timeout=30)

    async def _send_dead_letter(self, value: bytes, headers: list) -> None:
        await self.producer.send_and_wait(self.settings.dead_letter_topic, value,
                                          headers=headers)
