"""The SLA consumer of the lifecycle topic (aggregate mode) and its event-time bookkeeping.

Why not faust here: every timer must fire exactly once with its effects (the clock's event,
the automatic supervision order, the read row) committed in PostgreSQL together with the
consumer's progress. A faust table lives in a Kafka changelog and a faust timer fires per
process on the wall clock; neither commits with our PostgreSQL event store, and neither runs on
event time. So the clocks are eventsourcing aggregates, the timer index is a PostgreSQL
column written with the events, and the timer loop is a plain asyncio task (docs/sla.md).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from aiokafka.structs import ConsumerRecord

from backbone import events
from backbone.consumer import Handlers, IdempotentConsumer, gather
from backbone.store import Progress, Statement
from services.sla.adapters import watermark

log = logging.getLogger(__name__)

CONSUMER_NAME = "sla-lifecycle"


class SlaConsumer(IdempotentConsumer):
    """The backbone's consumer, serialised with timers and commands by ``lock``, and
    recording, with the positions of each commit, the upstream event time reached per
    partition (entrypoints/timers.py, TimeSource: the event clock's watermark, and on the
    wall clock the cap that holds timers back while a partition has unread facts)."""

    def __init__(self, *, lock: threading.Lock, **kwargs: Any):
        super().__init__(**kwargs)
        self.lock = lock
        self._holding = False  # this (apply) thread holds `lock`: a batch's parts re-enter
        # upstream event times of messages read, per partition, by offset, until a commit
        # records positions past them (touched by the event loop between batches and by the
        # apply thread, never at the same time, as the consumer's skipped positions)
        self._times: dict[tuple[str, int], dict[int, Any]] = {}

    def apply(self, records: list[ConsumerRecord]) -> None:
        if self._holding:  # a part of a batch (a poison message split it): lock held
            super().apply(records)
            return
        with self.lock:
            self._holding = True
            try:
                self._note_times(records)
                super().apply(records)
            finally:
                self._holding = False

    def _skip_unread(self, records: list[ConsumerRecord]) -> bool:
        # a batch of types sla does not handle: no thread hop, no transaction; its times
        # ride, with its positions, on the next commit
        if not super()._skip_unread(records):
            return False
        self._note_times(records)
        return True

    def _note_times(self, records: list[ConsumerRecord]) -> None:
        for r in records:
            producer, at = _producer_and_time(r)
            if at is None or producer == self.settings.service:
                continue  # our own events carry timer instants, not the upstream's progress
            self._times.setdefault((r.topic, r.partition), {})[r.offset] = at

    def _reached(self, progress: Progress) -> watermark.PartitionTimes:
        """The latest upstream time per partition among messages the positions cover."""
        times: watermark.PartitionTimes = {}
        for key, offset in progress.offsets.items():
            seen = self._times.get(key)
            if seen:
                covered = [at for o, at in seen.items() if o <= offset]
                if covered:
                    times[key] = max(covered)
        return times

    def _riders(self, progress: Progress) -> list[Statement]:
        """The partition times in the transaction of the positions they belong to (they
        were a transaction of their own after each batch: ~1.2 fsynced commits and ~5
        statements per ticket): a timer never sees a time whose messages are not applied,
        even after a crash between the two."""
        times = self._reached(progress) if self._times else {}
        return [watermark.times_statement(self.schema, times)] if times else []

    def _committed(self, progress: Progress) -> None:
        for key, offset in progress.offsets.items():
            seen = self._times.get(key)
            if seen:
                for o in [o for o in seen if o <= offset]:
                    del seen[o]
                if not seen:
                    del self._times[key]

    async def _seek_to_stored(self, partitions: set[Any]) -> None:
        self._times = {}  # partitions moved: what is read again is noted again
        await super()._seek_to_stored(partitions)


def _producer_and_time(r: ConsumerRecord) -> tuple[str | None, Any]:
    """From the Kafka headers (no decoding); from the envelope for older messages."""
    at = events.header_time(r.headers)
    if at is not None:
        return events.header(r.headers, "producer"), at
    try:
        d = events.decode(r.value)
    except events.EnvelopeError:
        return None, None
    return d.envelope.producer, d.occurred_at


def build_consumer(*, settings: Any, infra: Any, app: Any, handlers: Handlers,
                   lock: threading.Lock) -> SlaConsumer:
    return SlaConsumer(name=CONSUMER_NAME, settings=settings, pool=infra.pool,
                       topics=[settings.lifecycle_topic], handlers=handlers,
                       producer=infra.producer, app=app, lock=lock,
                       gather=gather(settings.sla_gather_ms))
