"""Record batches made from record bodies stored at commit (backbone.record_batches): the
same bytes as aiokafka's own builder writes for the same records, read back by its reader."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from unittest import mock

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from backbone import record_batches
from backbone.record_batches import PreparedBatch, batches, parse_body, record_body


def _message(rng: random.Random) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
    def some(sizes: list[int]) -> bytes:
        return rng.randbytes(rng.choice(sizes))

    key = None if rng.random() < 0.05 else some([0, 5, 36, 200])
    value = None if rng.random() < 0.05 else some([0, 63, 64, 175, 8191, 8192, 20000])
    headers = [(rng.choice(["event_type", "traceparent", "\u5de5\u5355", ""]),
                None if rng.random() < 0.1 else some([0, 5, 55, 64, 70]))
               for _ in range(rng.choice([0, 1, 5]))]
    return key, value, headers


@pytest.mark.parametrize("count", [1, 2, 63, 64, 500, 9000])
def test_a_batch_is_the_bytes_aiokafka_writes(count):
    rng = random.Random(count)
    messages = [_message(rng) for _ in range(count)]
    at = 1_700_000_000_123
    stock = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, 0, 1 << 30)
    for offset, (key, value, headers) in enumerate(messages):
        assert stock.append(offset, at, key, value, headers) is not None
    stock.set_producer_state(1234, 5, 77)
    prepared = PreparedBatch([record_body(*m) for m in messages])
    prepared._set_producer_state(1234, 5, 77)
    with mock.patch.object(record_batches.time, "time", return_value=at / 1000):
        built = bytes(prepared._build())
    assert built == bytes(stock.build())
    assert prepared._build() is prepared._build()  # built once: a retry sends the same bytes
    batch = DefaultRecordBatch(built)
    assert batch.validate_crc()
    read = [(r.key, r.value, [(n, v) for n, v in r.headers]) for r in batch]
    assert read == messages
    assert all(parse_body(record_body(*m)) == m for m in messages)


def test_bodies_are_split_into_batches_under_the_limit():
    bodies = [bytes(300) for _ in range(1000)]
    made = batches(bodies, 16384)
    assert sum(b.record_count() for b in made) == 1000
    assert all(b.size() <= 16384 for b in made)
    assert len(batches(bodies[:10], 16384)) == 1
    huge = batches([bytes(40000), bytes(10)], 16384)  # alone in its batch, as aiokafka allows
    assert [b.record_count() for b in huge] == [1, 1]
    with pytest.raises(ValueError):
        PreparedBatch([])


async def test_a_compressing_producer_is_refused():
    plain = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_batch_size=1 << 20)
    assert record_batches.check_producer(plain) == 1 << 20
    with pytest.raises(ValueError):
        record_batches.check_producer(AIOKafkaProducer(bootstrap_servers="127.0.0.1:1",
                                                       compression_type="gzip"))


def test_an_envelope_of_8_kib_or_more_takes_the_general_path():
    from minsheng.v1 import intake_events_pb2

    from backbone import events

    env = events.make_envelope(payload=intake_events_pb2.TicketAccepted(flags=["x" * 9000]),
                               event_id="e", ticket_id="t", ticket_code="c", producer="intake",
                               occurred_at=datetime.now(UTC), causation_id="", trace_id="ab" * 16)
    events._spans.seed(3)
    value, body = events.kafka_record_body(b"key", env)
    events._spans.seed(3)
    assert body == record_body(b"key", value, events.kafka_headers(env))
    assert len(value) > 9000
