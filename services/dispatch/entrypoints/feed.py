"""Live assignment changes for the department systems' StreamAssignments.

One loop per process follows the application's notification log (the same gap-free,
in-order log the outbox relay publishes: eventsourcing inserts under a table lock, so ids
become visible in order and a reader never skips a slower transaction), looks up the
assignment rows of the tickets that changed, and hands each row to the streams of its unit.
So a stream sees changes made by every replica, not only its own process.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from typing import Any

from eventsourcing.application import Application

from services.dispatch.adapters.readmodel import ReadModel

log = logging.getLogger(__name__)

_DISPATCH_TOPICS = ("DispatchRecord.", "TicketDispatch.")


class AssignmentFeed:
    def __init__(self, app: Application, readmodel: ReadModel, *, interval_s: float = 0.2,
                 batch: int = 500) -> None:
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

    def _read(self) -> tuple[list[dict[str, Any]], int]:
        assert self.position is not None
        notes = self.app.recorder.select_notifications(
            start=self.position, limit=self.batch, inclusive_of_start=False)
        if not notes:
            return [], self.position
        changed: list[uuid.UUID] = list(dict.fromkeys(
            n.originator_id for n in notes if any(t in n.topic for t in _DISPATCH_TOPICS)))
        return self.readmodel.changed_assignments(changed), notes[-1].id

    async def run(self, stop: asyncio.Event) -> None:
        if self.position is None:
            self.position = await asyncio.to_thread(
                lambda: self.app.recorder.max_notification_id() or 0)
        while not stop.is_set():
            try:
                rows, self.position = await asyncio.to_thread(self._read)
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
            if not rows:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
                except TimeoutError:
                    pass
