"""The aggregate-mode consumer's cache (backbone.consumer.AggregateCache) on the real Kafka and
PostgreSQL: a batch reads aggregates from the cache, and a change made by another writer since
(another process, or this one's own commands) is never acted on stale."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from minsheng.v1 import intake_events_pb2
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.consumer import Handlers, IdempotentConsumer, UnitOfWork
from backbone.kafka import ensure_topics, make_producer
from backbone.store import Statement, application_env
from tests.scratch import scratch_settings
from tests.waiting import patient

pytestmark = pytest.mark.integration


class Tally(Aggregate):
    """What the handler under test keeps per ticket: how many facts it counted."""

    @staticmethod
    def create_id(ticket_id: str) -> uuid.UUID:  # type: ignore[override]
        return uuid.uuid5(uuid.NAMESPACE_URL, f"test:tally:{ticket_id}")

    @event("Opened")
    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id
        self.count = 0

    @event("Counted")
    def count_one(self) -> None:
        self.count += 1


@pytest.fixture
def settings(infra, unique):
    return scratch_settings(infra, unique)


def _envelope(ticket_id: str, n: int) -> bytes:
    return events.make_envelope(
        payload=intake_events_pb2.TicketAccepted(flags=["no_location"]),
        event_id=events.event_id_for(ticket_id, n), ticket_id=ticket_id, ticket_code="FY",
        producer="intake", occurred_at=events.utcnow()).SerializeToString()


def _seen(settings: Any) -> dict[str, int]:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        rows = conn.execute(SQL("SELECT event_id, n FROM {}.seen").format(
            Identifier(settings.schema))).fetchall()
    return {r[0]: r[1] for r in rows}


async def _until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + patient(timeout)
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("writer", ["another process", "this process"])
async def test_a_cached_aggregate_changed_by_another_writer_is_read_fresh(settings, unique,
                                                                         writer):
    """The handler records the count it read (a read-only fact for the aggregate: no version
    conflict would catch a stale read) and counts only a ticket's first fact. Between the
    ticket's two facts another writer counts twice: the second fact must see 2, not the 0
    the consumer cached after the first."""
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 1, settings.dead_letter_topic: 1})
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.seen (event_id text PRIMARY KEY, n int)")
                     .format(Identifier(settings.schema)))
    app = Application(env=application_env(settings))
    insert = SQL("INSERT INTO {}.seen VALUES (%s, %s)").format(Identifier(settings.schema))

    def tally(d: events.DecodedEvent, uow: UnitOfWork) -> None:
        found = uow.get(Tally.create_id(d.ticket_id))
        if found is None:
            uow.add(Tally(d.ticket_id))
        uow.execute(Statement(insert, (d.event_id, found.count if found else -1)))

    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    producer = make_producer(settings)
    await producer.start()
    consumer = IdempotentConsumer(name=f"tally-{unique}", settings=settings, pool=pool,
                                  topics=[topic], handlers=Handlers({"TicketAccepted": tally}),
                                  producer=producer, app=app)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    ticket = str(uuid.uuid4())
    first, second = events.event_id_for(ticket, 1), events.event_id_for(ticket, 2)
    try:
        await producer.send_and_wait(topic, _envelope(ticket, 1), key=ticket.encode())
        await _until(lambda: first in _seen(settings))
        assert consumer.cache is not None and Tally.create_id(ticket) in consumer.cache.entries
        # the other writer: a second application (its own pool, as another replica would
        # have) or this process's own (as a command of the service would save)
        other = app if writer == "this process" else Application(
            env=application_env(settings))
        counted = other.repository.get(Tally.create_id(ticket))
        counted.count_one()
        counted.count_one()
        other.save(counted)
        await producer.send_and_wait(topic, _envelope(ticket, 2), key=ticket.encode())
        await _until(lambda: second in _seen(settings))
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await producer.stop()
        pool.close()
    assert _seen(settings) == {first: -1, second: 2}
    assert app.repository.get(Tally.create_id(ticket)).count == 2
