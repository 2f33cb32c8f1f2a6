"""The relay's messages encoded at commit (in the event's row), on the real Kafka and
PostgreSQL: the same messages as translating at send time, on the same partitions, in order;
events saved otherwise still translated by the relay, and those stored before in
event_context.outgoing still sent; and the column added to a schema made before it existed."""

from __future__ import annotations

import asyncio
import marshal
import time
import uuid

import psycopg
import pytest
from aiokafka.partitioner import DefaultPartitioner
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from minsheng.v1 import intake_events_pb2
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.group_commit import GroupCommitter
from backbone.kafka import ensure_topics
from backbone.relay import (
    OutboxRelay,
    Outgoing,
    Publication,
    _encode_v1,
    _encode_v2,
    decode_records,
    encode_records,
)
from backbone.store import CONTEXT_FIELDS, EventContext, application_env, ensure_database
from tests.integration.test_backbone import read_all
from tests.scratch import scratch_settings

pytestmark = pytest.mark.integration


class Probe(Aggregate):
    @event("Opened")
    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id

    @event("Accepted")
    def accept(self) -> None:
        pass


def translate_to(topic: str):
    def translate(pub: Publication) -> list[Outgoing]:
        flags = ["opened"] if type(pub.event).__qualname__ == "Probe.Opened" else ["accepted"]
        env = pub.envelope(intake_events_pb2.TicketAccepted(flags=flags))
        return [Outgoing(topic, env.ticket_id, env)]

    return translate


@pytest.fixture
def settings(infra, unique):
    return scratch_settings(infra, unique)


def _outgoing(settings, app: Application) -> list[bytes | None]:
    """The messages stored with each event: in its own row (event_context.outgoing only holds
    those of rows stored before they moved there)."""
    s = Identifier(settings.schema)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        assert conn.execute(SQL("SELECT count(*) FROM {}.event_context WHERE outgoing IS NOT"
                                " NULL").format(s)).fetchone()[0] == 0
        return [r[0] for r in conn.execute(SQL("SELECT outgoing FROM {}.{}").format(
            s, Identifier(app.recorder.events_table_name)))]


def _as_stored_before(settings, app: Application, probe: Probe) -> None:
    """Move an event's context and messages to event_context, where they were stored before
    (the event's row keeps neither)."""
    s, table = Identifier(settings.schema), Identifier(app.recorder.events_table_name)
    columns = SQL(", ").join(map(Identifier, CONTEXT_FIELDS))
    with psycopg.connect(settings.pg_conninfo()) as conn:
        conn.execute(SQL("INSERT INTO {}.event_context (originator_id, originator_version, {},"
                         " outgoing) SELECT originator_id, originator_version, {}, outgoing"
                         " FROM {}.{} WHERE originator_id = %s").format(
                             s, columns, columns, s, table), (probe.id,))
        conn.execute(SQL("UPDATE {}.{} SET outgoing = NULL, {} WHERE originator_id = %s")
                     .format(s, table, SQL(", ").join(
                         SQL("{} = NULL").format(Identifier(n)) for n in CONTEXT_FIELDS)),
                     (probe.id,))


def _as_version(settings, app: Application, probe: Probe, encode) -> None:
    """Rewrite an event's stored messages in an older version of the outbox bytes."""
    s, table = Identifier(settings.schema), Identifier(app.recorder.events_table_name)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        for version, data in conn.execute(SQL("SELECT originator_version, outgoing FROM {}.{}"
                                              " WHERE originator_id = %s").format(s, table),
                                          (probe.id,)).fetchall():
            assert data[0] == 3
            conn.execute(SQL("UPDATE {}.{} SET outgoing = %s WHERE originator_id = %s AND"
                             " originator_version = %s").format(s, table),
                         (encode(decode_records(data)), probe.id, version))


def _contexts_in_rows(settings, app: Application) -> int:
    """How many contexts event_context holds (none for events stored since session 8)."""
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        return conn.execute(SQL("SELECT count(*) FROM {}.event_context").format(
            Identifier(settings.schema))).fetchone()[0]


async def test_messages_encoded_at_commit_are_sent_as_translated_and_in_order(settings):
    topic = settings.topic("probe.at-commit")
    await ensure_topics(settings, {topic: 6})
    app = Application(env=application_env(settings))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    committer = GroupCommitter(app, service=f"probe-{settings.schema}")
    relay = OutboxRelay(settings=settings, app=app, pool=pool, translate=translate_to(topic),
                        committer=committer)
    try:
        probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(30)]
        await asyncio.gather(*[committer.save_async(p, context=EventContext(
            ticket_id=p.ticket_id, trace_id="ab" * 16)) for p in probes])
        for p in probes[:10]:
            p.accept()
        await asyncio.gather(*[committer.save_async(p, context=EventContext(
            ticket_id=p.ticket_id, trace_id="ab" * 16)) for p in probes[:10]])
        stored = _outgoing(settings, app)
        assert len(stored) == 40 and all(stored)  # every event's messages, at commit
        # saved without the committer: the relay translates it when it sends
        late = Probe(ticket_id=str(uuid.uuid4()))
        app.save(late, context=EventContext(ticket_id=late.ticket_id))
        assert _outgoing(settings, app).count(None) == 1
        older = Probe(ticket_id=str(uuid.uuid4()))  # its context in event_context, no bytes
        app.save(older, context=EventContext(ticket_id=older.ticket_id, trace_id="cd" * 16))
        assert _contexts_in_rows(settings, app) == 0  # one row an event
        _as_stored_before(settings, app, probes[1])  # still sent from where it was stored
        _as_version(settings, app, probes[2], _encode_v2)  # rows stored before version 3
        _as_version(settings, app, probes[3], _encode_v1)
        _as_stored_before(settings, app, older)  # translated with the context stored before

        sent = 0
        while (got := await relay.run_once()) > 0:
            sent += got
        assert sent == 42
    finally:
        await relay._drop_producer()
        committer.close()
        pool.close()

    records = await read_all(settings, topic, 42)
    assert len(records) == 42
    now_ms = time.time() * 1000  # each batch's records take the time it was built
    assert all(now_ms - 120_000 < r.timestamp <= now_ms + 1000 for r in records)
    by_ticket: dict[str, list[str]] = {}
    partitioner = DefaultPartitioner()
    for r in records:
        d = events.decode(r.value)
        parts = list(range(6))
        assert r.partition == partitioner(r.key, parts, parts)  # the default partitioner's
        assert events.header(r.headers, "event_id") == d.event_id
        assert events.header(r.headers, "event_type") == "TicketAccepted"
        assert events.header(r.headers, "occurred_at_us") is not None
        by_ticket.setdefault(d.ticket_id, []).append(d.payload.flags[0])
    for p in probes[:10]:
        assert by_ticket[p.ticket_id] == ["opened", "accepted"]  # one ticket's order kept
    assert by_ticket[late.ticket_id] == by_ticket[older.ticket_id] == ["opened"]
    old_row = next(events.decode(r.value) for r in records
                   if events.decode(r.value).ticket_id == older.ticket_id)
    assert old_row.envelope.trace_id == "cd" * 16  # the context read from event_context
    # the bytes are those the relay would have made at send time (deterministic ids)
    first = next(r for r in records if events.decode(r.value).ticket_id == probes[0].ticket_id)
    again = translate_to(topic)(Publication(
        app.mapper.to_domain_event(app.recorder.select_events(probes[0].id, limit=1)[0]), 0,
        EventContext(ticket_id=probes[0].ticket_id, trace_id="ab" * 16), "intake"))
    assert again[0].envelope.SerializeToString() == first.value


def test_the_encoding_round_trips_and_refuses_what_it_does_not_know():
    from backbone.key_hashes import murmur2
    from backbone.record_batches import record_body
    from backbone.relay import prepared_records

    records = [("a.topic", b"key-1", b"\x00value" * 50,
                [("event_type", b"X"), ("traceparent", b"00-" + b"a" * 50)], murmur2(b"key-1")),
               ("\u5de5\u5355", b"", b"", [], murmur2(b""))]
    prepared = [(t, h, record_body(k, v, hs)) for t, k, v, hs, h in records]
    encoded = encode_records(records)
    assert encoded[0] == 3
    assert decode_records(encoded) == records
    assert prepared_records(encoded) == prepared
    # rows stored before version 3 (version 2: marshalled fields; version 1: the fields packed
    # one by one) are still read, and sent as the same records
    for older in (_encode_v2(records), _encode_v1(records)):
        assert decode_records(older) == records
        assert prepared_records(older) == prepared
    assert _encode_v2(records)[0] == 2
    with pytest.raises(ValueError):
        decode_records(b"\x04" + encoded[1:])
    with pytest.raises(ValueError):
        decode_records(_encode_v1(records) + b"x")
    with pytest.raises(ValueError):  # version 2 that is not a list of messages
        decode_records(b"\x02" + marshal.dumps({"not": "messages"}, 4))
    with pytest.raises(ValueError):  # nor version 3
        prepared_records(b"\x03" + marshal.dumps([("t", 1, "not bytes")], 4))


def test_a_schema_made_before_the_column_gets_it(infra, unique):
    settings = infra.model_copy(update={"service": "intake", "pg_schema": f"t_{unique}old"})
    s = Identifier(settings.schema)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(s))
        conn.execute(SQL(  # the table as it was made before the column existed
            "CREATE TABLE {}.event_context (originator_id uuid NOT NULL, originator_version"
            " bigint NOT NULL, ticket_id text NOT NULL, ticket_code text NOT NULL, trace_id"
            " text NOT NULL, causation_id text NOT NULL, actor_role text NOT NULL, actor_id"
            " text NOT NULL, actor_unit text NOT NULL,"
            " PRIMARY KEY (originator_id, originator_version))").format(s))
        conn.execute(SQL("INSERT INTO {}.event_context VALUES (%s, 1, 't', 'c', '', '',"
                         " 'system', '', '')").format(s), (uuid.uuid4(),))
    ensure_database(settings)
    ensure_database(settings)  # again: nothing to do
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        rows = conn.execute(SQL("SELECT ticket_id, outgoing FROM {}.event_context")
                            .format(s)).fetchall()
    assert rows == [("t", None)]


def test_an_events_table_made_before_the_column_gets_it(settings):
    """The events' own `outgoing` column is added to a table made before it (the relay's
    read names it), and made once only."""
    app = Application(env=application_env(settings))
    s, table = Identifier(settings.schema), Identifier(app.recorder.events_table_name)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("ALTER TABLE {}.{} DROP COLUMN outgoing").format(s, table))
    Application(env=application_env(settings))  # a service starting on the old table
    Application(env=application_env(settings))  # and again: nothing to do
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        found = conn.execute("SELECT count(*) FROM information_schema.columns WHERE"
                             " table_schema = %s AND table_name = %s AND column_name ="
                             " 'outgoing'", (settings.schema, app.recorder.events_table_name)
                             ).fetchone()
    assert found == (1,)


def test_an_events_table_made_before_the_context_columns_gets_them(settings):
    """The context's seven columns are added to an events table made before them (old data
    folders), once only; the rows already there keep NULL (their contexts are in
    event_context)."""
    app = Application(env=application_env(settings))
    old = Probe(ticket_id=str(uuid.uuid4()))
    app.save(old, context=EventContext(ticket_id=old.ticket_id))
    s, table = Identifier(settings.schema), Identifier(app.recorder.events_table_name)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("ALTER TABLE {}.{} {}").format(s, table, SQL(", ").join(
            SQL("DROP COLUMN {}").format(Identifier(n)) for n in CONTEXT_FIELDS)))
    Application(env=application_env(settings))  # a service starting on the old table
    Application(env=application_env(settings))  # and again: nothing to do
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        found = conn.execute("SELECT count(*) FROM information_schema.columns WHERE"
                             " table_schema = %s AND table_name = %s AND column_name ="
                             " ANY(%s)", (settings.schema, app.recorder.events_table_name,
                                          list(CONTEXT_FIELDS))).fetchone()
        kept = conn.execute(SQL("SELECT ticket_id FROM {}.{}").format(s, table)).fetchall()
    assert found == (7,) and kept == [(None,)]


def test_audit_reads_contexts_from_the_row_and_from_event_context(settings):
    """Audit's reconciliation (services/audit/application/origins.py) sees each event's
    context wherever it was stored: in the event's row, in event_context (rows stored before),
    or nowhere (the empty context); also on an events table no newer service has started on."""
    from services.audit.application.origins import stored_publications

    app = Application(env=application_env(settings))
    new, before, bare = (Probe(ticket_id=str(uuid.uuid4())) for _ in range(3))
    app.save(new, context=EventContext(ticket_id=new.ticket_id, ticket_code="FY-NEW",
                                       actor_role="citizen", actor_id="p-1"))
    app.save(before, context=EventContext(ticket_id=before.ticket_id, ticket_code="FY-OLD",
                                          actor_unit="U1"))
    app.save(bare)
    _as_stored_before(settings, app, before)
    expected = {new.id: EventContext(ticket_id=new.ticket_id, ticket_code="FY-NEW",
                                     actor_role="citizen", actor_id="p-1"),
                before.id: EventContext(ticket_id=before.ticket_id, ticket_code="FY-OLD",
                                        actor_unit="U1"),
                bare.id: EventContext()}
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        seen = {p.event.originator_id: p.context
                for p in stored_publications(app, conn, settings.schema, "intake")}
        assert seen == expected
        s, table = Identifier(settings.schema), Identifier(app.recorder.events_table_name)
        conn.execute(SQL("DELETE FROM {}.{} WHERE originator_id <> %s").format(s, table),
                     (before.id,))
        conn.execute(SQL("ALTER TABLE {}.{} {}").format(s, table, SQL(", ").join(
            SQL("DROP COLUMN {}").format(Identifier(n)) for n in CONTEXT_FIELDS)))
        seen = {p.event.originator_id: p.context
                for p in stored_publications(app, conn, settings.schema, "intake")}
        assert seen == {before.id: expected[before.id]}


def test_keys_hashed_together_as_one_by_one():
    """murmur2_many (a batch's new keys at once) gives murmur2's results, which are
    aiokafka's default partitioner's; key_hashes mixes lengths, repeats and known keys."""
    import os

    from aiokafka.partitioner import murmur2 as kafkas

    from backbone.key_hashes import key_hashes, murmur2, murmur2_many

    for length in (0, 1, 2, 3, 4, 5, 7, 8, 36, 37, 255, 300):
        keys = [os.urandom(length) for _ in range(9)]
        assert murmur2_many(keys) == [murmur2(k) for k in keys] == [kafkas(k) for k in keys]
    tickets = [str(uuid.uuid4()).encode() for _ in range(200)]
    assert murmur2_many(tickets) == [kafkas(k) for k in tickets]
    mixed = tickets[:50] + [b"", b"ab"] + tickets[:3] + [os.urandom(5) for _ in range(12)]
    assert key_hashes(mixed) == [kafkas(k) for k in mixed]
    assert key_hashes([]) == []
    with pytest.raises(ValueError):
        murmur2_many([b"abcd", b"abc"])
