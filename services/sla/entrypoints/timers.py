"""The timer loop: fires what is due at ``now`` (the event-time watermark, or wall time held
back by the facts not read yet).

Each round: pick up schedules other replicas loaded, work out ``now``, and fire, ticket by
ticket in order of the earliest instant owed, everything due by then (``Desk.fire_due``).
Between rounds the loop sleeps until the earliest instant anything is owed (wall time), or
until the lifecycle consumer commits a batch (``wake``: new clocks, a new watermark),
whichever comes first; a slow fallback covers changes made elsewhere (another replica's
commands, a schedule loaded there). An idle service does not poll.

On the wall clock ``now`` is wall time minus the grace, capped by the upstream time reached
in each lifecycle partition this replica holds that still has unread messages
(watermark.wall_bound): a transfer, reply or close dated before a deadline but still unread
(a backlog after an outage, a slow consumer) is applied before the deadline can fire. When
that cannot be known (the broker does not answer the end offsets, a lagging partition has no
recorded time yet) the timers hold, and say so: ``minsheng_sla_timer_held_seconds`` and a
warning each minute a hold lasts past HOLD_WARN_S (docs/sla.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge
from psycopg_pool import ConnectionPool

from backbone.kafka import client_options
from backbone.ownership import PartitionOwnership
from backbone.store import autocommit
from backbone.wakeup import Nudge
from services.sla.adapters import readmodel, watermark
from services.sla.application.desk import Desk
from services.sla.application.gate import FactsPendingError
from services.sla.application.schedules import Schedules
from services.sla.entrypoints.lifecycle import CONSUMER_NAME
from services.sla.settings import SlaSettings

log = logging.getLogger(__name__)

FIRED = Counter("minsheng_sla_timer_fired_total", "Warnings, overdue and escalations fired")
WATERMARK = Gauge("minsheng_sla_timer_now_seconds", "The instant the timers fire up to")
HELD = Gauge("minsheng_sla_timer_held_seconds",
             "Wall clock: how long the earliest instant owed has been held back (unread facts"
             " in a lagging partition, end offsets unknown); 0 when nothing owed is held")

HOLD_WARN_S = 60.0  # a hold longer than this is logged (a warning a minute while it lasts)
ENDS_TIMEOUT_S = 10.0  # wall clock: the end offsets not answered by then: hold, ask next round


class TimeSource:
    """``now`` for timers and views: the event-time watermark, or wall time held back by
    unread facts (module docstring)."""

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
        # wall clock: the lifecycle partitions this replica holds (TimerLoop sets it each
        # round; None: every partition), whose lag bounds its timers
        self.owned: frozenset[int] | None = None
        # and the tickets it fires (the same snapshot): a hold is reported for its own
        # tickets only (None: every ticket)
        self.owns: Callable[[str], bool] | None = None
        # wall clock: how long the earliest instant owed has been held back, and why
        self.held_s = 0.0
        self.hold_reason = ""
        self._held_since: float | None = None  # monotonic, when the present hold began
        self._warned_at = 0.0
        # wall clock: the earliest instant owed, as the last ``now`` read it (after the
        # round's firing: TimerLoop's sleep; None: nothing owed, or not read yet)
        self.next_due: dt.datetime | None = None
        self.read_due = False

    def current(self) -> dt.datetime | None:
        """The views' ``now`` (due-soon lists, commands' time on the event clock): wall time,
        not the timers' bound (a list is about now; a held deadline is fired once its
        partition is read), or the watermark."""
        if not self.event_time:
            return dt.datetime.now(dt.UTC)
        return self.last

    async def prepare(self) -> None:
        """Fetches what ``now`` needs from the broker (the partitions' end offsets), when it
        needs them: none known yet (event clock), or ``now`` found a timer could fire
        (``stale``). The bound reckoned with the ends last asked for is never earlier than
        the one with the ends now (watermark.could_fire), so a round in which nothing is owed
        by it fires nothing whatever the ends are, and does not ask the broker (it asked every
        round, a ListOffsets request ~3/s while events flowed); that watermark is the views'
        ``now``. On the wall clock a round asks only when something is owed by wall time, and
        a broker that does not answer holds the timers (``now`` is None) instead of failing
        the round."""
        self._fresh = False
        if self.event_time:
            if self._ends is None or self.stale:
                self._ends = await self.ends.fetch()
                self._fresh = True
        elif self.stale:
            self._fresh = True
            self._ends, error = await self._wall_ends()
            self.hold_reason = ("end offsets unknown: " + (f"{type(error).__name__} {error}"
                                if error else "the topic's partitions not known yet"))
        self.stale = False

    async def _wall_ends(self) -> tuple[dict[tuple[str, int], int] | None, Exception | None]:
        """Wall clock: the lifecycle partitions' end offsets (None: the topic's partitions
        not known yet), or None and the broker's error (down, or silent for ENDS_TIMEOUT_S):
        the caller holds, it does not fail."""
        try:
            return await asyncio.wait_for(self.ends.fetch(), ENDS_TIMEOUT_S), None
        except Exception as exc:
            log.debug("end offsets of %s not fetched", self.settings.lifecycle_topic,
                      exc_info=True)
            return None, exc

    def now(self) -> dt.datetime | None:
        """Called under the service lock, so no batch commits between reading the clocks and
        reading the partition times they were committed with."""
        if not self.event_time:
            return self._wall_now()
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

    def _wall_now(self) -> dt.datetime | None:
        """Wall time minus the grace, capped by the lagging partitions' times
        (watermark.wall_bound); None: hold (nothing fires this round)."""
        wall = self._wall() - dt.timedelta(seconds=self.settings.timer_grace_s)
        with autocommit(self.pool) as conn:  # one statement: one snapshot of both
            times, applied, next_due = watermark.times_and_positions(
                conn, self.settings.schema, CONSUMER_NAME)
        self.read_due = True
        self.next_due = next_due
        if not watermark.could_fire(wall, next_due):
            # nothing owed by wall time: no bound, no broker, and no query for due tickets
            self._held(wall, None, "")
            self.last = wall
            return None
        if self._ends is None:
            if not self._fresh:
                self.stale = True  # something is owed: the round asks the broker
                return None
            self._held(wall, next_due, self.hold_reason)
            return None  # asked, not answered: hold
        bound, why = watermark.wall_bound(wall, times, applied, self._ends, self.owned)
        if not self._fresh and watermark.could_fire(bound, next_due):
            self.stale = True  # fire nothing on old ends: the round asks the broker, again
            return None
        assert next_due is not None
        held: dt.datetime | None = next_due if bound is None or next_due > bound else None
        if self.owns is not None and (bound is None or bound < wall):
            # ``next_due`` is every replica's: another's ticket owed before this bound (its
            # own to fire) hid this replica's held one, and another's owed past it was
            # reported as held here (with another replica's lag, or none)
            held = self._owned_held(bound, wall)
        self._held(wall, held, why)
        if bound is not None:
            self.last = bound
        return bound

    HELD_PAGE = 500

    def _owned_held(self, bound: dt.datetime | None, wall: dt.datetime) -> dt.datetime | None:
        """The earliest instant one of this replica's tickets owes past ``bound`` (None: any)
        and by ``wall``: what its hold holds back (None: nothing of its own)."""
        assert self.owns is not None
        offset = 0
        with autocommit(self.pool) as conn:
            while True:
                rows = readmodel.owed_between(conn, self.settings.schema, bound, wall,
                                              self.HELD_PAGE, offset)
                for ticket_id, at in rows:
                    if self.owns(ticket_id):
                        return at  # type: ignore[no-any-return]
                if len(rows) < self.HELD_PAGE:
                    return None
                offset += self.HELD_PAGE

    @staticmethod
    def _wall() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _held(self, wall: dt.datetime, held: dt.datetime | None, why: str) -> None:
        """Notes a hold of the instant owed ``held`` (None: nothing owed is held) for the
        gauge, and logs one that lasts."""
        if held is None:
            self.held_s = 0.0
            self._held_since = None
            return
        self.held_s = max(0.0, (wall - held).total_seconds())
        mono = time.monotonic()
        if self._held_since is None:
            self._held_since = mono
        if mono - self._held_since > HOLD_WARN_S and mono - self._warned_at > HOLD_WARN_S:
            self._warned_at = mono
            log.warning("sla timers held for %.0f s: what was owed at %s has not fired (%s)",
                        mono - self._held_since, held.isoformat(), why)

    async def command_ends(self) -> dict[tuple[str, int], int]:
        """Wall clock: the end offsets for a command whose ticket owes something by its time
        (application/gate.py); a broker that does not answer refuses the command, retryable,
        as it holds the timer rounds."""
        ends, error = await self._wall_ends()
        why = type(error).__name__ if error else "the topic's partitions not known yet"
        if ends is None:
            raise FactsPendingError("the ticket owes something by now, and how far its events"
                                    f" are read is not known: end offsets unknown ({why})")
        return ends

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
        # the round's last ``now`` read it after the round's firing (a commit since nudges)
        due = (self.time.next_due if self.time.read_due
               else await asyncio.to_thread(self._next_due))
        if due is None:
            return self.fallback_s
        wait = (due - dt.datetime.now(dt.UTC)).total_seconds() + self.settings.timer_grace_s
        return self.fallback_s if wait <= 0 else min(wait + 0.001, self.fallback_s)

    async def run_once(self) -> int:
        await asyncio.to_thread(self.schedules.refresh)
        total = 0
        owns: Callable[[str], bool] | None = None
        self.time.owned = None
        self.time.read_due = False
        if self.ownership is not None:  # one snapshot: the tickets fired, the lag that bounds them
            self.time.owned = self.ownership.owned()
            owns = self.ownership.filter(self.time.owned)
        self.time.owns = owns
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
        HELD.set(self.time.held_s)
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
