"""The list's consumer on the real broker: each event applied once, copies dropped, so a
redelivered old event can never wind a ticket's status back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from minsheng.v1 import common_pb2
from minsheng.v1 import dispatch_events_pb2 as d
from minsheng.v1 import intake_events_pb2 as i
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.consumer import IdempotentConsumer
from backbone.kafka import ensure_topics, make_producer
from backbone.store import ensure_database
from services.workbench.adapters import readmodel
from services.workbench.entrypoints import consumer
from services.workbench.settings import WorkbenchSettings
from tests.waiting import patient

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def _status(pool: ConnectionPool, schema: str, ticket_id: str) -> str:
    with pool.connection() as conn, conn.cursor() as cur:
        row = readmodel.load(cur, schema, ticket_id)
    return row.status if row else ""


async def test_copies_are_dropped_and_progress_commits_with_the_rows(infra, unique, caplog):
    settings = WorkbenchSettings(environment="test", topic_prefix=f"tw{unique}.",
                                 pg_schema=f"workbench_{unique}")
    ensure_database(settings)
    await ensure_topics(settings, {settings.lifecycle_topic: 3,
                                   settings.dead_letter_topic: 1})
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    readmodel.create_tables(pool, settings.schema)
    tid, code = str(uuid.uuid4()), "FY-261102-00001-K"

    def envelope(payload, minutes: int, producer: str) -> bytes:
        return events.make_envelope(
            payload=payload, event_id=events.event_id_for(tid, minutes), ticket_id=tid,
            ticket_code=code, producer=producer,
            occurred_at=T0 + timedelta(minutes=minutes)).SerializeToString()

    story = [envelope(i.TicketSubmitted(channel="web", text_masked="路灯不亮",
                                        place=common_pb2.Place(county="yingzhou")), 0, "intake"),
             envelope(i.TicketAccepted(), 1, "intake"),
             envelope(d.TicketAssigned(unit="lighting", role="lead"), 2, "dispatch"),
             envelope(d.AssignmentSignedFor(unit="lighting"), 3, "dispatch")]
    producer = make_producer(settings)
    await producer.start()
    tickets = IdempotentConsumer(name=consumer.CONSUMER, settings=settings, pool=pool,
                                 topics=[settings.lifecycle_topic],
                                 handlers=consumer.handlers(settings.schema), producer=producer)
    stop = asyncio.Event()
    task = asyncio.create_task(tickets.run(stop))
    try:
        for raw in story:
            await producer.send_and_wait(settings.lifecycle_topic, raw, key=tid.encode())
        await _until(lambda: _status(pool, settings.schema, tid) == "signed_for")
        # the relay publishes at least once: the assignment again, at a new offset
        for raw in story[:3]:
            await producer.send_and_wait(settings.lifecycle_topic, raw, key=tid.encode())
        await _until(lambda: _applied_up_to(settings, pool) >= 7)
        assert _status(pool, settings.schema, tid) == "signed_for"
        # the ticket goes on: its row as the copies' rolled-back batch left it in memory is
        # forgotten with the batch, not found stale by the next write (which logged a
        # "transient failure" with a traceback after every redelivery)
        caplog.set_level("WARNING", logger="backbone.consumer")
        await producer.send_and_wait(settings.lifecycle_topic, envelope(
            d.AssignmentReplied(unit="lighting", reply_masked="已修复"), 4, "dispatch"),
            key=tid.encode())
        await _until(lambda: _status(pool, settings.schema, tid) == "replied")
        assert not [r for r in caplog.records if "transient failure" in r.getMessage()]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await producer.stop()
        pool.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(settings.schema)))


def _applied_up_to(settings: WorkbenchSettings, pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        found = conn.execute(SQL("SELECT coalesce(sum(next_offset), 0) FROM {}.consumer_positions"
                                 " WHERE consumer = %s").format(Identifier(settings.schema)),
                             (consumer.CONSUMER,)).fetchone()
    return int(found[0]) if found else 0


async def _until(condition, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patient(timeout)
    while not await asyncio.to_thread(condition):
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def test_rows_kept_in_memory_are_never_written_over_when_stale(infra, unique):
    """Two replicas' lists (a partition moved between them and back), and a transaction that
    rolled back after the rows were kept: the stale row is refused (the consumer retries the
    batch as a conflict) and the retry folds onto the stored row."""
    settings = WorkbenchSettings(environment="test", pg_schema=f"workbench_{unique}")
    ensure_database(settings)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    readmodel.create_tables(pool, settings.schema)
    tid, code = str(uuid.uuid4()), "FY-261102-00002-K"

    def event(payload, minutes: int, producer: str) -> events.DecodedEvent:
        return events.decode(events.make_envelope(
            payload=payload, event_id=str(uuid.uuid4()), ticket_id=tid, ticket_code=code,
            producer=producer, occurred_at=T0 + timedelta(minutes=minutes)).SerializeToString())

    def apply(tickets: consumer.TicketList, *decoded: events.DecodedEvent) -> None:
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            tickets.apply([(d, None) for d in decoded], cur)

    first, second = consumer.TicketList(settings.schema), consumer.TicketList(settings.schema)
    try:
        apply(first, event(i.TicketSubmitted(channel="web", text_masked="路灯不亮"), 0, "intake"),
              event(i.TicketAccepted(), 1, "intake"))
        apply(second, event(d.TicketAssigned(unit="lighting", role="lead"), 2, "dispatch"))
        signed = event(d.AssignmentSignedFor(unit="lighting"), 3, "dispatch")
        with pytest.raises(consumer.StaleRowError):
            apply(first, signed)  # `first` still holds the row as accepted
        apply(first, signed)  # the consumer's retry: the row is read again
        assert _status(pool, settings.schema, tid) == "signed_for"

        # kept, then rolled back: the row in memory is ahead of the table
        replied = event(d.AssignmentReplied(unit="lighting", reply_masked="已修复"), 4,
                        "dispatch")
        with (pytest.raises(RuntimeError, match="the progress could not be written"),
              pool.connection() as conn, conn.transaction(),
              conn.cursor() as cur):
            first.apply([(replied, None)], cur)
            raise RuntimeError("the progress could not be written")
        assert _status(pool, settings.schema, tid) == "signed_for"
        with pytest.raises(consumer.StaleRowError):
            apply(first, replied)
        apply(first, replied)
        assert _status(pool, settings.schema, tid) == "replied"
    finally:
        pool.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(settings.schema)))


def test_search_bigrams_are_written_once_per_text(infra, unique):
    """The bigrams live in ticket_grams, written when the text is first known (or changes),
    not at the row's later updates; an insert that rolled back after its row was kept in
    memory is inserted again with them, so the ticket is still found by its words."""
    from services.workbench.domain.listing import Order, TicketFilter

    settings = WorkbenchSettings(environment="test", pg_schema=f"workbench_{unique}")
    ensure_database(settings)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    readmodel.create_tables(pool, settings.schema)
    tid, other = str(uuid.uuid4()), str(uuid.uuid4())

    def event(ticket_id, payload, minutes: int, producer: str) -> events.DecodedEvent:
        return events.decode(events.make_envelope(
            payload=payload, event_id=str(uuid.uuid4()), ticket_id=ticket_id,
            ticket_code=f"FY-261102-{minutes:05d}-K", producer=producer,
            occurred_at=T0 + timedelta(minutes=minutes)).SerializeToString())

    def apply(tickets: consumer.TicketList, *decoded: events.DecodedEvent) -> None:
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            tickets.apply([(d, None) for d in decoded], cur)

    def grams_version(ticket_id: str) -> tuple[str, list[str]] | None:
        with pool.connection() as conn:
            return conn.execute(SQL("SELECT xmin::text, grams FROM {}.ticket_grams"
                                    " WHERE ticket_id = %s").format(
                Identifier(settings.schema)), (ticket_id,)).fetchone()

    def found(q: str) -> set[str]:
        rows, _ = readmodel.page(pool, settings.schema, TicketFilter(q=q), Order(), limit=50)
        return {r["ticket_id"] for r in rows}

    tickets = consumer.TicketList(settings.schema)
    try:
        apply(tickets, event(tid, i.TicketSubmitted(channel="web", text_masked="路灯不亮",
                                                    title_masked="路灯"), 0, "intake"))
        first = grams_version(tid)
        assert first and "灯不" in first[1]
        apply(tickets, event(tid, i.TicketAccepted(), 1, "intake"))
        apply(tickets, event(tid, d.TicketAssigned(unit="lighting", role="lead"), 2,
                             "dispatch"))
        apply(consumer.TicketList(settings.schema),  # another replica, rows read from the table
              event(tid, d.AssignmentSignedFor(unit="lighting"), 3, "dispatch"))
        assert grams_version(tid) == first  # the same row version: never rewritten
        assert _status(pool, settings.schema, tid) == "signed_for"
        assert found("灯不亮") == {tid} and found("路灯") == {tid}
        assert "grams" not in readmodel.by_code(pool, settings.schema, "FY-261102-00000-K")

        submitted = event(other, i.TicketSubmitted(channel="web", text_masked="噪音扰民"), 5,
                          "intake")
        with (pytest.raises(RuntimeError, match="the progress could not be written"),
              pool.connection() as conn, conn.transaction(),
              conn.cursor() as cur):
            tickets.apply([(submitted, None)], cur)
            raise RuntimeError("the progress could not be written")
        apply(tickets, submitted)  # the retry folds onto the row kept in memory
        assert found("噪音") == {other}
    finally:
        pool.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(settings.schema)))


def test_a_table_with_the_bigrams_in_it_is_migrated(infra, unique):
    """A read model made before ticket_grams: its bigrams move there, the column goes."""
    from services.workbench.domain.listing import Order, TicketFilter

    settings = WorkbenchSettings(environment="test", pg_schema=f"workbench_{unique}")
    ensure_database(settings)
    schema = Identifier(settings.schema)
    tid = str(uuid.uuid4())
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(readmodel.ddl(settings.schema)[0])  # the old table: the bigrams in it
        conn.execute(SQL("ALTER TABLE {}.tickets ADD COLUMN grams text[] NOT NULL"
                         " DEFAULT '{{}}'").format(schema))
        conn.execute(SQL("CREATE INDEX tickets_grams ON {}.tickets USING gin (grams)"
                         ).format(schema))
        conn.execute(SQL("INSERT INTO {}.tickets (ticket_id, status, submitted_at, updated_at,"
                         " grams) VALUES (%s, 'accepted', %s, %s, %s)").format(schema),
                     (tid, T0, T0, ["噪音", "扰民"]))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    try:
        readmodel.create_tables(pool, settings.schema)
        readmodel.create_tables(pool, settings.schema)  # again: nothing left to move
        with pool.connection() as conn:
            assert conn.execute(SQL("SELECT count(*) FROM information_schema.columns"
                                    " WHERE table_schema = %s AND column_name = 'grams'"
                                    " AND table_name = 'tickets'"), (settings.schema,)
                                ).fetchone()[0] == 0
            conn.execute(SQL("UPDATE {}.tickets SET text_masked = '噪音扰民'").format(schema))
        rows, _ = readmodel.page(pool, settings.schema, TicketFilter(q="噪音"), Order(),
                                 limit=10)
        assert [r["ticket_id"] for r in rows] == [tid]
    finally:
        pool.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))


def test_the_rows_kept_are_bounded_and_a_forgotten_row_is_read_again(infra, unique):
    """At most `kept` rows stay in memory (the least recently written go first); an event of
    a ticket whose row was forgotten folds onto the stored row: the same rows as with all of
    them kept."""
    settings = WorkbenchSettings(environment="test", pg_schema=f"workbench_{unique}")
    ensure_database(settings)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    readmodel.create_tables(pool, settings.schema)
    ids = [str(uuid.uuid4()) for _ in range(6)]

    def event(n: int, payload, minutes: int, producer: str) -> events.DecodedEvent:
        return events.decode(events.make_envelope(
            payload=payload, event_id=str(uuid.uuid4()), ticket_id=ids[n],
            ticket_code=f"FY-261102-{n:05d}-K", producer=producer,
            occurred_at=T0 + timedelta(minutes=minutes)).SerializeToString())

    def apply(tickets: consumer.TicketList, *decoded: events.DecodedEvent) -> None:
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            tickets.apply([(d, None) for d in decoded], cur)

    tickets = consumer.TicketList(settings.schema, kept=2)
    try:
        for n in range(6):
            apply(tickets, event(n, i.TicketSubmitted(channel="web", text_masked=f"路灯{n}不亮"),
                                 n, "intake"))
            apply(tickets, event(n, i.TicketAccepted(), n + 10, "intake"))
            assert len(tickets.rows) <= 2
        assert list(tickets.rows) == ids[4:]  # the latest written
        for n in range(6):  # forgotten (0-3) or kept (4, 5): folded alike
            apply(tickets, event(n, d.TicketAssigned(unit="lighting", role="lead"), n + 20,
                                 "dispatch"))
            apply(tickets, event(n, d.AssignmentSignedFor(unit="lighting"), n + 30, "dispatch"))
            assert len(tickets.rows) <= 2
        with pool.connection() as conn, conn.cursor() as cur:
            rows = [readmodel.load(cur, settings.schema, t) for t in ids]
        assert [(r.status, r.unit, r.text_masked, r.code) for r in rows] == [
            ("signed_for", "lighting", f"路灯{n}不亮", f"FY-261102-{n:05d}-K") for n in range(6)]
        assert tickets.rows[ids[5]][0] == rows[5]
    finally:
        pool.close()
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(settings.schema)))
