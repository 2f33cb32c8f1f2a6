"""The timer loop: fires what is due at ``now`` (wall time, or the event-time watermark).

Each round: pick up schedules other replicas loaded, work out ``now``, and fire, ticket by
ticket in order of the earliest instant owed, everything due by then (``Desk.fire_due``).
Nothing here sleeps in place of a condition: the loop just looks again every interval.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
from psycopg_pool import ConnectionPool

from backbone.kafka import client_options
from backbone.ownership import PartitionOwnership
from services.sla.adapters import watermark
from services.sla.application.desk import Desk
from services.sla.application.schedules import Schedules
from services.sla.entrypoints.lifecycle import CONSUMER_NAME
from services.sla.settings import SlaSettings

log = logging.getLogger(__name__)

FIRED = Counter("minsheng_sla_timer_fired_total", "Warnings, overdue and escalations fired")
WATERMARK = Gauge("minsheng_sla_timer_now_seconds", "The instant the timers fire up to")


class TimeSource:
    """``now`` for timers and views: wall time, or the event-time watermark."""

    def __init__(self, settings: SlaSettings, pool: ConnectionPool, producer: AIOKafkaProducer):
        self.settings = settings
        self.pool = pool
        self.event_time = settings.clock == "event"
        self.ends = watermark.EndOffsets(client_options(settings), settings.lifecycle_topic,
                                         producer)
        self.last: dt.datetime | None = None
        self._ends: dict[tuple[str, int], int] | None = None

    def current(self) -> dt.datetime | None:
        if not self.event_time:
            return dt.datetime.now(dt.UTC)
        return self.last

    async def prepare(self) -> None:
        """Fetches what ``now`` needs from the broker (the partitions' end offsets)."""
        if self.event_time:
            self._ends = await self.ends.fetch()

    def now(self) -> dt.datetime | None:
        """Called under the service lock, so no batch commits between reading the clocks and
        reading the partition times they were committed with."""
        if not self.event_time:
            self.last = dt.datetime.now(dt.UTC) - dt.timedelta(
                seconds=self.settings.timer_grace_s)
            return self.last
        if self._ends is None:
            return None  # without the partitions' ends no partition can be known caught up
        with self.pool.connection() as conn:
            times = watermark.stored_times(conn, self.settings.schema)
            lagging = watermark.lagging_partitions(conn, self.settings.schema, CONSUMER_NAME,
                                                   self._ends)
        self.last = watermark.watermark(times, lagging)
        return self.last

    async def close(self) -> None:
        await self.ends.close()


class TimerLoop:
    """``ownership``: the replica fires only the tickets of the partitions its lifecycle
    consumer holds (backbone/ownership.py); None fires every ticket (one replica, tests)."""

    def __init__(self, *, settings: SlaSettings, desk: Desk, schedules: Schedules,
                 time: TimeSource, ownership: PartitionOwnership | None = None):
        self.settings = settings
        self.desk = desk
        self.schedules = schedules
        self.time = time
        self.ownership = ownership

    async def run_once(self) -> int:
        await asyncio.to_thread(self.schedules.refresh)
        await self.time.prepare()
        total = 0
        owns = self.ownership.filter() if self.ownership is not None else None
        while True:
            fired = await asyncio.to_thread(self.desk.fire_due, self.time.now,
                                            self.settings.timer_batch, owns)
            total += fired
            if not fired:
                break
        if self.time.last is not None:
            WATERMARK.set(self.time.last.timestamp())
        FIRED.inc(total)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.timer_interval_ms / 1000
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("timer round failed; trying again")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
