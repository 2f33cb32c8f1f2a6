"""SQL mode's pipelined batch on the real Kafka and PostgreSQL: a database error that surfaces
in a later handler (or at the end) blames no innocent message, `rowcount` is the real count,
and a handler that cannot run in a pipeline (COPY, stream()) makes the consumer go step by
step."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import psycopg
import pytest
from minsheng.v1 import intake_events_pb2
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.consumer import DEAD_LETTERED, Handlers, IdempotentConsumer
from backbone.kafka import ensure_topics, make_producer
from tests.scratch import scratch_settings
from tests.waiting import patient

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(infra, unique):
    return scratch_settings(infra, unique, prefix="tp")


def _count(settings, sql: str, *params: Any) -> int:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        return conn.execute(SQL(sql).format(Identifier(settings.schema)), params).fetchone()[0]


async def _consume(settings, name: str, handlers: Handlers, tickets: list[str]
                   ) -> IdempotentConsumer:
    """Publish one TicketAccepted per ticket (3 partitions), run the consumer until its
    positions cover them all, and return it."""
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 3, settings.dead_letter_topic: 1})
    producer = make_producer(settings)
    await producer.start()
    for t in tickets:
        env = events.make_envelope(
            payload=intake_events_pb2.TicketAccepted(flags=["no_location"]),
            event_id=events.event_id_for(t, 1), ticket_id=t, ticket_code="FY", producer="intake",
            occurred_at=events.utcnow())
        await producer.send(topic, env.SerializeToString(), key=t.encode(),
                            headers=events.kafka_headers(env))
    await producer.flush()
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    consumer = IdempotentConsumer(name=name, settings=settings, pool=pool, topics=[topic],
                                  handlers=handlers, producer=producer)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        deadline = time.monotonic() + patient(30)
        while _count(settings, "SELECT coalesce(sum(next_offset), 0) FROM {}.consumer_positions"
                     " WHERE consumer = %s", name) < len(tickets):
            assert time.monotonic() < deadline, "the consumer did not reach the end in time"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await producer.stop()
        pool.close()
    return consumer


async def test_an_error_surfacing_in_a_later_handler_dead_letters_only_its_message(
        settings, unique):
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.seen (event_id text PRIMARY KEY,"
                         " n int CHECK (n < 100))").format(Identifier(settings.schema)))
    tickets = [str(uuid.uuid4()) for _ in range(12)]
    poison = tickets[4]
    insert = SQL("INSERT INTO {}.seen VALUES (%s, %s)").format(Identifier(settings.schema))
    total = SQL("SELECT count(*) FROM {}.seen").format(Identifier(settings.schema))
    counts: list[int] = []

    def keep(d: events.DecodedEvent, cur: psycopg.Cursor, record: Any) -> None:
        if d.ticket_id == poison:  # its error is known only at the next read, or the end
            cur.execute(insert, (d.event_id, 100))
            return
        cur.execute(insert, (d.event_id, 1))
        counts.append(cur.rowcount)  # waits for the INSERT's answer, as a fetch would
        cur.execute(total)
        assert cur.fetchone() is not None

    name = f"pipe-{unique}"
    consumer = await _consume(settings, name, Handlers({"TicketAccepted": keep}), tickets)
    assert _count(settings, "SELECT count(*) FROM {}.seen") == len(tickets) - 1
    assert _count(settings, "SELECT count(*) FROM {}.seen WHERE event_id = %s",
                  events.event_id_for(poison, 1)) == 0
    assert DEAD_LETTERED.labels(name)._value.get() == 1
    assert set(counts) == {1}
    assert consumer._pipelining  # a poison message is no reason to stop pipelining


async def test_a_handler_that_copies_makes_the_consumer_go_step_by_step(settings, unique):
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.seen (event_id text PRIMARY KEY)")
                     .format(Identifier(settings.schema)))
    tickets = [str(uuid.uuid4()) for _ in range(6)]
    copy = SQL("COPY {}.seen (event_id) FROM STDIN").format(Identifier(settings.schema))

    def keep_all(pairs: list, cur: psycopg.Cursor) -> None:
        with cur.copy(copy) as rows:
            for d, _ in pairs:
                rows.write_row((d.event_id,))

    name = f"copy-{unique}"
    consumer = await _consume(settings, name, Handlers({"TicketAccepted": lambda *a: None},
                                                       batch=keep_all), tickets)
    assert _count(settings, "SELECT count(*) FROM {}.seen") == len(tickets)
    assert DEAD_LETTERED.labels(name)._value.get() == 0
    assert not consumer._pipelining


async def test_a_handler_that_streams_makes_the_consumer_go_step_by_step(settings, unique):
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.seen (event_id text PRIMARY KEY)")
                     .format(Identifier(settings.schema)))
    tickets = [str(uuid.uuid4()) for _ in range(6)]
    s = Identifier(settings.schema)
    streamed: list[int] = []

    def keep(d: events.DecodedEvent, cur: psycopg.Cursor, record: Any) -> None:
        streamed.append(sum(1 for _ in cur.stream(SQL("SELECT event_id FROM {}.seen")
                                                  .format(s))))
        cur.execute(SQL("INSERT INTO {}.seen VALUES (%s)").format(s), (d.event_id,))

    name = f"stream-{unique}"
    consumer = await _consume(settings, name, Handlers({"TicketAccepted": keep}), tickets)
    assert _count(settings, "SELECT count(*) FROM {}.seen") == len(tickets)
    # each handler's stream read every row the ones before it wrote: one step at a time
    assert streamed == list(range(len(tickets)))
    assert DEAD_LETTERED.labels(name)._value.get() == 0
    assert not consumer._pipelining


def _stale_prepared(conn: psycopg.Connection[Any], insert: Any) -> None:
    """Leave psycopg believing `insert` prepared when the server never prepared it."""
    conn.prepare_threshold = 2  # the third execution prepares
    conn.execute(insert, (1,))
    with pytest.raises(psycopg.errors.CheckViolation), conn.pipeline():
        conn.execute("BEGIN")
        conn.execute(insert, (100,))  # fails
        conn.execute(insert, (2,))  # the third: its Parse, skipped by the server
    # a rollback psycopg does not see (as when the pool resets the connection)
    conn.pgconn.exec_(b"ROLLBACK")


def test_after_a_failed_pipeline_no_statement_is_believed_prepared(settings):
    """psycopg names a statement prepared when it sends its Parse; an error earlier in the
    same pipeline makes the server skip it. Whatever psycopg then believes, the consumer's
    clean-up after a failed pipeline (`store.forget_prepared`) leaves the server and psycopg
    agreeing, so the step-by-step retry on the same connection runs (CI once dead-lettered a
    good message with `prepared statement "_pg3_0" does not exist`)."""
    from backbone.store import forget_prepared

    table = Identifier(settings.schema, "prepared_probe")
    insert = SQL("INSERT INTO {} VALUES (%s)").format(table)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {} (n int CHECK (n < 100))").format(table))
        _stale_prepared(conn, insert)
        forget_prepared(conn)  # as the consumer and the store do after a failed pipeline
        for n in (6, 7, 8, 9):  # the third prepared afresh, the fourth uses it
            conn.execute(insert, (n,))
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        _stale_prepared(conn, insert)  # the same without the clean-up: the hazard
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            conn.execute(insert, (3,))
    assert _count(settings, "SELECT count(*) FROM {}.prepared_probe") == 6  # 1, 6-9, 1


@pytest.mark.parametrize("autocommit", [True, False])
def test_the_lazy_pipeline_sends_more_than_the_socket_holds_and_reads_between(settings,
                                                                             autocommit):
    """`lazy_pipeline` leaves its statements in libpq's buffer until a read or the end: a
    transaction of several megabytes (far past what the socket buffers hold) still goes
    through, on both of the consumer's paths (autocommit with BEGIN and COMMIT in the
    pipeline; `conn.transaction()`, whose BEGIN and COMMIT wait for a Sync), a read in the
    middle sees what was sent before it, and a failed statement commits nothing."""
    from backbone.pipelines import LazyPipeline, lazy_pipeline

    table = Identifier(settings.schema, "lazy_probe")
    insert = SQL("INSERT INTO {} VALUES (%s, %s)").format(table)
    count = SQL("SELECT count(*) FROM {}").format(table)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {} (n int CHECK (n >= 0), pad text)").format(table))
    pad = "x" * 1000
    with psycopg.connect(settings.pg_conninfo(), autocommit=autocommit) as conn:
        with lazy_pipeline(conn), contextlib.ExitStack() as tx, conn.cursor() as cur:
            assert isinstance(conn._pipeline, LazyPipeline)
            if autocommit:
                cur.execute(b"BEGIN")
            else:
                tx.enter_context(conn.transaction())
            for n in range(2500):
                cur.execute(insert, (n, pad))
            cur.execute(count)
            assert cur.fetchone() == (2500,)
            for n in range(2500, 5000):
                cur.execute(insert, (n, pad))
            if autocommit:
                cur.execute(b"COMMIT")
        assert conn._pipeline is None
        assert conn.execute(count).fetchone() == (5000,)
        with pytest.raises(psycopg.errors.CheckViolation), lazy_pipeline(conn), \
                contextlib.ExitStack() as tx, conn.cursor() as cur:
            if autocommit:
                cur.execute(b"BEGIN")
            else:
                tx.enter_context(conn.transaction())
            for n in (1, -1, 2):
                cur.execute(insert, (n, pad))
            if autocommit:
                cur.execute(b"COMMIT")
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
    assert _count(settings, "SELECT count(*) FROM {}.lazy_probe") == 5000
