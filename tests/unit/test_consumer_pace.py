"""The consumer's loop without Kafka or PostgreSQL: no linger after a gathered fetch (one
before, after a first-byte fetch), and Kafka's offsets mirrored while flowing at most every
MIRROR_EVERY_S, at once when the consumer falls idle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from backbone import consumer as core
from backbone.consumer import Handlers, IdempotentConsumer
from backbone.settings import ServiceSettings

TP = TopicPartition("t", 0)
LINGER_MS = 5


def _record(offset: int) -> ConsumerRecord:
    return ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1,
                          [("event_type", b"TicketAccepted")])


class _Kafka:
    """Hands out `polls` one by one (then nothing), and remembers every getmany and commit."""

    def __init__(self, polls: list[list[ConsumerRecord]], stop: asyncio.Event):
        self.polls = polls
        self.stop = stop
        self.calls: list[int] = []  # timeout_ms of each getmany
        self.commits: list[dict[TopicPartition, int]] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.calls.append(timeout_ms)
        if timeout_ms == LINGER_MS:  # a linger finds nothing more: the next fetch gathers
            return {}
        if self.polls:
            return {TP: self.polls.pop(0)}
        if timeout_ms > 100:  # a poll (not the linger) with nothing left: the run is over
            self.stop.set()
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


def _consumer(gather: tuple[int, int] | None, kafka: _Kafka) -> IdempotentConsumer:
    settings = ServiceSettings(environment="development", consumer_linger_ms=LINGER_MS)
    c = IdempotentConsumer(name="unit", settings=settings, pool=None,  # type: ignore[arg-type]
                           topics=["t"], handlers=Handlers({"TicketAccepted": print}),
                           producer=None, gather=gather)
    c.consumer = kafka  # type: ignore[assignment]
    c.applied: list[int] = []  # type: ignore[misc]

    async def apply(records: list[ConsumerRecord]) -> None:
        c.applied.append(len(records))  # type: ignore[attr-defined]

    c._apply_with_retry = apply  # type: ignore[method-assign]
    c._pace = lambda flowing: setattr(c, "_gathering", flowing and gather is not None)  # type: ignore[method-assign]
    return c


async def test_a_gathered_fetch_is_applied_without_a_linger():
    stop = asyncio.Event()
    kafka = _Kafka([[_record(0)], [_record(1)], [_record(2)]], stop)
    c = _consumer((16 * 1024, 20), kafka)
    await asyncio.wait_for(c._loop(stop), 5)
    assert c.applied == [1, 1, 1]  # type: ignore[attr-defined]
    # the first poll came from a first-byte fetch (idle): one linger after it, none after
    # the gathered ones
    assert kafka.calls.count(LINGER_MS) == 1


async def test_a_consumer_that_does_not_gather_lingers_after_every_short_poll():
    stop = asyncio.Event()
    kafka = _Kafka([[_record(0)], [_record(1)]], stop)
    c = _consumer(None, kafka)
    await asyncio.wait_for(c._loop(stop), 5)
    assert kafka.calls.count(LINGER_MS) == 2


async def test_offsets_are_mirrored_while_flowing_at_most_every_few_seconds_and_when_idle(
        monkeypatch):
    monkeypatch.setattr(core, "MIRROR_EVERY_S", 3600.0)
    stop = asyncio.Event()
    kafka = _Kafka([[_record(0)], [_record(1)], [_record(2)]], stop)
    c = _consumer((16 * 1024, 20), kafka)
    c._mirrored_at = time.monotonic() - 7200
    await asyncio.wait_for(c._loop(stop), 5)
    # the first batch (nothing mirrored yet), then nothing until the consumer fell idle
    assert kafka.commits == [{TP: 1}, {TP: 3}]
