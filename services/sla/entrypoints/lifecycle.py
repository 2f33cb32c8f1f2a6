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
from backbone.consumer import Handlers, IdempotentConsumer, routing_gather
from services.sla.adapters import watermark

log = logging.getLogger(__name__)

CONSUMER_NAME = "sla-lifecycle"


class SlaConsumer(IdempotentConsumer):
    """The backbone's consumer, serialised with timers and commands by ``lock``, and
    remembering, after each applied batch, the upstream event time reached per partition."""

    def __init__(self, *, lock: threading.Lock, **kwargs: Any):
        super().__init__(**kwargs)
        self.lock = lock

    def apply(self, records: list[ConsumerRecord]) -> None:
        # The times are recorded under the lock too: a timer round then never sees a clock
        # without the partition time it was committed with. Only the event clock reads them
        # (entrypoints/timers.py: TimeSource); on the wall clock they were a transaction of
        # their own per batch, an eighth of the consumer's CPU, for nobody.
        with self.lock:
            super().apply(records)
            if self.event_time:
                self._record_times(records)

    def _skip_unread(self, records: list[ConsumerRecord]) -> bool:
        # on the event clock every batch goes through `apply`: its times move the watermark
        return not self.event_time and super()._skip_unread(records)

    @property
    def event_time(self) -> bool:
        return getattr(self.settings, "clock", "wall") == "event"

    def _record_times(self, records: list[ConsumerRecord]) -> None:
        times: watermark.PartitionTimes = {}
        for r in records:
            producer, at = _producer_and_time(r)
            if at is None or producer == self.settings.service:
                continue  # our own events carry timer instants, not the upstream's progress
            key = (r.topic, r.partition)
            if key not in times or at > times[key]:
                times[key] = at
        with self.pool.connection() as conn:
            watermark.record_times(conn, self.schema, times)


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
                       gather=routing_gather(settings))
