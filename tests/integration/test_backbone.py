"""The backbone on the real Kafka and PostgreSQL: outbox relay and idempotent consumer."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from minsheng.v1 import intake_events_pb2
from prometheus_client import REGISTRY
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone import relay as relay_module
from backbone.consumer import Handlers, IdempotentConsumer
from backbone.kafka import ensure_topics, make_producer
from backbone.relay import OutboxRelay, Outgoing, Publication
from backbone.store import EventContext, application_env
from tests.probes import Probe, translate_to
from tests.scratch import scratch_settings
from tests.waiting import patient

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(infra, unique):
    return scratch_settings(infra, unique)


async def read_all(settings, topic: str, expected: int, timeout: float = 20) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    got: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + patient(timeout)
        while len(got) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


async def test_relay_publishes_each_stored_event_once_with_a_deterministic_id(settings, unique):
    topic = settings.topic("probe.new-topic")  # not created beforehand: the relay must cope
    app = Application(env=application_env(settings))
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(5)]
    for p in probes:
        app.save(p, context=EventContext(ticket_id=p.ticket_id, ticket_code="FY1",
                                         trace_id="ab" * 16))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    producer = make_producer(settings)
    await producer.start()
    try:
        relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=translate_to(topic))
        # A crash after publishing but before recording the position republishes the batch:
        # simulate it by publishing, then forgetting the position.
        assert await relay.run_once() == 5
        await relay.settle()  # its position written (during the next round, or now)
        with pool.connection() as conn:
            conn.execute(SQL("DELETE FROM {}.relay_positions").format(Identifier(settings.schema)))
        await relay._drop_producer()  # the restarted process: a new relay
        relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=translate_to(topic))
        assert await relay.run_once() == 5
        assert await relay.run_once() == 0
    finally:
        await relay._drop_producer()
        await producer.stop()
        pool.close()
    records = [r for r in await read_all(settings, topic, 10)
               if events.decode(r.value).ticket_id in {p.ticket_id for p in probes}]
    assert len(records) == 10
    ids = [events.decode(r.value).event_id for r in records]
    assert len(set(ids)) == 5  # the copies keep their ids
    first = events.decode(records[0].value)
    assert first.envelope.trace_id == "ab" * 16
    assert first.envelope.producer == "intake"
    assert dict(records[0].headers)["event_type"] == b"TicketAccepted"


class Counter(Aggregate):
    @event("Opened")
    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id

    @event("Stepped")
    def step(self) -> None:
        pass


@pytest.mark.parametrize("relay_batch", [500, 50])
async def test_relay_batches_keep_each_keys_order_on_the_default_partition(settings, unique,
                                                                          relay_batch):
    """The relay sends a batch per partition: every message lands on the partition the
    producer's default partitioner gives its key, and a ticket's events keep their order;
    also when it reads the next batch while the last is being acknowledged (batch of 50)."""
    settings = settings.model_copy(update={"relay_batch": relay_batch})
    topic = settings.topic("probe.order")
    await ensure_topics(settings, {topic: 6})
    app = Application(env=application_env(settings))
    counters = [Counter(ticket_id=str(uuid.uuid4())) for _ in range(30)]
    for _ in range(7):
        for c in counters:
            c.step()
    app.save(*counters)

    def translate(pub: Publication) -> list[Outgoing]:
        # the aggregate's version as the code: the order, readable downstream
        env = pub.envelope(intake_events_pb2.TicketAccepted(flags=["no_location"]),
                           ticket_id=str(pub.event.originator_id),
                           ticket_code=str(pub.event.originator_version))
        return [Outgoing(topic, str(pub.event.originator_id), env)]

    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=translate)
    try:
        sent = 0
        while (got := await relay.run_once()) > 0:
            sent += got
        assert sent == 240
        with pool.connection() as conn:  # the position reached the end, no further
            assert conn.execute(SQL("SELECT last_notification_id FROM {}.relay_positions")
                                .format(Identifier(settings.schema))).fetchone()[0] == \
                app.recorder.max_notification_id()
    finally:
        await relay._drop_producer()
        pool.close()
    records = await read_all(settings, topic, 240)
    assert len(records) == 240
    partitioner, parts = DefaultPartitioner(), list(range(6))
    seen: dict[bytes, list[int]] = {}
    for r in records:
        assert r.partition == partitioner(r.key, parts, parts)
        seen.setdefault(r.key, []).append(int(events.decode(r.value).envelope.ticket_code))
    assert len(seen) == 30
    assert all(order == list(range(1, 9)) for order in seen.values())


async def test_relay_wakes_on_the_commit_not_on_a_timer(settings, unique, monkeypatch):
    """With a fallback poll of 40 s, a stored event still reaches Kafka within seconds: the
    commit's NOTIFY wakes the relay. (The idle relay's own fallback is 10 s, too near the
    bound below to tell a wake from a timer; a poll, were LISTEN impossible, is 40 s too.)"""
    fallback_s = patient(40)
    monkeypatch.setattr(relay_module, "QUIET_FALLBACK_S", fallback_s)
    monkeypatch.setattr(relay_module, "LEADERSHIP_CHECK_S", fallback_s)
    topic = settings.topic("probe.push")
    await ensure_topics(settings, {topic: 1})
    slow = settings.model_copy(update={"relay_interval_ms": int(fallback_s * 1000)})
    app = Application(env=application_env(slow))
    pool = ConnectionPool(slow.pg_conninfo(), min_size=1, max_size=2, open=True)
    relay = OutboxRelay(settings=slow, app=app, pool=pool, translate=translate_to(topic))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        # the first (empty) round has read the position: the relay listens and waits
        await _wait_until(lambda: relay._position_cache is not None or task.done(), timeout=20)
        probe = Probe(ticket_id=str(uuid.uuid4()))
        await asyncio.to_thread(app.save, probe, context=EventContext(ticket_id=probe.ticket_id))
        started = time.monotonic()
        records = await read_all(settings, topic, 1, timeout=10)
        assert len(records) == 1
        assert time.monotonic() - started < min(patient(5), fallback_s / 4)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        pool.close()


def _envelope(ticket_id: str, n: int) -> bytes:
    return events.make_envelope(
        payload=intake_events_pb2.TicketAccepted(flags=["no_location"]),
        event_id=events.event_id_for(ticket_id, n), ticket_id=ticket_id, ticket_code="FY",
        producer="intake", occurred_at=events.utcnow()).SerializeToString()


async def test_consumer_applies_once_dead_letters_poison_and_resumes(settings, unique):
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 3, settings.dead_letter_topic: 1})
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.seen (event_id text PRIMARY KEY, n int)")
                     .format(Identifier(settings.schema)))

    def count(d: events.DecodedEvent, cur: psycopg.Cursor, record: Any) -> None:
        cur.execute(SQL("INSERT INTO {}.seen VALUES (%s, 1)").format(Identifier(settings.schema)),
                    (d.event_id,))

    producer = make_producer(settings)
    await producer.start()
    tickets = [str(uuid.uuid4()) for _ in range(20)]
    wrong_owner = events.make_envelope(
        payload=intake_events_pb2.TicketAccepted(flags=["no_location"]), event_id=str(uuid.uuid4()),
        ticket_id=tickets[0], ticket_code="FY", producer="intake", occurred_at=events.utcnow())
    wrong_owner.producer = "dispatch"  # forged: dispatch may not emit TicketAccepted
    for t in tickets:
        await producer.send_and_wait(topic, _envelope(t, 1), key=t.encode())
        await producer.send_and_wait(topic, _envelope(t, 1), key=t.encode())  # a copy
    await producer.send_and_wait(topic, b"\x00garbage", key=b"x")
    await producer.send_and_wait(topic, wrong_owner.SerializeToString(), key=tickets[0].encode())
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    name = f"probe-{unique}"

    def metric(metric_name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(metric_name, {"consumer": name, **labels}) or 0.0

    def copies() -> float:
        return metric("minsheng_consumer_duplicates_total")

    async def run_consumer(until: Any) -> None:
        consumer = IdempotentConsumer(name=name, settings=settings, pool=pool,
                                      topics=[topic], handlers=Handlers({"TicketAccepted": count}),
                                      producer=producer)
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        try:
            await _wait_until(lambda: task.done() or until())
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    try:
        # every copy is dropped (in its batch, or after the batch that held it rolled back)
        await run_consumer(lambda: copies() >= 20 and metric(
            "minsheng_consumer_dead_lettered_total") >= 2)
        for t in tickets[:5]:  # more copies after a restart: still applied once
            await producer.send_and_wait(topic, _envelope(t, 1), key=t.encode())
        await run_consumer(lambda: copies() >= 25)
    finally:
        await producer.stop()
    with pool.connection() as conn:
        n = conn.execute(SQL("SELECT count(*) FROM {}.seen").format(
            Identifier(settings.schema))).fetchone()[0]
    pool.close()
    assert n == 20
    # the metrics count what committed: the rolled-back batches' handlers ran too
    assert metric("minsheng_consumer_applied_total", event_type="TicketAccepted") == 20
    assert copies() == 25
    dead = await read_all(settings, settings.dead_letter_topic, 2)
    reasons = sorted(dict(r.headers)["error"].decode().split(":")[0] for r in dead)
    assert reasons == ["UndecodableEventError", "WrongProducerError"]


async def _wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + patient(timeout)
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def _count(settings, sql: str, *params: Any) -> int:
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        return conn.execute(SQL(sql).format(Identifier(settings.schema)), params).fetchone()[0]


async def test_consumer_skips_unwanted_types_unread_and_batches_with_one_poison(settings, unique):
    """Types not in the table are skipped by their header: never decoded (garbage bodies are
    not dead-lettered), no consumed_events row, yet the stored position reaches the end. A
    batch handler gets the wanted events at once; its poison message is found and
    dead-lettered alone."""
    from backbone.consumer import DEAD_LETTERED

    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 3, settings.dead_letter_topic: 1})
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.seen (event_id text PRIMARY KEY)")
                     .format(Identifier(settings.schema)))
    tickets = [str(uuid.uuid4()) for _ in range(12)]
    poison_ticket = tickets[5]
    batches: list[int] = []

    def apply_batch(pairs: list, cur: psycopg.Cursor) -> None:
        if any(d.ticket_id == poison_ticket for d, _ in pairs):
            raise ValueError("this ticket cannot be applied")
        batches.append(len(pairs))
        cur.executemany(SQL("INSERT INTO {}.seen VALUES (%s)").format(
            Identifier(settings.schema)), [(d.event_id,) for d, _ in pairs])

    def unwanted(t: str) -> list[tuple[str, bytes]]:
        return [("event_type", b"TicketRated"), ("producer", b"feedback")]

    producer = make_producer(settings)
    await producer.start()
    sent = 0
    for t in tickets:
        env = events.make_envelope(
            payload=intake_events_pb2.TicketAccepted(flags=["no_location"]),
            event_id=events.event_id_for(t, 1), ticket_id=t, ticket_code="FY", producer="intake",
            occurred_at=events.utcnow())
        await producer.send(topic, b"\x00not decoded", key=t.encode(), headers=unwanted(t))
        await producer.send(topic, env.SerializeToString(), key=t.encode(),
                            headers=events.kafka_headers(env))
        await producer.send(topic, b"\x00not decoded", key=t.encode(), headers=unwanted(t))
        sent += 3
    await producer.flush()
    name = f"probe-{unique}"
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    consumer = IdempotentConsumer(name=name, settings=settings, pool=pool, topics=[topic],
                                  handlers=Handlers({"TicketAccepted": lambda *a: None},
                                                    batch=apply_batch),
                                  producer=producer)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await _wait_until(lambda: _count(
            settings, "SELECT coalesce(sum(next_offset), 0) FROM {}.consumer_positions"
            " WHERE consumer = %s", name) == sent, timeout=15)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await producer.stop()
        pool.close()
    assert _count(settings, "SELECT count(*) FROM {}.seen") == len(tickets) - 1
    # rows only for the wanted events, the dead-lettered one included (it was handled)
    assert _count(settings, "SELECT count(*) FROM {}.consumed_events WHERE consumer = %s",
                  name) == len(tickets) - 1
    assert DEAD_LETTERED.labels(name)._value.get() == 1
    assert max(batches) > 1  # the wanted events of a poll were applied together


async def test_group_commit_saves_for_async_callers_in_shared_transactions(settings):
    from backbone.group_commit import BATCH_SIZE, GroupCommitter

    app = Application(env=application_env(settings))
    committer = GroupCommitter(app, service=f"probe-{settings.schema}")
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(40)]
    try:
        await asyncio.gather(*[committer.save_async(p, context=EventContext(ticket_id=p.ticket_id))
                               for p in probes])
    finally:
        committer.close()
    for p in probes:
        assert app.repository.get(p.id).ticket_id == p.ticket_id
    histogram = BATCH_SIZE.labels(f"probe-{settings.schema}")
    assert histogram._sum.get() == 40  # every command saved once


async def test_group_commit_retries_a_failed_batch_alone_and_keeps_events_as_eventsourcing(
        settings):
    """A batch with one clashing command (its aggregate exists already) fails as a whole; each
    command is tried alone: the others commit with all their events, and the clashing one
    fails with eventsourcing's IntegrityError, its events taken as Application.save takes
    them."""
    from eventsourcing.persistence import IntegrityError

    from backbone.group_commit import GroupCommitter

    app = Application(env=application_env(settings))
    taken = Probe(ticket_id=str(uuid.uuid4()))
    clash = copy.deepcopy(taken)  # the same aggregate created twice: its version 1 will exist
    app.save(taken, context=EventContext(ticket_id=taken.ticket_id))
    committer = GroupCommitter(app, service=f"probe-{settings.schema}", max_wait_s=0.05)
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(10)]
    for p in probes:
        p.note()  # two events each
    try:
        results = await asyncio.gather(
            *[committer.save_async(p, context=EventContext(ticket_id=p.ticket_id))
              for p in [*probes[:5], clash, *probes[5:]]], return_exceptions=True)
    finally:
        committer.close()
    assert isinstance(results[5], IntegrityError)
    assert [r for i, r in enumerate(results) if i != 5] == [None] * 10
    assert clash.pending_events == [] and all(p.pending_events == [] for p in probes)
    for p in probes:
        assert app.repository.get(p.id).version == 2


async def test_a_relay_that_loses_its_election_lock_stands_down(settings, unique, caplog,
                                                                 monkeypatch):
    """The lock lives on one connection; when that session ends (a database restart, a
    failover), another replica's relay takes over and this one goes back to standing by,
    instead of both publishing."""
    import backbone.relay as relay_module

    fast = settings.model_copy(update={"relay_interval_ms": 50})
    app = Application(env=application_env(fast))
    pool = ConnectionPool(fast.pg_conninfo(), min_size=1, max_size=2, open=True)
    translate = translate_to(fast.topic("probe.leader"))
    first, second = (OutboxRelay(settings=fast, app=app, pool=pool, translate=translate)
                     for _ in range(2))
    key = f"minsheng-relay:{fast.schema}:lifecycle"

    def holders() -> list[int]:
        with pool.connection() as conn:
            return [r[0] for r in conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND objid::bigint = (hashtext(%s)::bigint & 4294967295)", (key,)).fetchall()]

    stop = asyncio.Event()
    monkeypatch.setattr(relay_module, "LEADERSHIP_CHECK_S", 0.5)
    caplog.set_level(logging.WARNING, logger="backbone.relay")
    tasks = [asyncio.create_task(first.run(stop))]
    try:
        await _wait_until(lambda: first._position_cache is not None, timeout=20)
        tasks.append(asyncio.create_task(second.run(stop)))
        [leader] = await asyncio.to_thread(holders)
        with pool.connection() as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (leader,))
        await _wait_until(lambda: "standing for it again" in caplog.text, timeout=20)
        # one holder again: the second relay (or the first, re-elected), never both
        await _wait_until(lambda: len(holders()) == 1, timeout=20)
        assert len(await asyncio.to_thread(holders)) == 1
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        pool.close()
