"""What the shared write path asks of PostgreSQL per save (issue 13), on the real server: one
NOTIFY per save, lock_timeout set per connection, a save in one pipelined round trip that
still rolls back whole on a clash; the relay's position held back between close rounds and
written once it is quiet or stopped; CommitNews.drain forgets news a read already covers."""

from __future__ import annotations

import asyncio
import copy
import select
import time
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from minsheng.v1 import intake_events_pb2
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import relay as relay_module
from backbone.kafka import ensure_topics
from backbone.relay import OutboxRelay, Outgoing, Publication
from backbone.store import EventContext, application_env, outbox_channel
from backbone.wakeup import CommitNews
from tests.scratch import scratch_settings
from tests.waiting import patient

pytestmark = pytest.mark.integration


class Probe(Aggregate):
    @event("Opened")
    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id


@pytest.fixture
def settings(infra, unique):
    return scratch_settings(infra, unique)


def _save(app: Application, probe: Probe) -> None:
    app.save(probe, context=EventContext(ticket_id=probe.ticket_id))


def _position(settings) -> int | None:
    with psycopg.connect(settings.pg_conninfo()) as conn:
        row = conn.execute(SQL("SELECT last_notification_id FROM {}.relay_positions")
                           .format(Identifier(settings.schema))).fetchone()
    return row[0] if row else None


async def _until(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + patient(timeout)
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_a_save_notifies_once_and_a_clash_rolls_back_whole(settings):
    app = Application(env=application_env(settings))
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as listener:
        listener.execute(SQL("LISTEN {}").format(Identifier(outbox_channel(settings.schema))))
        probe = Probe(ticket_id=str(uuid.uuid4()))
        clash = copy.deepcopy(probe)  # the same aggregate's first event, saved twice
        clash.ticket_id = "other"
        _save(app, probe)
        heard = list(listener.notifies(timeout=patient(1.0)))
        assert [n.channel for n in heard] == [outbox_channel(settings.schema)]
        with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            assert conn.execute("SHOW lock_timeout").fetchone()["lock_timeout"] == "5s"
        # a second save of the same version: nothing of it stays (its context neither)
        with pytest.raises(IntegrityError):
            app.save(clash, context=EventContext(ticket_id="other"))
        assert not list(listener.notifies(timeout=0.3))  # a rolled-back save announces nothing
    with psycopg.connect(settings.pg_conninfo()) as conn:
        tickets = conn.execute(SQL("SELECT ticket_id FROM {}.{}").format(
            Identifier(settings.schema), Identifier(app.recorder.events_table_name))).fetchall()
        # the context is in the event's own row: one row an event
        assert conn.execute(SQL("SELECT count(*) FROM {}.event_context")
                            .format(Identifier(settings.schema))).fetchone() == (0,)
    assert tickets == [(probe.ticket_id,)]
    _save(app, Probe(ticket_id=str(uuid.uuid4())))  # the pool's connections work on


async def test_the_relay_holds_its_position_back_between_close_rounds(settings, monkeypatch):
    topic = settings.topic("probe.positions")
    await ensure_topics(settings, {topic: 1})

    def translate(pub: Publication) -> list[Outgoing]:
        env = pub.envelope(intake_events_pb2.TicketAccepted(flags=["no_location"]))
        return [Outgoing(topic, env.ticket_id, env)]

    app = Application(env=application_env(settings))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=translate)
    monkeypatch.setattr(relay_module, "POSITION_EVERY_S", 30.0)  # "close", however slow the box
    try:
        _save(app, Probe(ticket_id=str(uuid.uuid4())))
        assert await relay.run_once() == 1
        first = relay._position_cache
        await relay._await_recording()
        assert _position(settings) == first  # the first round is written at once
        _save(app, Probe(ticket_id=str(uuid.uuid4())))
        assert await relay.run_once() == 1  # within POSITION_EVERY_S: held back
        await relay._await_recording()
        assert _position(settings) == first
        await relay.settle()  # written when asked for
        assert _position(settings) == relay._position_cache > first

        # running: a burst of saves, then quiet: the last position reaches the table
        monkeypatch.setattr(relay_module, "POSITION_EVERY_S", 0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(relay._publish_until(stop))
        for _ in range(5):
            await asyncio.to_thread(_save, app, Probe(ticket_id=str(uuid.uuid4())))
        newest = app.recorder.max_notification_id()
        await _until(lambda: _position(settings) == newest)
        # and stopping writes what is held back
        await asyncio.to_thread(_save, app, Probe(ticket_id=str(uuid.uuid4())))
        newest = app.recorder.max_notification_id()
        await _until(lambda: relay._position_cache == newest)
        stop.set()
        await asyncio.wait_for(task, 15)
        assert _position(settings) == newest
    finally:
        await relay._drop_producer()
        pool.close()


async def test_drained_news_does_not_wake_the_next_wait(infra, unique):
    channel = f"minsheng_test_{unique}"
    news, stop = CommitNews(infra, channel=channel), asyncio.Event()
    await news.listen()
    try:
        with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, '')", (channel,))
        # arrived (a read now would cover them)
        assert select.select([news._conn.fileno()], [], [], patient(5))[0]
        news.drain()
        assert await news.wait(stop, fallback_s=0.3) is False  # quiet
        with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, '')", (channel,))
        assert await news.wait(stop, fallback_s=10) is True  # news after the drain wakes it
    finally:
        await news.close()


async def test_overlapping_rounds_record_only_acknowledged_ones_in_order(settings, monkeypatch):
    """Through a backlog the relay sends the next round before the last is acknowledged; a
    round that fails leaves the position at the last acknowledged round (never past one in
    flight), and the retry publishes the rest: every event reaches Kafka, none is lost."""
    settings = settings.model_copy(update={"relay_batch": 10})
    topic = settings.topic("probe.overlap")
    await ensure_topics(settings, {topic: 3})

    def translate(pub: Publication) -> list[Outgoing]:
        env = pub.envelope(intake_events_pb2.TicketAccepted(flags=["no_location"]))
        return [Outgoing(topic, env.ticket_id, env)]

    app = Application(env=application_env(settings))
    app.save(*[Probe(ticket_id=str(uuid.uuid4())) for _ in range(45)])
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=translate)
    monkeypatch.setattr(relay_module, "POSITION_EVERY_S", 0.0)  # every acknowledged round
    sends, real_send = [], relay_module._send_all

    async def failing_third(producer, records):
        sends.append(len(records))
        if len(sends) == 3:
            raise RuntimeError("the broker went away")
        return await real_send(producer, records)

    monkeypatch.setattr(relay_module, "_send_all", failing_third)
    try:
        with pytest.raises(RuntimeError, match="the broker went away"):
            await relay.run_once()
        await relay.settle()
        # round 2 was sent, round 1 acknowledged (the third failed before round 2's turn)
        assert sends == [10, 10, 10]
        first_ten = sorted(n.id for n in app.recorder.select_notifications(start=1, limit=10))
        assert _position(settings) == first_ten[-1]
        relay._position_cache = None  # as the publish loop does after a failed round
        sent = 0
        while (got := await relay.run_once()) > 0:
            sent += got
        assert sent == 35
        assert _position(settings) == app.recorder.max_notification_id()
    finally:
        await relay._drop_producer()
        pool.close()


def test_binary_arrays_read_back_as_psycopg_s_own(settings):
    """backbone.pg_arrays' columns are what psycopg's list dumper sends: the same rows back,
    NULLs, empty strings, non-ASCII text, empty and large byte strings included."""
    from backbone import pg_arrays

    ids = [uuid.uuid4() for _ in range(5)]
    versions = [1, 2, 2 ** 40, 0, 7]
    texts = ["", "工单 \x01", None, "x" * 3000, "system"]
    blobs = [b"", b"\x00\xff", None, bytes(range(256)) * 40, b"s"]
    query = SQL("SELECT * FROM unnest(%b::uuid[], %b::int8[], %b::text[], %b::bytea[])")
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        theirs = conn.execute(query, (ids, versions, texts, blobs)).fetchall()
        ours = conn.execute(query, (pg_arrays.uuids(ids), pg_arrays.int8s(versions),
                                    pg_arrays.texts(texts), pg_arrays.byteas(blobs))).fetchall()
        assert ours == theirs and len(ours) == 5
        empty = conn.execute(SQL("SELECT count(*) FROM unnest(%b::text[])"),
                             (pg_arrays.texts([]),)).fetchone()
        assert empty == (0,)
        # a column of one value in every row is made by repetition: the same array back
        for same in (["工单"] * 4, [None] * 3, [""] * 2, ["x"]):
            got = conn.execute(SQL("SELECT %b::text[]"), (pg_arrays.texts(same),)).fetchone()
            assert got == (same,)


def test_the_events_insert_unnests_in_the_select_list_in_order(settings):
    """The events' INSERT unnests its arrays in the select list (ProjectSet: a row at a time),
    not `FROM unnest(a, b, ...)` (a function scan that first copies each of the 12 arrays into a
    tuplestore of its own: ~9 % more of PostgreSQL's CPU a row, session 24); its rows, in parts
    and with the relay's messages or without, take notification ids in the events' order, with
    their contexts and messages."""
    from backbone import pg_arrays

    app = Application(env=application_env(settings))
    recorder: Any = app.recorder
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(45)]
    stored = [app.mapper.to_stored_event(e) for p in probes for e in p.collect_events()]
    contexts = [EventContext(ticket_id=p.ticket_id, trace_id=f"{i:032x}") for i, p in
                enumerate(probes)]
    messages = [bytes([i]) * (i % 7) if i % 3 else None for i in range(45)]
    table = Identifier(settings.schema, recorder.events_table_name)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        columns, _ = recorder._columns(stored[:3], None, contexts[:3], {})
        for statement, extra in ((recorder._binary_insert, []),
                                 (recorder._binary_insert_outgoing, [pg_arrays.byteas([b"m"] * 3)]),
                                 (recorder._binary_insert_outgoing_quiet,
                                  [pg_arrays.byteas([None] * 3)])):
            plan = "\n".join(r[0] for r in conn.execute(b"EXPLAIN " + statement, columns + extra))
            assert "ProjectSet" in plan and "Function Scan" not in plan, plan
    # with RETURNING (every service's save) and without (the group commit's), in parts
    ids = recorder.insert_parts([(stored[:20], messages[:20], contexts[:20]),
                                 (stored[20:30], None, contexts[20:30])])
    assert ids is not None and list(ids) == sorted(ids) and len(ids) == 30
    assert recorder.insert_parts([(stored[30:], messages[30:], contexts[30:])],
                                 notification_ids=False) is None
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        rows = conn.execute(SQL("SELECT originator_id, originator_version, outgoing, ticket_id,"
                                " trace_id, actor_role FROM {} ORDER BY notification_id")
                            .format(table)).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(s.originator_id, s.originator_version)
                                            for s in stored]
    assert [r[2] for r in rows] == messages[:20] + [None] * 10 + messages[30:]
    assert [(r[3], r[4], r[5]) for r in rows] == [(c.ticket_id, c.trace_id, "system")
                                                  for c in contexts]
