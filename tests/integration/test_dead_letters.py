"""Dead letters are redacted for every consumer (backbone/dead_letters.py): poison messages
carrying a phone number and a name on the real lifecycle topic end up on the real dead-letter
topic as notes (where, ids, size, SHA-256, masked error) that contain neither."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import pytest
from minsheng.v1 import intake_events_pb2
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.consumer import Handlers, IdempotentConsumer
from backbone.kafka import ensure_topics, make_producer
from tests.integration.test_backbone import read_all
from tests.scratch import scratch_settings

pytestmark = pytest.mark.integration

PHONE, NAME = "13812345678", "李建国"


@pytest.fixture
def settings(infra, unique):
    return scratch_settings(infra, unique, service="feedback", prefix="dl")


def envelope(ticket_id: str, producer: str, flag: str) -> bytes:
    env = events.make_envelope(
        payload=intake_events_pb2.TicketAccepted(flags=[flag]), event_id=str(uuid.uuid4()),
        ticket_id=ticket_id, ticket_code="FY-261205-00042-K", producer="intake",
        occurred_at=events.utcnow())
    env.producer = producer
    return env.SerializeToString()


async def test_poison_with_personal_data_is_dead_lettered_without_it(settings, unique):
    topic = settings.lifecycle_topic
    await ensure_topics(settings, {topic: 1, settings.dead_letter_topic: 1})
    forged_ticket, failing_ticket = str(uuid.uuid4()), str(uuid.uuid4())
    poison = {
        "garbage": f"\x00{NAME} 电话{PHONE} 人民路12号".encode(),
        # an envelope intake never wrote (dispatch may not emit TicketAccepted), phone inside
        "forged": envelope(forged_ticket, "dispatch", f"call {PHONE}"),
        # a well-formed event whose handler fails with the phone in its error message
        "failing": envelope(failing_ticket, "intake", f"call {PHONE}"),
    }

    def fail(d: events.DecodedEvent, cur: Any, record: Any) -> None:
        if d.ticket_id == failing_ticket:
            raise ValueError(f"cannot reach {NAME} at {PHONE}")

    producer = make_producer(settings)
    await producer.start()
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    consumer = IdempotentConsumer(name=f"dl-{unique}", settings=settings, pool=pool,
                                  topics=[topic], handlers=Handlers({"TicketAccepted": fail}),
                                  producer=producer)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for raw in poison.values():
            await producer.send_and_wait(topic, raw, key=PHONE.encode())
        dead = await read_all(settings, settings.dead_letter_topic, len(poison), timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await producer.stop()
        pool.close()

    assert len(dead) == len(poison)
    for record in dead:
        everything = record.value + b"".join(v for _, v in record.headers) + (record.key or b"")
        assert PHONE.encode() not in everything and NAME.encode() not in everything, everything
        assert "人民路".encode() not in everything
    notes = {json.loads(r.value)["sha256"]: json.loads(r.value) for r in dead}
    by_kind = {kind: notes[hashlib.sha256(raw).hexdigest()] for kind, raw in poison.items()}
    for kind, raw in poison.items():
        note = by_kind[kind]
        assert note["redacted"] is True and note["topic"] == topic and note["size"] == len(raw)
        assert note["consumer"] == f"dl-{unique}" and isinstance(note["offset"], int)
    assert by_kind["garbage"]["error"].startswith("UndecodableEventError")
    assert "event_type" not in by_kind["garbage"]
    forged = by_kind["forged"]
    assert forged["error"].startswith("WrongProducerError")
    assert forged["event_type"] == "TicketAccepted" and forged["ticket_id"] == forged_ticket
    assert forged["ticket_code"] == "FY-261205-00042-K" and forged["producer"] == "dispatch"
    failing = by_kind["failing"]
    assert failing["ticket_id"] == failing_ticket and "ValueError" in failing["error"]
    assert "138****5678" in failing["error"]  # the reason is kept, masked
