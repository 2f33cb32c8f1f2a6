"""The append's columns, sent as binary arrays (adapters/ledger_arrays.py), are stored as the
values they were: times to the microsecond (aware, naive and missing), integers, texts, bytes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import psycopg

from backbone.store import ensure_database
from services.audit.adapters.ledger_store import Message, append_batch
from services.audit.bootstrap import build_parts
from tests.integration.audit.conftest import audit_settings


def test_every_column_is_stored_as_it_was_sent(infra, unique, tmp_path):
    settings = audit_settings(infra, unique, tmp_path)
    ensure_database(settings)
    parts = build_parts(settings, pool_size=1)
    try:
        times = [datetime(2023, 11, 23, 8, 0, 0, 123456, tzinfo=UTC),
                 datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=8))),
                 None, datetime(2026, 12, 6, tzinfo=UTC)]
        messages = [Message(topic=f"t{unique}", partition=i, offset=2**40 + i,
                            raw=bytes([i]) * (i * 100), event_id=str(uuid.uuid4()),
                            ticket_id=f"ticket-{i % 2}", ticket_code=["", "FY-1", "颍州", "x"][i],
                            event_type="TicketAccepted", producer="dispatch", occurred_at=when)
                    for i, when in enumerate(times)]
        with parts.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            entries = append_batch(cur, settings.schema, messages)
            # naive: psycopg's own dumping (the session's time zone decides), as before
            naive = Message(**{**messages[0].__dict__, "event_id": str(uuid.uuid4()),
                               "occurred_at": datetime(2023, 1, 1, 12)})
            append_batch(cur, settings.schema, [naive])
        with psycopg.connect(settings.pg_conninfo()) as conn:
            rows = conn.execute(
                f'SELECT ledger_seq, event_id, topic, partition, "offset", ticket_id, ticket_code,'
                f' ticket_seq, event_type, producer, occurred_at, event, prev_hash, entry_hash'
                f' FROM "{settings.schema}".ledger ORDER BY ledger_seq').fetchall()
            naive_stored = conn.execute(
                f"SELECT occurred_at = %s::timestamp::timestamptz"
                f' FROM "{settings.schema}".ledger WHERE ledger_seq = 4',
                (datetime(2023, 1, 1, 12),)).fetchone()[0]
        assert naive_stored
        assert len(rows) == 5
        for m, e, row in zip(messages, entries, rows, strict=False):
            assert row == (e.ledger_seq, m.event_id, m.topic, m.partition, m.offset, m.ticket_id,
                           m.ticket_code, e.ticket_seq, m.event_type, m.producer, row[10],
                           m.raw, e.prev_hash, e.entry_hash)
            assert row[10] == m.occurred_at  # aware datetimes compare as instants
        assert [r[7] for r in rows[:4]] == [1, 1, 2, 2]  # two chains
    finally:
        parts.pool.close()


def test_the_append_unnests_in_the_select_list_in_order(infra, unique, tmp_path):
    """The append's write unnests its arrays in the select list (ProjectSet: a row at a time,
    in the arrays' order), not `FROM unnest(a, b, ...)` (a function scan that first copies
    each array into a tuplestore of its own, session 24); batches with copies of kept and of
    earlier messages store the entries, chains and Merkle nodes the in-memory ledger makes, the
    rows laid down in ledger order."""
    from psycopg.sql import SQL, Identifier

    from services.audit.adapters import ledger_arrays as arrays
    from services.audit.adapters.ledger_store import _append_write
    from services.audit.domain.chain import InMemoryLedger

    settings = audit_settings(infra, unique, tmp_path)
    ensure_database(settings)
    parts = build_parts(settings, pool_size=1)
    s = Identifier(settings.schema)
    try:
        messages = [Message(topic="lifecycle", partition=i % 3, offset=i, raw=bytes([i]) * (i + 1),
                            event_id=f"e{i}", ticket_id=f"ticket-{i % 5}",
                            ticket_code=f"FY-{i % 5}", event_type="TicketAccepted",
                            producer="dispatch", occurred_at=None) for i in range(40)]
        batches = [messages[:17], [messages[17], messages[3]], [*messages[18:27], messages[20]],
                   [messages[1]], messages[27:]]
        with parts.pool.connection() as conn, conn.cursor(binary=True) as cur:
            ints, texts, byteas = arrays.int8s([1, 2]), arrays.texts(["a", "b"]), arrays.byteas(
                [b"x", b"y"])
            plan = "\n".join(r[0] for r in cur.execute(
                b"EXPLAIN " + _append_write(settings.schema),
                [ints, texts, texts, ints, ints, texts, texts, ints, texts, texts,
                 arrays.timestamptzs([None, None]), byteas, byteas, byteas, ints, ints, byteas]
                ).fetchall())
            conn.rollback()
            assert plan.count("ProjectSet") == 2 and "Function Scan" not in plan, plan
            for batch in batches:
                with conn.transaction():
                    append_batch(cur, settings.schema, batch)
        reference = InMemoryLedger()
        for m in messages:
            reference.record(topic=m.topic, partition=m.partition, offset=m.offset,
                             ticket_id=m.ticket_id, event=m.raw)
        with psycopg.connect(settings.pg_conninfo()) as conn:
            rows = conn.execute(SQL(
                "SELECT ledger_seq, event_id, ticket_id, ticket_seq, event, prev_hash, entry_hash"
                " FROM {}.ledger ORDER BY ctid").format(s)).fetchall()  # the heap's order
            nodes = conn.execute(SQL("SELECT level, idx, hash FROM {}.merkle_node")
                                 .format(s)).fetchall()
        assert [r[0] for r in rows] == list(range(40))
        assert [r[1] for r in rows] == [m.event_id for m in messages]
        assert [(r[0], r[2], r[3], r[4], r[5], r[6]) for r in rows] == [
            (e.ledger_seq, e.ticket_id, e.ticket_seq, e.event, e.prev_hash, e.entry_hash)
            for e in reference.entries]
        assert {(lv, idx): h for lv, idx, h in nodes} == reference.tree.store._nodes
    finally:
        parts.pool.close()
