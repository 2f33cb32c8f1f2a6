"""Live assignment changes for the department systems' StreamAssignments.

One loop per process follows the application's notification log (the same gap-free,
in-order log the outbox relay publishes: eventsourcing inserts under a table lock, so ids
become visible in order and a reader never skips a slower transaction), looks up the
assignment rows of the tickets that changed, and hands each row to the streams of its unit.
So a stream sees changes made by every replica, not only its own process. The loop wakes on
the commits' NOTIFY (backbone.wakeup.CommitNews), not on a timer: an assignment reaches its
streams as soon as it commits, and an idle feed costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from eventsourcing.application import Application

from backbone.wakeup import QUIET_FALLBACK_S, CommitNews
from services.dispatch.adapters.loop_reads import LoopReads

log = logging.getLogger(__name__)


class StreamQueue(asyncio.Queue[dict[str, Any]]):
    """One stream's changes not yet sent. `fell_behind`: a change found it full, so the feed
    let it go (no later change is queued after the gap); the stream sends what was queued,
    then ends with a status that tells the department system to open it again."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.fell_behind = False


class AssignmentFeed:
    def __init__(self, app: Application, reads: LoopReads, *, interval_s: float = 0.2,
                 batch: int = 500, gather_s: float = 0.0, queue_size: int = 10_000) -> None:
        """`interval_s`: how often to look while LISTEN is not possible (with it, every
        `fallback_s`). `gather_s`: at most one read per `gather_s` (MINSHENG_FEED_GATHER_MS):
        under load the commits that come meanwhile share the next read (each commit was one
        read of the log and of the rows it touched); idle, a commit is read at once."""
        self.app = app
        self.reads = reads
        self.interval_s = interval_s
        self.batch = batch
        self.gather_s = gather_s
        self.queue_size = queue_size
        self.subscribers: dict[str, set[StreamQueue]] = defaultdict(set)
        self.position: int | None = None

    def subscribe(self, unit: str) -> StreamQueue:
        queue = StreamQueue(maxsize=self.queue_size)
        self.subscribers[unit].add(queue)
        return queue

    def unsubscribe(self, unit: str, queue: StreamQueue) -> None:
        self.subscribers[unit].discard(queue)

    fallback_s = QUIET_FALLBACK_S

    async def run(self, stop: asyncio.Event) -> None:
        if self.position is None:
            self.position = await self.reads.last_notification()
        news = CommitNews.of_application(self.app)
        await news.listen()
        try:
            await self._follow(stop, news)
        finally:
            await news.close()

    async def _follow(self, stop: asyncio.Event, news: CommitNews) -> None:
        loop = asyncio.get_running_loop()
        last_read = -self.gather_s
        while not stop.is_set():
            more = False
            assert self.position is not None
            wait = last_read + self.gather_s - loop.time()
            if wait > 0:  # read lately: the commits meanwhile share the next read
                await asyncio.sleep(wait)
            last_read = loop.time()
            news.drain()  # this read covers every commit announced so far
            try:
                # on the event loop: one read of the notifications and the rows they touch
                rows, self.position, notes = await self.reads.changes(self.position,
                                                                      self.batch)
                more = notes >= self.batch
            except Exception:
                log.exception("assignment feed round failed; retrying")
                rows = []
                await asyncio.sleep(1.0)
            for row in rows:
                for queue in list(self.subscribers.get(row["unit"], ())):
                    if queue.full():
                        # it would miss this change and stream on as if it had not: it is let
                        # go, and ends (once what it holds is sent) with a status to reopen
                        # (was: a warning here, and the department system never knew)
                        log.warning("an assignment stream of %s fell %d changes behind; it"
                                    " ends after them", row["unit"], queue.qsize())
                        queue.fell_behind = True
                        self.unsubscribe(row["unit"], queue)
                        continue
                    queue.put_nowait(row)
            if not more:
                await news.wait(stop, fallback_s=self.fallback_s, poll_s=self.interval_s)
