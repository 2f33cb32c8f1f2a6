"""The unrated timer: replies whose rating window has passed are recorded unrated and closed.

Runs on `clock.now()`: wall time in production; in MINSHENG_CLOCK=event mode the watermark of
consumed event times, so a simulated month closes its windows as the month's events pass.
Missed while the service was down? The read model still lists them, so they fire on restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from backbone.clock import Clock
from backbone.ownership import PartitionOwnership
from services.feedback.application.judging import Judging

log = logging.getLogger(__name__)


def unrated_timer(judging: Judging, clock: Clock, interval_s: float,
                  ownership: PartitionOwnership | None = None
                  ) -> Callable[[asyncio.Event], Awaitable[None]]:
    """``ownership``: fire only for the tickets of the partitions this replica's lifecycle
    consumer holds, so N replicas fire each window once; None: every ticket."""
    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                owns = ownership.filter() if ownership is not None else None
                closed = await asyncio.to_thread(judging.mark_overdue_unrated, clock.now(),
                                                 owns)
                if closed:
                    log.info("recorded %d replies as unrated", closed)
            except Exception:
                log.exception("unrated timer round failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass

    run.__qualname__ = "unrated_timer"
    return run
