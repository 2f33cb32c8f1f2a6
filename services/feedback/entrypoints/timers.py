"""The unrated timer: replies whose rating window has passed are recorded unrated and closed.

Runs on `clock.now()`: wall time in production; in MINSHENG_CLOCK=event mode the watermark of
consumed event times, so a simulated month closes its windows as the month's events pass.
Missed while the service was down? The read model still lists them, so they fire on restart.

Between rounds it sleeps until the earliest open window closes (wall time), or until a
consumer or the projection of feedback's own log commits (``nudge``: a new reply opens a
window; in event mode consumed events move the clock), at most a slow fallback; so an idle
service does not poll. ``interval_s`` is now the least time between two rounds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from backbone.clock import Clock
from backbone.ownership import PartitionOwnership
from backbone.wakeup import Nudge
from services.feedback.application.judging import Judging

log = logging.getLogger(__name__)


FALLBACK_S = 60.0  # wall time: windows close on a known instant, so this is only a backstop
EVENT_FALLBACK_S = 5.0  # event time moves with consumed events, which nudge


def _sleep_s(clock: Clock, next_due: datetime | None) -> float:
    """Until the earliest window closes; something overdue still (another replica's
    ticket, or one that failed) waits the fallback instead of spinning."""
    if clock.is_event_time:
        return EVENT_FALLBACK_S
    if next_due is None:
        return FALLBACK_S
    wait = (next_due - clock.now()).total_seconds()
    return FALLBACK_S if wait < 0 else min(wait + 0.001, FALLBACK_S)


def unrated_timer(judging: Judging, clock: Clock, interval_s: float,
                  ownership: PartitionOwnership | None = None, nudge: Nudge | None = None
                  ) -> Callable[[asyncio.Event], Awaitable[None]]:
    """``ownership``: fire only for the tickets of the partitions this replica's lifecycle
    consumer holds, so N replicas fire each window once; None: every ticket. ``nudge``: set
    when something committed that may open or close a window (None: look every interval)."""
    async def run(stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            sleep_s = interval_s
            try:
                owns = ownership.filter() if ownership is not None else None
                closed = await asyncio.to_thread(judging.mark_overdue_unrated, clock.now(),
                                                 owns)
                if closed:
                    log.info("recorded %d replies as unrated", closed)
                if nudge is not None:
                    due = await asyncio.to_thread(judging.queries.next_rating_due)
                    sleep_s = _sleep_s(clock, due)
            except Exception:
                log.exception("unrated timer round failed; retrying")
            if nudge is not None:
                await nudge.wait(stop, sleep_s)
                sleep_s = interval_s - (loop.time() - started)  # the least time between rounds
            if sleep_s > 0 and not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=sleep_s)
                except TimeoutError:
                    pass

    run.__qualname__ = "unrated_timer"
    return run
