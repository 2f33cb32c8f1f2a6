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
import uuid
from collections import defaultdict
from typing import Any

from eventsourcing.application import Application

from backbone.wakeup import QUIET_FALLBACK_S, CommitNews
from services.dispatch.adapters.readmodel import ReadModel

log = logging.getLogger(__name__)

_DISPATCH_TOPICS = ("DispatchRecord.", "TicketDispatch.")


class AssignmentFeed:
    def __init__(self, app: Application, readmodel: ReadModel, *, interval_s: float = 0.2,
                 batch: int = 500) -> None:
        """`interval_s`: how often to look while LISTEN is not possible (with it, every
        `fallback_s`)."""
        self.app = app
        self.readmodel = readmodel
        self.interval_s = interval_s
        self.batch = batch
        self.subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self.position: int | None = None

    def subscribe(self, unit: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10000)
        self.subscribers[unit].add(queue)
        return queue

    def unsubscribe(self, unit: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers[unit].discard(queue)

    fallback_s = QUIET_FALLBACK_S

    def _read(self) -> tuple[list[dict[str, Any]], int, bool]:
        """(changed rows, new position, whether the log may hold more right now)."""
        assert self.position is not None
        notes = self.app.recorder.select_notifications(
            start=self.position, limit=self.batch, inclusive_of_start=False)
        if not notes:
            return [], self.position, False
        changed: list[uuid.UUID] = list(dict.fromkeys(
            n.originator_id for n in notes if any(t in n.topic for t in _DISPATCH_TOPICS)))
        rows = self.readmodel.changed_assignments(changed) if changed else []
        return rows, notes[-1].id, len(notes) >= self.batch

    async def run(self, stop: asyncio.Event) -> None:
        if self.position is None:
            self.position = await asyncio.to_thread(
                lambda: self.app.recorder.max_notification_id() or 0)
        news = CommitNews.of_application(self.app)
        await news.listen()
        try:
            await self._follow(stop, news)
        finally:
            await news.close()

    async def _follow(self, stop: asyncio.Event, news: CommitNews) -> None:
        while not stop.is_set():
            more = False
            try:
                rows, self.position, more = await asyncio.to_thread(self._read)
            except Exception:
                log.exception("assignment feed round failed; retrying")
                rows = []
                await asyncio.sleep(1.0)
            for row in rows:
                for queue in list(self.subscribers.get(row["unit"], ())):
                    if queue.full():
                        log.warning("a slow assignment stream of %s misses a change", row["unit"])
                        continue
                    queue.put_nowait(row)
            if not more:
                await news.wait(stop, fallback_s=self.fallback_s, poll_s=self.interval_s)
