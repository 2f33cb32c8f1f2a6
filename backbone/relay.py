"""The outbox relay: a service's notification log, published to Kafka at least once.

The eventsourcing notification log is the outbox: every stored domain event has a
notification id, and eventsourcing's PostgreSQL recorder takes a table lock while inserting,
so ids become visible in order. The relay reads from its last recorded position, turns each
domain event into zero or more envelopes (the service's `translate` function decides which
events are public, on which topics), sends them with an idempotent, acks=all producer, waits
for every acknowledgement, and only then records the new position (at most every
POSITION_EVERY_S while rounds keep coming, and at once when quiet, stopped or deposed). A
crash between send and record republishes the same events with the same deterministic ids;
consumers drop the copies.

Push, not poll: the recorder NOTIFYs the schema's outbox channel in every transaction that
stores events (delivered at commit), and the relay waits for it (backbone.wakeup.CommitNews);
an idle relay wakes only every `MINSHENG_RELAY_INTERVAL_MS` x 40 (2 s by default) as a safety
net, and keeps publishing without waiting while there is a backlog. News that comes within
ROUND_GAP_S of the last round's start waits out the rest of it, so that close commits share
one round. The relay reads and records its position on its own connection, on the event loop
(no worker thread per statement).
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer, TopicPartition
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from google.protobuf.message import Message
from prometheus_client import Counter, Gauge
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events, record_batches
from backbone.kafka import ensure_topics, make_producer
from backbone.key_hashes import key_hash, key_hashes
from backbone.settings import ServiceSettings
from backbone.store import CONTEXT_FIELDS, EventContext, autocommit
from backbone.wakeup import QUIET_FALLBACK_S, CommitNews

log = logging.getLogger(__name__)

PUBLISHED = Counter("minsheng_relay_published_total", "Envelopes published by the relay",
                    ["service", "topic"])
LEADERSHIP_CHECK_S = 10.0  # how long a relay may go on publishing after losing its lock
# How often, at most, the position is written while rounds keep coming (each write is a
# commit that waits for fsync). Consumers drop re-sent events by id, so a crash re-sends at
# most this much more; an idle relay, a stopped one and one that lost its lock write it at once.
POSITION_EVERY_S = 0.2
# Rows to translate (events not encoded at commit) above which a read's rows are turned into
# messages in a worker thread instead of on the event loop (~20 us a row: 64 rows hold the
# loop ~1.5 ms; a backlog's 5,000 would hold it a tenth of a second).
TRANSLATE_ON_LOOP = 64
# How soon after the last round began the next may begin, at the earliest, when news comes
# while the relay is caught up: the commits meanwhile join one round (one read, one produce
# request, one fetch answer for each consumer of the topic) instead of each making its own.
# An idle relay's first round is not delayed, nor a backlog's next one; under load an event
# waits at most this much longer. Measured (docs/profiles/relay.md, 3-event commits arriving
# at random, 120/s): 0 -> a read per commit; 0.01 -> 0.64 a commit, the relay's CPU a save
# 6-21 % less, publication p50 +4 ms, p99 +5-7 ms; 0.02 -> 0.39, 26-42 % less, +10 / +14-18.
# 0: a round per NOTIFY as before.
ROUND_GAP_S = 0.01
# Rounds one run_once may publish through a backlog (overlapping: the next is sent while the
# last is acknowledged) before it returns to check for a stop and its election lock.
ROUNDS_PER_CALL = 8

# While the relay cannot publish (PostgreSQL or Kafka down), it retries every second or two:
# the first failure is logged with its traceback, then one short line this often while it
# lasts, and one line when a round succeeds again (a traceback a retry filled the log).
OUTAGE_LOG_EVERY_S = 60.0
# How long the relay waits before standing for its election lock again after it failed to.
LEADERSHIP_RETRY_S = 2.0

RELAY_LAG = Gauge("minsheng_relay_lag_notifications",
                  "Notifications stored but not yet published", ["service"])


@dataclass(frozen=True, init=False)
class Outgoing:
    topic: str
    key: str
    envelope: Any  # envelope_pb2.Envelope

    def __init__(self, topic: str, key: str, envelope: Any) -> None:
        # the frozen dataclass's own __init__, without its object.__setattr__ a field (one is
        # made for every message a translate makes: 0.33 -> 0.2 us), each field set in the
        # instance's dict (update() of a dict display made a second dict: 0.34 -> 0.22 us)
        d = self.__dict__
        d["topic"] = topic
        d["key"] = key
        d["envelope"] = envelope


@dataclass(frozen=True)
class Publication:
    """What `translate` gets: the domain event, its notification id and its context."""

    event: Any
    notification_id: int
    context: EventContext
    producer: str

    def envelope(self, payload: Message, *, n: int = 0, ticket_id: str = "",
                 ticket_code: str = "", occurred_at: datetime | None = None) -> Any:
        """The envelope of `payload`; its id is deterministic from the stored event.
        `occurred_at` defaults to the stored event's timestamp (its business time)."""
        ctx, event = self.context, self.event
        event_id = events.event_id_for(event.originator_id, event.originator_version, n)
        env, micros = events.envelope_made(
            payload, event_id, ticket_id or ctx.ticket_id, ticket_code or ctx.ticket_code,
            self.producer, occurred_at or event.timestamp, ctx.causation_id, ctx.trace_id)
        actor = env.actor  # set in place: the same bytes as CopyFrom(Actor(...)), one message less
        actor.role = ctx.actor_role  # always: an actor even when all three are ""
        if ctx.actor_id:  # a proto3 string left "" is the same bytes as one set to ""
            actor.id = ctx.actor_id
        if ctx.actor_unit:
            actor.unit = ctx.actor_unit
        made = self.__dict__.get("_made")
        if made is not None:  # at commit: what its record's headers hold, kept (_at_commit)
            made[id(env)] = (env, event_id, ctx.trace_id, micros, type(payload), self.producer)
        return env


def _at_commit(event: Any, context: EventContext, producer: str,
               made: dict[int, _Made] | None = None) -> Publication:
    """The Publication of an event being committed, made without the frozen dataclass's
    `object.__setattr__` a field (one an event saved: 0.36 -> 0.23 us). `made`: where its
    `envelope` keeps, by the envelope's id, the values the envelope's record headers hold
    (`_Made`), so that the record is written without reading them back from the message."""
    pub = _new(Publication)
    d = pub.__dict__  # each field set in it (no second dict to update it from)
    d["event"] = event
    d["notification_id"] = 0
    d["context"] = context
    d["producer"] = producer
    if made is not None:
        d["_made"] = made
    return pub


# What Publication.envelope made an envelope at commit from, which its record's headers hold:
# (the envelope, its event id, the context's trace id ("": derived from the event id), its
# time in microseconds since the epoch (events.envelope_made's), the payload's class, the
# producer)
_Made = tuple[Any, str, str, int, type, str]


_new = object.__new__

Translate = Callable[[Publication], Sequence[Outgoing]]


class Outage:
    """The log of one outage the relay retries through: its first failure with the
    traceback, then one short line every `every_s` while it lasts (the reason and how long),
    and one line when it is over."""

    def __init__(self, what: str, every_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.every_s = every_s
        self.clock = clock
        self.since: float | None = None  # when the first failure of this outage came
        self.said_at = 0.0
        self.failures = 0

    def failed(self, doing: str, exc: BaseException) -> None:
        now = self.clock()
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        self.failures += 1
        if self.since is None:
            self.since = self.said_at = now
            log.warning("%s: %s failed; retrying (the next failures are summed up)",
                        self.what, doing, exc_info=exc)
            return
        every = OUTAGE_LOG_EVERY_S if self.every_s is None else self.every_s
        if now - self.said_at >= every:
            self.said_at = now
            log.warning("%s: still failing after %.0f s (%d tries), retrying: %s: %s",
                        self.what, now - self.since, self.failures, doing, reason)

    def over(self) -> None:
        if self.since is not None:
            log.warning("%s: working again after %.0f s (%d failed tries)", self.what,
                        self.clock() - self.since, self.failures)
            self.since, self.failures = None, 0


class OutboxRelay:
    """The relay keeps its own producer: an idempotent producer whose send failed (e.g.
    OutOfOrderSequenceNumber after a leader change) must be replaced, and that must not
    disturb the service's other sends."""

    def __init__(self, *, settings: ServiceSettings, app: Application, pool: ConnectionPool,
                 translate: Translate, name: str = "lifecycle", committer: Any = None):
        """`committer` (a backbone.group_commit.GroupCommitter of the same application): the
        events saved through it are translated at commit, and their messages stored, encoded,
        in the events' rows (events.outgoing); this relay then sends those bytes as they are
        instead of decoding and translating each event (other events it translates here, as
        always). Only for a `translate` that depends on nothing but the event and its context
        (not on `Publication.notification_id`, which is 0 then, nor on what tables say), and
        that returns the envelopes `Publication.envelope` made as they were made: their
        records' headers (event type, id, producer, time, trace) are written from the values
        the envelope was made from (`_encode_at_commit`), so a field among those changed
        afterwards would not be in its headers (a payload or ticket code may change)."""
        self.settings = settings
        self.app = app
        self.pool = pool
        self.translate = translate
        self.producer: AIOKafkaProducer | None = None
        self.name = name
        self.schema = settings.schema
        self.known_topics: set[str] = {settings.lifecycle_topic}
        self.last_published_at = time.monotonic()
        self._position_cache: int | None = None  # the leader is the only one who moves it
        # (position it was read after, the read) of the batch after the one in flight
        self._ahead: tuple[int, asyncio.Future[tuple[list[_Prepared], int, int, bool]]] | None = None
        self._select_sql: Any = None
        self._record_sql: Any = None
        self._conn: psycopg.AsyncConnection[Any] | None = None  # see _connection
        self._statements: set[asyncio.Future[Any]] = set()  # reads ahead, position writes
        self._connecting = asyncio.Lock()
        self._newest_sql: Any = None
        # the last round's position being recorded while the next round is sent (its
        # messages are acknowledged; a crash before it is durable republishes them, as a crash
        # between acknowledgement and record always did)
        self._recording: asyncio.Future[None] | None = None
        # an acknowledged position not written yet (written at most every POSITION_EVERY_S
        # while rounds keep coming, and as soon as the relay is idle, stops or loses its lock)
        self._pending: int | None = None
        self._recorded_at = 0.0
        # the last read was short: nothing more was visible, so only news calls for another
        self.caught_up = True
        self.outage = Outage(f"relay {settings.service}/{name}")
        if committer is not None:
            committer.outbox = self._encode_at_commit

    # -- its connection ----------------------------------------------------------------------
    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        """The relay's own connection (autocommit), on the event loop: its reads while caught
        up and its position writes are one round trip each with no thread hop (a worker
        thread per read cost ~50 us of CPU in handing over and back, docs/profiles/relay.md,
        more than the statement's own client CPU). Made at the first use, again after it
        broke; closed with the producer (`_drop_producer`). Statements on it run one at a
        time (a read ahead and a position write queue for it)."""
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        async with self._connecting:  # one connection, whoever asks first makes it
            conn = self._conn
            if conn is None or conn.closed:
                conn = self._conn = await psycopg.AsyncConnection.connect(
                    self.settings.pg_conninfo(), autocommit=True)
            return conn

    async def _close_connection(self) -> None:
        """Close the relay's connection once its statements in flight are done (a position
        write's outcome is kept for `settle`; a read ahead's is not used): never under one."""
        while self._statements:
            await asyncio.wait(list(self._statements))
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except Exception:
                log.debug("closing the relay's connection", exc_info=True)

    # -- positions -------------------------------------------------------------------------
    async def _position(self) -> int:
        if self._position_cache is not None:
            return self._position_cache
        conn = await self._connection()
        row = await (await conn.execute(
            SQL("SELECT last_notification_id FROM {}.relay_positions WHERE relay = %s")
            .format(Identifier(self.schema)), (self.name,))).fetchone()
        self._position_cache = int(row[0]) if row else 0
        return self._position_cache

    async def _record_position(self, notification_id: int) -> None:
        """Write the position (the caller moves `_position_cache`): one round trip in
        autocommit; the commit still waits for fsync."""
        if self._record_sql is None:
            self._record_sql = SQL(
                "INSERT INTO {}.relay_positions (relay, last_notification_id)"
                " VALUES (%s, %s) ON CONFLICT (relay) DO UPDATE SET"
                " last_notification_id = GREATEST(relay_positions.last_notification_id,"
                " EXCLUDED.last_notification_id), updated_at = now()"
            ).format(Identifier(self.schema))
        conn = await self._connection()
        await conn.execute(self._record_sql, (self.name, notification_id), prepare=True)

    async def settle(self) -> None:
        """Wait until the position of the last acknowledged round is recorded (written now
        if it was held back); raises what writing it raised."""
        await self._await_recording()
        pending, self._pending = self._pending, None
        if pending is not None:
            self._recorded_at = time.monotonic()
            await self._record_position(pending)

    async def _await_recording(self) -> None:
        """Wait for the position write in flight (started while this round was sent)."""
        recording, self._recording = self._recording, None
        if recording is not None:
            await recording

    async def _advance(self, last_id: int) -> None:
        """The relay stands at `last_id` (acknowledged): written while the next round is sent
        if the last write is POSITION_EVERY_S old, else held back until then (or idle). Only
        acknowledged positions are ever written, in order."""
        self._position_cache = last_id
        now = time.monotonic()
        if now - self._recorded_at < POSITION_EVERY_S:
            self._pending = last_id
            return
        await self._await_recording()
        self._pending, self._recorded_at = None, now
        self._recording = self._in_flight(self._record_position(last_id))  # seen by settle

    def _encode_at_commit(self, events_: list[tuple[Any, EventContext]]) -> list[bytes | None]:
        """The messages of a batch's events being committed, each event's encoded for the
        outbox; None for an event whose translating fails here (the relay will translate it
        when it sends). The keys' murmur2 is computed for the batch at once (key_hashes). An
        envelope that Publication.envelope made here has its record's headers written from
        the values it was made from (`events.made_record_body`: its event id, trace id, time,
        type and producer, not read back from the message); any other message's are read
        from it (`kafka_record_body`)."""
        translate, producer = self.translate, self.settings.service
        made: list[Sequence[Outgoing] | None] = []
        envelopes: dict[int, _Made] = {}  # what each envelope made here was made from
        for event, context in events_:
            try:
                made.append(translate(_at_commit(event, context, producer, envelopes)))
            except Exception:
                log.warning("relay: translating %s at commit failed; the relay will translate"
                            " it", type(event).__qualname__, exc_info=True)
                made.append(None)
        keys = [o.key.encode() for outgoing in made if outgoing for o in outgoing]
        hashes = key_hashes(keys)
        encoded: list[bytes | None] = []
        at = 0  # the event's first message in keys and hashes
        for outgoing in made:
            if outgoing is None:
                encoded.append(None)
                continue
            first, at = at, at + len(outgoing)
            try:
                records = [_prepared_at_commit(o, keys[first + i], hashes[first + i], envelopes)
                           for i, o in enumerate(outgoing)]
                encoded.append(_VERSION_3 + marshal.dumps(records, 4))
            except Exception:
                log.warning("relay: encoding messages at commit failed; the relay will"
                            " translate them", exc_info=True)
                encoded.append(None)
        return encoded

    # -- one round -------------------------------------------------------------------------
    def _select(self) -> Any:
        """The next notifications with their event context: one statement, one round trip
        (eventsourcing's select_notifications, then the contexts by a second query of two
        arrays dumped in Python, cost twice as much)."""
        if self._select_sql is None:
            recorder: Any = self.app.recorder
            s = Identifier(self.schema)
            # what translating needs only where nothing was encoded at commit: a row encoded
            # at commit is its id and its bytes (and read in binary: no hex to parse). Bytes
            # in the event's row need no join: the context is looked up (an index probe per
            # event) only for the others (OFFSET 0 keeps the lookup a subquery, so its
            # condition on the event's row gates the probe, "One-Time Filter", instead of
            # filtering after it; the LIMIT on the events alone keeps their index scan).
            # EXPLAIN ANALYZE, 5,000 rows of 20,000: 36 ms with a probe per row, 4-8 ms.
            # The context is the event row's own (since session 8); event_context is probed
            # only for rows stored before that have no bytes either (gated the same way).
            needed = ", ".join(
                f"CASE WHEN COALESCE(e.outgoing, c.outgoing) IS NULL THEN {column} END"
                for column in ("e.originator_id", "e.originator_version", "e.topic", "e.state",
                               *(f"CASE WHEN e.ticket_id IS NULL THEN c.{name} ELSE e.{name} END"
                                 for name in CONTEXT_FIELDS)))
            table = Identifier(recorder.events_table_name)
            self._select_sql = SQL(
                "SELECT e.notification_id, COALESCE(e.outgoing, c.outgoing), " + needed +
                " FROM (SELECT * FROM {}.{} WHERE notification_id > %s"
                " ORDER BY notification_id LIMIT %s) e"
                " LEFT JOIN LATERAL (SELECT x.* FROM {}.event_context x"
                " WHERE e.outgoing IS NULL AND e.ticket_id IS NULL"
                " AND x.originator_id = e.originator_id"
                " AND x.originator_version = e.originator_version OFFSET 0) c ON true"
                " ORDER BY e.notification_id"
            ).format(s, table, s)
            # the lag, asked only after a full batch (a backlog); a short one has none
            self._newest_sql = SQL("SELECT max(notification_id) FROM {}.{}").format(s, table)
        return self._select_sql

    async def _read(self, start: int | None = None) -> tuple[list[_Prepared], int, int, bool]:
        """Read the next batch after `start` (default: the recorded position); return its
        records (serialised), the last notification id, the lag and whether the batch was
        full. One statement in autocommit: one round trip, no BEGIN and COMMIT (a second,
        the lag, only after a full batch).

        Caught up (the last read was short: what came since is a round's worth), on the
        relay's connection on the event loop, no thread hop; the rows turned into messages
        there too, unless more than TRANSLATE_ON_LOOP need translating (then in a worker, so
        that the loop is not held for long). Through a backlog (the last read was full), in
        a worker thread on a pooled connection, as a whole: libpq's blocking wait takes a
        5,000-row answer in a few reads, where the loop's wait woke for every chunk (3.3 ms
        against 1.6-2.0 a 5,000-row read measured, docs/profiles/relay.md)."""
        start = await self._position() if start is None else start
        if not self.caught_up:
            return await asyncio.to_thread(self._read_blocking, start)
        limit = self.settings.relay_batch
        newest = None
        select = self._select()
        conn = await self._connection()
        async with conn.cursor(binary=True) as cur:
            await cur.execute(select, (start, limit), prepare=True)
            rows = await cur.fetchall()
            if len(rows) >= limit:
                await cur.execute(self._newest_sql, prepare=True)
                newest = await cur.fetchone()
        if sum(row[1] is None for row in rows) > TRANSLATE_ON_LOOP:
            records = await asyncio.to_thread(self._records, rows)
        else:
            records = self._records(rows)
        return _batch(records, rows, start, newest)

    def _read_blocking(self, start: int) -> tuple[list[_Prepared], int, int, bool]:
        """`_read` through a backlog, in a worker thread: the read and the records."""
        limit = self.settings.relay_batch
        newest = None
        with autocommit(self.pool) as conn, conn.cursor(binary=True) as cur:
            rows = cur.execute(self._select(), (start, limit), prepare=True).fetchall()
            if len(rows) >= limit:
                newest = cur.execute(self._newest_sql, prepare=True).fetchone()
        return _batch(self._records(rows), rows, start, newest)

    def _records(self, rows: list[Any]) -> list[_Prepared]:
        """The messages of the rows read, as they go on the wire: the bytes encoded at commit
        as they are, the other events decoded and translated."""
        to_domain_event = self.app.mapper.to_domain_event
        translate, producer, no_context = self.translate, self.settings.service, EventContext()
        records: list[_Prepared] = []
        add, extend, loads = records.append, records.extend, marshal.loads
        for row in rows:
            encoded = row[1]
            if encoded is not None:  # translated at commit: the messages as they go on the wire
                if encoded[0] == 3:  # _VERSION_3, inline: one C call for the event's messages
                    extend(loads(memoryview(encoded)[1:]))
                else:
                    extend(prepared_records(encoded))
                continue
            oid, version, topic, state, ticket_id = row[2:7]
            event = to_domain_event(StoredEvent(oid, version, topic, bytes(state)))
            ctx = no_context if ticket_id is None else EventContext(*row[6:])
            for o in translate(Publication(event, row[0], ctx, producer)):
                key = o.key.encode()
                add(_prepared(o, key, key_hash(key)))
        return records

    async def _next_batch(self, after: int | None = None) -> tuple[list[_Prepared], int, int, bool]:
        """The batch after `after` (default: where the relay stands): the one read ahead
        while the last was sent, if it was read from there; else a fresh read."""
        after = self._position_cache if after is None else after
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == after:
            return await ahead[1]
        return await self._read(after)  # (a read ahead from elsewhere is forgotten)

    def _read_ahead(self, after: int) -> None:
        """Read the next batch (after `after`) while this one is being acknowledged: only a
        read, nothing is sent or recorded from it before this batch's position is."""
        self._ahead = (after, self._in_flight(self._read(after)))

    def _in_flight(self, statement: Any) -> asyncio.Future[Any]:
        """`statement` (a coroutine) run as a task, kept until done (see _close_connection);
        its outcome is retrieved by whoever awaits it, or else by nobody, never unretrieved."""
        future = asyncio.ensure_future(statement)
        self._statements.add(future)
        future.add_done_callback(self._statements.discard)
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return future

    def _drop_ahead(self) -> None:
        """Forget the read ahead: it runs to its end (a read cancelled in the middle would
        cost a cancel request and leave the connection to recover), its result unused."""
        self._ahead = None

    async def run_once(self) -> int:
        """Publish what is visible: the messages sent (0: nothing new; -1: notifications that
        publish nothing, passed over), every one acknowledged on return. `caught_up`
        afterwards: nothing more was visible to its last read.

        Through a backlog, rounds overlap (up to ROUNDS_PER_CALL in one call): the next
        round is read while this one is sent, and sent before this one is acknowledged (its
        batches queue behind this round's, partition by partition, so one ticket's order
        holds), so the broker is never idle while the relay reads and builds batches.
        Positions are still recorded only for acknowledged rounds, in order."""
        start = self._position_cache
        outgoing, last_id, lag, full = await self._next_batch()
        RELAY_LAG.labels(self.settings.service).set(lag)
        self.caught_up = not full
        if not outgoing:
            if last_id and last_id > (start if start is not None else
                                      await self._position()):
                await self._advance(last_id)
                return -1  # notifications that publish nothing
            await self.settle()  # idle from here: the position is on disk before waiting
            return 0
        producer = await self._producer()
        sent = 0
        unacknowledged: list[tuple[list[Any], int, dict[str, int]]] = []  # oldest first
        try:
            for rounds in range(1, ROUNDS_PER_CALL + 1):
                if lag > 0:  # a backlog: read on while this round is sent and acknowledged
                    self._read_ahead(last_id)
                if outgoing:
                    await self._know_topics(producer, outgoing)
                    acks, counts = await _send_all(producer, outgoing)
                    sent += len(outgoing)
                else:  # notifications that publish nothing: passed over in order
                    acks, counts = [], {}
                unacknowledged.append((acks, last_id, counts))
                more = lag > 0 and rounds < ROUNDS_PER_CALL
                if len(unacknowledged) > 1 or not more:
                    await self._acknowledged(*unacknowledged.pop(0))
                if not more:
                    break
                outgoing, last_id, lag, full = await self._next_batch(last_id)
                RELAY_LAG.labels(self.settings.service).set(lag)
                self.caught_up = not full
                if not outgoing and last_id == unacknowledged[-1][1]:
                    break  # nothing new after all
            while unacknowledged:
                await self._acknowledged(*unacknowledged.pop(0))
        except Exception:
            self._drop_ahead()
            await self._drop_producer()  # a fresh idempotent producer for the retry
            raise
        self.last_published_at = time.monotonic()
        return sent

    async def _know_topics(self, producer: AIOKafkaProducer, outgoing: list[_Prepared]) -> None:
        new_topics = {r[0] for r in outgoing} - self.known_topics
        if new_topics:
            # per-unit topics carry little traffic: one partition keeps the broker light
            await ensure_topics(self.settings, {t: 1 for t in new_topics})
            await self._wait_for_leaders(producer, new_topics)
            self.known_topics |= new_topics

    async def _acknowledged(self, acks: list[Any], last_id: int, counts: dict[str, int]) -> None:
        """Wait for a round's acknowledgements (by all in-sync replicas), then stand at its
        last id: written while the next round is sent (a round trip and an fsync off the
        critical path), or later (_advance). Only acknowledged rounds are ever recorded, in
        order; a crash before the write is durable republishes their messages with the same
        ids, as a crash between acknowledgement and write always could."""
        await asyncio.gather(*acks)
        await self._await_recording()  # the last round's position, written meanwhile
        for topic, count in counts.items():
            PUBLISHED.labels(self.settings.service, topic).inc(count)
        await self._advance(last_id)

    async def _forget_recording(self) -> None:
        """Let a position write in flight finish, and write one held back (a failed one is
        only logged: the position is read back from the table next time)."""
        try:
            await self.settle()
        except Exception:
            log.warning("relay: recording the position failed; it is read back", exc_info=True)
            self._position_cache = None

    def _take_leadership(self) -> psycopg.Connection | None:
        """One relay per service publishes at a time: a session advisory lock elects it.

        With N replicas of a service the others stand by; if the leader dies its connection
        drops, the lock is released, and another takes over. (Running two at once would still
        be correct, only wasteful: event ids are deterministic and consumers drop copies.)"""
        conn = psycopg.connect(self.settings.pg_conninfo(), autocommit=True)
        key = f"minsheng-relay:{self.schema}:{self.name}"
        got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        if got and got[0]:
            return conn
        conn.close()
        return None

    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            producer = make_producer(self.settings, client_id=f"minsheng-{self.settings.service}"
                                     f"-relay-{self.name}")
            await producer.start()
            self.producer = producer
        return self.producer

    async def _drop_producer(self) -> None:
        """Drop the producer (a failed idempotent producer must be replaced) and the relay's
        connection (made again at the next read): after a failed round, and when the relay
        stops."""
        await self._close_connection()
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:
                log.debug("stopping a failed producer", exc_info=True)

    async def _wait_for_leaders(self, producer: AIOKafkaProducer, topics: set[str]) -> None:
        """A topic just created has no partition leaders for a moment; sending then fails.
        (The client only fetches metadata for topics it was asked about, so ask for each.)"""
        client = producer.client
        for topic in topics:
            client.add_topic(topic)
        for _ in range(150):
            await client.force_metadata_update()
            missing = []
            for topic in topics:
                parts = client.cluster.partitions_for_topic(topic)
                if not parts or any(client.cluster.leader_for_partition(
                        TopicPartition(topic, p)) in (None, -1) for p in parts):
                    missing.append(topic)
            if not missing:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"no partition leaders for {sorted(missing)}")

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            leadership = None
            while leadership is None and not stop.is_set():
                try:
                    leadership = await asyncio.to_thread(self._take_leadership)
                except psycopg.Error as exc:
                    self.outage.failed("standing for the election lock (PostgreSQL)", exc)
                if leadership is None:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=LEADERSHIP_RETRY_S)
                    except TimeoutError:
                        pass
            try:
                await self._publish_until(stop, _still_held(leadership))
            finally:
                await self._drop_producer()
                if leadership is not None:
                    leadership.close()

    async def _publish_until(self, stop: asyncio.Event,
                             held: Callable[[], bool] = lambda: True) -> None:
        """Publish until stopped, or until the election lock is lost: the lock lives on one
        connection, and a database restart ends it (another replica may hold it by now)."""
        self._position_cache = None  # just elected: read what the last leader recorded
        self._drop_ahead()
        interval = self.settings.relay_interval_ms / 1000
        news = CommitNews(self.settings)
        checked, round_at = time.monotonic(), float("-inf")  # (when the last round began)
        try:
            await news.listen()  # before the first read: a commit in between is not missed
            while not stop.is_set():
                if time.monotonic() - checked > LEADERSHIP_CHECK_S:
                    checked = time.monotonic()
                    if not await asyncio.to_thread(held):
                        log.warning("relay: the election lock is gone; standing for it again")
                        return
                if self._ahead is None:
                    gap = round_at + ROUND_GAP_S - time.monotonic()
                    if self.caught_up and gap > 0:
                        # news soon after the last round: later commits join this one
                        await _sleep_until_stopped(stop, gap)
                        if stop.is_set():
                            break
                    news.drain()  # this round's read starts now: it covers the news
                round_at = time.monotonic()
                try:
                    sent = await self.run_once()
                except Exception as exc:
                    self.outage.failed("a round", exc)
                    await self._forget_recording()
                    self._position_cache = None
                    sent = 0
                    if not await asyncio.to_thread(held):
                        log.warning("relay: the election lock is gone; standing for it again")
                        return
                    await asyncio.sleep(1.0)
                else:
                    self.outage.over()
                if sent and not self.caught_up:  # a backlog: read on without waiting
                    continue
                # caught up: read again only for news (commits after this round's read
                # began); a position held back is written once quiet
                if self._pending is not None:
                    quiet = max(0.0, self._recorded_at + POSITION_EVERY_S - time.monotonic())
                    if await news.wait(stop, fallback_s=quiet, poll_s=min(interval, quiet)):
                        continue
                    await self._forget_recording()
                # idle, it still checks its lock every LEADERSHIP_CHECK_S
                await news.wait(stop, fallback_s=min(QUIET_FALLBACK_S, LEADERSHIP_CHECK_S),
                                poll_s=interval)
        finally:
            self._drop_ahead()
            await self._forget_recording()
            await news.close()


# One message as it goes on the wire: (topic, key, value, headers, murmur2(key)). A plain
# tuple: the relay makes or reads one per message, and a plain tuple is what marshal stores
# and rebuilds in C (a dataclass or NamedTuple costs a Python call per message each way).
_Wire = tuple[str, bytes, bytes, list[tuple[str, bytes]], int]
# One message as the relay sends it: (topic, murmur2(key), its Kafka record's body: key,
# value and headers as message format v2 writes them, backbone.record_batches). The send
# writes a partition's bodies into one batch without looking inside them.
_Prepared = tuple[str, int, bytes]


def _batch(records: list[_Prepared], rows: list[Any], start: int,
           newest: Any) -> tuple[list[_Prepared], int, int, bool]:
    """What a read returns: its records, the last notification id read (`start` if none),
    the lag after it and whether the batch was full (`newest` read: the log's last id)."""
    if not rows:
        return [], start, 0, False
    last = rows[-1][0]
    if newest is None:
        return records, last, 0, False  # a short batch: nothing more was visible
    return records, last, max(0, (newest[0] or last) - last), True


def _record(o: Outgoing) -> _Wire:
    key = o.key.encode()
    return _wire(o, key, key_hash(key))


def _wire(o: Outgoing, key: bytes, hashed: int) -> _Wire:
    env = o.envelope
    return (o.topic, key, env.SerializeToString(), events.kafka_headers(env), hashed)


def _prepared(o: Outgoing, key: bytes, hashed: int) -> _Prepared:
    return (o.topic, hashed, events.kafka_record_body(key, o.envelope)[1])


def _prepared_at_commit(o: Outgoing, key: bytes, hashed: int,
                        envelopes: dict[int, _Made]) -> _Prepared:
    """`_prepared`, for an envelope made at commit by Publication.envelope with the headers'
    values it was made from (the same bytes: tests/unit/backbone/test_record_at_commit.py)."""
    env = o.envelope
    made = envelopes.get(id(env))
    if made is None or made[0] is not env:
        return (o.topic, hashed, events.kafka_record_body(key, env)[1])
    return (o.topic, hashed, events.made_record_body(key, made))


# The outbox bytes (events.outgoing; event_context.outgoing in rows stored before), version 3:
# the byte 3, then the event's messages as a list of _Prepared tuples in marshal format 4 (one
# C call to write at commit and one to read at send time, three objects a message; version 2
# stored _Wire tuples, a dozen objects a message with the headers, which the send then
# re-encoded into a record; version 1's fields, unpacked in Python, were a third of the
# relay's CPU). Rows of versions 1 and 2 are still read. marshal reads only the plain values
# written here (no code objects are written or accepted in place of them: the rows are the
# service's own, written by this module).
_VERSION_2 = b"\x02"
_VERSION_3 = b"\x03"


def encode_records(records: list[_Wire]) -> bytes:
    """The messages of one event as the outbox stores them (version 3)."""
    return _VERSION_3 + marshal.dumps(
        [(topic, hashed, record_batches.record_body(key, value, headers))
         for topic, key, value, headers, hashed in records], 4)


def _encode_v2(records: list[_Wire]) -> bytes:
    """Version 2, as rows stored before version 3 hold it (kept for the tests that read them)."""
    return _VERSION_2 + marshal.dumps([tuple(r) for r in records], 4)


def prepared_records(data: bytes) -> list[_Prepared]:
    """The messages of one event as the outbox stored them (versions 3, 2 and 1), as sent."""
    if data[:1] == _VERSION_3:
        records = marshal.loads(memoryview(data)[1:])
        if not isinstance(records, list) or not all(
                isinstance(r, tuple) and len(r) == 3 and type(r[2]) is bytes for r in records):
            raise ValueError("outbox messages of version 3 that are not a list of messages")
        return records
    return [(topic, hashed, record_batches.record_body(key, value, headers))
            for topic, key, value, headers, hashed in _decode_wire(data)]


def decode_records(data: bytes) -> list[_Wire]:
    """The messages of one event as the outbox stored them, versions 3, 2 and 1 (rows stored
    before version 3 are still read), as (topic, key, value, headers, murmur2(key))."""
    if data[:1] == _VERSION_3:
        out: list[_Wire] = []
        for topic, hashed, body in prepared_records(data):
            key, value, headers = record_batches.parse_body(body)
            out.append((topic, key or b"", value or b"",
                        [(n, v or b"") for n, v in headers], hashed))
        return out
    return _decode_wire(data)


def _decode_wire(data: bytes) -> list[_Wire]:
    if data[:1] == _VERSION_2:
        records = marshal.loads(memoryview(data)[1:])
        if not isinstance(records, list) or not all(
                isinstance(r, tuple) and len(r) == 5 for r in records):
            raise ValueError("outbox messages of version 2 that are not a list of messages")
        return records
    return _decode_v1(data)


# version 1: the byte 1, u16 count, then per message <topic length u16, key length u16, value
# length u32, header count u8, murmur2(key) u32>, topic, key, value, then per header <name
# length u8, value length u16>, name, value
_OUTBOX_VERSION = 1
_COUNT = struct.Struct("<BH")
_MESSAGE = struct.Struct("<HHIBI")
_HEADER = struct.Struct("<BH")


def _encode_v1(records: list[_Wire]) -> bytes:
    """Version 1, as rows stored before version 2 hold it (kept for the tests that read them)."""
    parts = [_COUNT.pack(_OUTBOX_VERSION, len(records))]
    for topic_name, key, value, headers, hashed in records:
        topic = topic_name.encode()
        parts += (_MESSAGE.pack(len(topic), len(key), len(value), len(headers), hashed),
                  topic, key, value)
        for name, header_value in headers:
            encoded = name.encode()
            parts += (_HEADER.pack(len(encoded), len(header_value)), encoded, header_value)
    return b"".join(parts)


def _decode_v1(data: bytes) -> list[_Wire]:
    version, count = _COUNT.unpack_from(data)
    if version != _OUTBOX_VERSION:
        raise ValueError(f"outbox messages of version {version}; this relay reads 1, 2 and 3")
    pos, out = _COUNT.size, []
    message, header, names, topics = _MESSAGE.unpack_from, _HEADER.unpack_from, _NAMES, _TOPICS
    for _ in range(count):
        topic_len, key_len, value_len, n_headers, hashed = message(data, pos)
        pos += _MESSAGE.size
        end = pos + topic_len
        raw = data[pos:end]
        topic = topics.get(raw)
        if topic is None:
            topic = topics[raw] = raw.decode()
        pos = end + key_len
        key = data[end:pos]
        end = pos + value_len
        value = data[pos:end]
        pos = end
        headers = []
        for _ in range(n_headers):
            name_len, header_len = header(data, pos)
            pos += _HEADER.size
            end = pos + name_len
            raw = data[pos:end]
            name = names.get(raw)
            if name is None:
                name = names[raw] = raw.decode()
            pos = end + header_len
            headers.append((name, data[end:pos]))
        out.append((topic, key, value, headers, hashed))
    if pos != len(data):
        raise ValueError("outbox messages with trailing bytes")
    return out


# topic and header names, decoded once each (there are as many as topics and header kinds)
_NAMES: dict[bytes, str] = {}
_TOPICS: dict[bytes, str] = {}


async def _send_all(producer: AIOKafkaProducer,
                    records: list[_Prepared]) -> tuple[list[Any], dict[str, int]]:
    """Send a round's records as one batch per partition (more where one would pass the
    producer's max_batch_size), all partitions in flight at once; returns the batches'
    acknowledgements (futures) to await, and the messages per topic. Each message goes to the
    partition `send` would give it (the producer's default partitioner, on the key's murmur2),
    and within a partition in the order of the notification log: one ticket's events keep
    their order. The producer is idempotent with acks=all and keeps one request in flight per
    partition, so a retried batch is neither duplicated nor reordered. Per message this is one
    append to a list: the batch's bytes are the record bodies stored at commit, joined
    (backbone.record_batches), not a builder's call per message."""
    limit = record_batches.check_producer(producer)
    partitions: dict[str, list[int]] = {}
    # per topic, one list of bodies per partition, in the order of its sorted partition ids
    by_partition: dict[str, list[list[bytes]]] = {}
    for topic, hashed, body in records:
        groups = by_partition.get(topic)
        if groups is None:
            parts = partitions[topic] = sorted(await producer.partitions_for(topic))
            groups = by_partition[topic] = [[] for _ in parts]
        groups[(hashed & 0x7FFFFFFF) % len(groups)].append(body)
    acks = []
    counts: dict[str, int] = {}
    for topic, groups in by_partition.items():
        for partition, group in zip(partitions[topic], groups, strict=True):
            # closed and complete, so the sender takes each at once (an open batch lingers
            # linger_ms for messages that will never come); the round's batches go out together
            for batch in record_batches.batches(group, limit) if group else ():
                acks.append(await producer.send_batch(batch, topic, partition=partition))
            counts[topic] = counts.get(topic, 0) + len(group)
    return acks, counts


async def _sleep_until_stopped(stop: asyncio.Event, seconds: float) -> None:
    if stop.is_set():
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def _still_held(leadership: psycopg.Connection | None) -> Callable[[], bool]:
    """Whether the session holding the advisory lock is still there (then so is the lock)."""
    def held() -> bool:
        if leadership is None:
            return False
        try:
            leadership.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    return held
