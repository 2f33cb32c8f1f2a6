"""The idempotent consumer.

A polled batch is applied in ONE PostgreSQL transaction together with the record of what was
applied: the next offset per topic-partition and the event ids. Offsets live in PostgreSQL,
not in Kafka, so after a crash the consumer seeks each partition it is given to the position
that committed with the effects: nothing is lost and nothing is applied twice. Event ids catch
the copies the at-least-once relay may publish at new offsets.

A message that cannot be decoded, or whose handler raises a non-transient error, goes to the
dead-letter topic with the error, is recorded as consumed, and the consumer carries on.

Two kinds of handler:
- `AggregateHandler`: for eventsourcing applications; the handler loads and changes aggregates
  through a `UnitOfWork`, which saves them with the progress in one `app.save`.
- `SqlHandler`: for read models and the audit ledger; the handler writes with the transaction's
  cursor, and the progress is written with the same cursor.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError as ESIntegrityError
from eventsourcing.persistence import OperationalError as ESOperationalError
from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.logs import ticket_id_var, trace_id_var
from backbone.settings import ServiceSettings
from backbone.store import (
    EventContext,
    Progress,
    already_consumed,
    consumer_offsets,
    record_progress,
)

log = logging.getLogger(__name__)

CONSUMED = Counter("minsheng_consumer_applied_total", "Events applied", ["consumer", "event_type"])
DEAD_LETTERED = Counter("minsheng_consumer_dead_lettered_total", "Messages sent to dead letter",
                        ["consumer"])
DUPLICATES = Counter("minsheng_consumer_duplicates_total", "Copies dropped", ["consumer"])

class ConcurrentUpdateError(Exception):
    """Another writer kept changing the same aggregate; the batch is retried later."""


TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, ESOperationalError,
             ConnectionError, TimeoutError, ConcurrentUpdateError)


class UnitOfWork:
    """Aggregates loaded and changed while applying a batch; saved together at the end."""

    def __init__(self, app: Application):
        self.app = app
        self.aggregates: dict[uuid.UUID, Any] = {}
        self.contexts: dict[tuple[uuid.UUID, int], EventContext] = {}
        self.context = EventContext()

    def get(self, aggregate_id: uuid.UUID) -> Any | None:
        """The aggregate as this batch has left it, or None if it does not exist."""
        if aggregate_id in self.aggregates:
            return self.aggregates[aggregate_id]
        try:
            aggregate: Any = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        self.aggregates[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: Any) -> None:
        """Keep a new or changed aggregate; its new events get the current context."""
        self.aggregates[aggregate.id] = aggregate
        self._stamp(aggregate)

    def _stamp(self, aggregate: Any) -> None:
        for e in aggregate.pending_events:
            self.contexts.setdefault((e.originator_id, e.originator_version), self.context)

    def save(self, progress: Progress) -> None:
        for aggregate in self.aggregates.values():
            self._stamp(aggregate)
        changed = [a for a in self.aggregates.values() if a.pending_events]
        per_aggregate: dict[uuid.UUID, EventContext] = {}
        for (oid, _), ctx in self.contexts.items():
            per_aggregate.setdefault(oid, ctx)
        # eventsourcing writes one context per aggregate per save; events of one aggregate
        # caused by different messages in a batch share the first message's context.
        self.app.save(*changed, progress=progress, contexts=per_aggregate)


class AggregateHandler(Protocol):
    def __call__(self, event: events.DecodedEvent, uow: UnitOfWork) -> None: ...


class SqlHandler(Protocol):
    def __call__(self, event: events.DecodedEvent, cur: psycopg.Cursor[Any],
                 record: ConsumerRecord) -> None: ...


@dataclass
class Handlers:
    """Which event types a consumer applies, declared as data: event type -> handler."""

    table: dict[str, Callable[..., None]] = field(default_factory=dict)

    def for_type(self, event_type: str) -> Callable[..., None] | None:
        return self.table.get(event_type)


class PoisonMessageError(Exception):
    def __init__(self, record: ConsumerRecord, reason: str):
        super().__init__(reason)
        self.record = record
        self.reason = reason


class IdempotentConsumer:
    def __init__(self, *, name: str, settings: ServiceSettings, pool: ConnectionPool,
                 topics: list[str], handlers: Handlers, producer: Any,
                 app: Application | None = None, decode: Callable[[bytes], Any] = events.decode):
        self.name = name
        self.settings = settings
        self.pool = pool
        self.schema = settings.schema
        self.topics = topics
        self.handlers = handlers
        self.app = app  # given: aggregate mode; None: SQL mode
        self.producer = producer
        self.decode = decode
        self.consumer: AIOKafkaConsumer | None = None
        self.ready = False

    # -- Kafka -----------------------------------------------------------------------------
    def _make_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.settings.group(self.name),
            client_id=f"minsheng-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.settings.consumer_batch,
            # a topic created after we subscribed is picked up within seconds, not minutes
            metadata_max_age_ms=10_000,
        )

    def _stored_offsets(self) -> dict[tuple[str, int], int]:
        with self.pool.connection() as conn:
            return consumer_offsets(conn, self.schema, self.name)

    async def _seek_to_stored(self, partitions: set[TopicPartition]) -> None:
        stored = await asyncio.to_thread(self._stored_offsets)
        assert self.consumer is not None
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)

    async def run(self, stop: asyncio.Event) -> None:
        outer = self
        self._loop_ref = asyncio.get_running_loop()

        class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
                return None

            async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
                await outer._seek_to_stored(assigned)

        while not stop.is_set():
            self.consumer = self._make_consumer()
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

    async def _loop(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None
        while not stop.is_set():
            batches = await self.consumer.getmany(timeout_ms=200,
                                                  max_records=self.settings.consumer_batch)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            await self._apply_with_retry(records)
            # Kafka's own offsets are only for lag dashboards; the truth is in PostgreSQL.
            try:
                await self.consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items()})
            except Exception:
                log.debug("could not mirror offsets to Kafka", exc_info=True)

    async def _apply_with_retry(self, records: list[ConsumerRecord]) -> None:
        delay = 0.2
        while True:
            try:
                await asyncio.to_thread(self.apply, records)
                return
            except TRANSIENT:
                log.warning("transient failure applying a batch; retrying", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- applying, in a worker thread ------------------------------------------------------
    def apply(self, records: list[ConsumerRecord]) -> None:
        """Apply a batch in one transaction; if that fails on a poison message or a conflict,
        apply the records one by one: poison goes to the dead-letter topic, a conflict (another
        writer changed the same aggregate) is retried with fresh state, never dropped."""
        try:
            self._apply(records)
            return
        except (PoisonMessageError, psycopg.IntegrityError, ESIntegrityError):
            pass
        for record in records:
            self._apply_one(record)

    def _apply_one(self, record: ConsumerRecord) -> None:
        for attempt in range(6):
            try:
                self._apply([record])
                return
            except PoisonMessageError as poison:
                self._dead_letter(poison.record, poison.reason)
                self._apply([record], skip=True)
                return
            except (psycopg.IntegrityError, ESIntegrityError):
                # _apply skips what is already applied, so this is a real conflict
                log.warning("conflict applying %s[%s]@%s; retrying", record.topic,
                            record.partition, record.offset)
                time.sleep(0.05 * 2 ** attempt)
        raise ConcurrentUpdateError(
            f"{record.topic}[{record.partition}]@{record.offset} kept conflicting")

    def _decode_all(self, records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, Any]]:
        out = []
        for r in records:
            try:
                out.append((r, self.decode(r.value)))
            except events.EnvelopeError as exc:
                raise PoisonMessageError(r, f"{type(exc).__name__}: {exc}") from exc
        return out

    def _apply(self, records: list[ConsumerRecord], skip: bool = False) -> None:
        with self.pool.connection() as conn:
            stored = consumer_offsets(conn, self.schema, self.name)
        fresh = [r for r in records
                 if r.offset >= stored.get((r.topic, r.partition), -1)]
        if not fresh:
            return
        progress = Progress(self.name)
        if skip:  # the poison record: only record that it was handled (dead-lettered)
            for r in fresh:
                progress.advance(r.topic, r.partition, r.offset, None)
            self._commit_sql(progress, [])
            return
        decoded = self._decode_all(fresh)
        with self.pool.connection() as conn:
            seen = already_consumed(conn, self.schema, self.name,
                                    [d.event_id for _, d in decoded])
        todo = []
        for r, d in decoded:
            duplicate = d.event_id in seen  # applied before, or earlier in this batch
            progress.advance(r.topic, r.partition, r.offset, None if duplicate else d.event_id)
            seen.add(d.event_id)
            if duplicate:
                DUPLICATES.labels(self.name).inc()
            elif self.handlers.for_type(d.event_type) is not None:
                todo.append((r, d))
            # else: not for us; only the position and the id are recorded
        if self.app is not None:
            self._commit_aggregates(progress, todo)
        else:
            self._commit_sql(progress, todo)

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
        CONSUMED.labels(self.name, d.event_type).inc()

    def _commit_aggregates(self, progress: Progress, todo: list[tuple[Any, Any]]) -> None:
        assert self.app is not None
        uow = UnitOfWork(self.app)
        for r, d in todo:
            uow.context = self._context_of(d)
            self._run_handler(r, d, uow)
        uow.save(progress)

    def _commit_sql(self, progress: Progress, todo: list[tuple[Any, Any]]) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for r, d in todo:
                self._run_handler(r, d, cur, r)
            record_progress(cur, self.schema, progress)

    def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        """Publish the poison message with its error; wait for the acknowledgement."""
        DEAD_LETTERED.labels(self.name).inc()
        log.error("dead-lettering %s[%s]@%s: %s", record.topic, record.partition,
                  record.offset, reason)
        headers = [("error", reason.encode()[:2000]), ("consumer", self.name.encode()),
                   ("source", f"{record.topic}/{record.partition}/{record.offset}".encode())]
        fut = asyncio.run_coroutine_threadsafe(
            self._send_dead_letter(record, headers), self._loop_ref)
        fut.result(timeout=30)

    async def _send_dead_letter(self, record: ConsumerRecord, headers: list) -> None:
        await self.producer.send_and_wait(self.settings.dead_letter_topic, record.value or b"",
                                          key=record.key, headers=headers)
