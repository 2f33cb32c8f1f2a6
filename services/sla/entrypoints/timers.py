"""The timer loop: fires what is due at ``now`` (wall time, or the event-time watermark).

Each round: pick up schedules other replicas loaded, work out ``now``, and fire, ticket by
ticket in order of the earliest instant owed, everything due by then (``Desk.fire_due``).
Between rounds the loop sleeps until the earliest instant anything is owed (wall time), or
until the lifecycle consumer commits a batch (``wake``: new clocks, and in event-clock mode a
new watermark), whichever comes first; a slow fallback covers changes made elsewhere (another
replica's commands, a schedule loaded there). An idle service does not poll.
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
from backbone.store import autocommit
from backbone.wakeup import Nudge
from services.sla.adapters import readmodel, watermark
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
        self._fresh = False  # the ends were asked for in this round
        # now() met a timer that could fire while the ends were from an earlier round
        self.stale = False

    def current(self) -> dt.datetime | None:
        if not self.event_time:
            return dt.datetime.now(dt.UTC)
        return self.last

    async def prepare(self) -> None:
        """Fetches what ``now`` needs from the broker (the partitions' end offsets), when it
        needs them: none known yet, or ``now`` found a timer could fire (``stale``). The
        watermark reckoned with the ends last asked for is never earlier than the one with the
        ends now (watermark.could_fire), so a round in which nothing is owed by it fires
        nothing whatever the ends are, and does not ask the broker (it asked every round, a
        ListOffsets request ~3/s while events flowed); that watermark is the views' ``now``."""
        self._fresh = False
        if self.event_time and (self._ends is None or self.stale):
            self._ends = await self.ends.fetch()
            self._fresh = True
        self.stale = False

    def now(self) -> dt.datetime | None:
        """Called under the service lock, so no batch commits between reading the clocks and
        reading the partition times they were committed with."""
        if not self.event_time:
            self.last = dt.datetime.now(dt.UTC) - dt.timedelta(
                seconds=self.settings.timer_grace_s)
            return self.last
        if self._ends is None:
            return None  # without the partitions' ends no partition can be known caught up
        with autocommit(self.pool) as conn:  # one statement: one snapshot of both
            times, applied, next_due = watermark.times_and_positions(
                conn, self.settings.schema, CONSUMER_NAME)
        lagging = {tp for tp, end in self._ends.items() if applied.get(tp, 0) < end}
        now = watermark.watermark(times, lagging)
        if not self._fresh and watermark.could_fire(now, next_due):
            self.stale = True  # fire nothing on old ends: the round asks the broker, again
            return None
        self.last = now
        return now

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
        self.nudge = Nudge()

    # the longest sleep between rounds when nothing is due sooner and nothing was committed
    fallback_s = 5.0

    def wake(self) -> None:
        """Something committed that may make a timer due (the lifecycle consumer's batch)."""
        self.nudge.set()

    def _next_due(self) -> dt.datetime | None:
        with autocommit(self.desk.pool) as conn:
            return readmodel.next_due(conn, self.settings.schema)

    async def _sleep_s(self) -> float:
        """How long to sleep: until the earliest instant owed (wall-clock mode), at most the
        fallback. Something due already was not ours to fire (another replica's ticket):
        the fallback, not a spin."""
        if self.time.event_time:
            return self.fallback_s  # event time moves only when the consumer commits
        due = await asyncio.to_thread(self._next_due)
        if due is None:
            return self.fallback_s
        wait = (due - dt.datetime.now(dt.UTC)).total_seconds() + self.settings.timer_grace_s
        return self.fallback_s if wait <= 0 else min(wait + 0.001, self.fallback_s)

    async def run_once(self) -> int:
        await asyncio.to_thread(self.schedules.refresh)
        total = 0
        owns = self.ownership.filter() if self.ownership is not None else None
        for _ in range(2):  # a second time with the ends asked for, if a timer could fire
            await self.time.prepare()
            while True:
                fired = await asyncio.to_thread(self.desk.fire_due, self.time.now,
                                                self.settings.timer_batch, owns)
                total += fired
                if not fired:
                    break
            if not self.time.stale:
                break
        if self.time.last is not None:
            WATERMARK.set(self.time.last.timestamp())
        FIRED.inc(total)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        # rounds at most this often: a busy consumer's commits do not each cost a round
        interval = self.settings.timer_interval_ms / 1000
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            try:
                await self.run_once()
                sleep_s = await self._sleep_s()
            except Exception:
                log.exception("timer round failed; trying again")
                sleep_s = 1.0
            await self.nudge.wait(stop, sleep_s)
            rest = interval - (loop.time() - started)
            if rest > 0 and not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=rest)
                except TimeoutError:
                    pass
