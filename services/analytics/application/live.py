"""The live KPI state: the in-memory model follows the facts table.

The consumer writes facts to PostgreSQL in the same transaction as its progress (exactly
once); this loop reads what has committed and folds it into `LiveKpis`. At start it reads the
whole table page by page through the same fold (the rebuild of the in-memory state, in bounded
memory: LiveKpis keeps the facts of the tickets refolded last only), so a restart loses
nothing. Every replica reads every fact, so each one can answer for the whole city whichever
partitions it consumes.
It reads when a commit that wrote facts announces itself (`news`: the consumer's NOTIFY, from
any replica; the grace window's late commits announce themselves too), not on a timer.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge

from backbone.clock import Clock
from backbone.wakeup import QUIET_FALLBACK_S, CommitNews
from services.analytics.adapters.fact_store import FactTail
from services.analytics.domain.fold import LiveKpis

log = logging.getLogger(__name__)

FACTS = Gauge("minsheng_analytics_facts", "Facts folded into the live KPI model")


class LiveState:
    def __init__(self, kpis: LiveKpis, tail: FactTail, clock: Clock, poll_s: float = 0.25,
                 news: CommitNews | None = None, fallback_s: float = QUIET_FALLBACK_S):
        """`news`: commits of facts; without it the loop polls every `poll_s` (also while
        LISTEN is not possible)."""
        self.kpis = kpis
        self.tail = tail
        self.clock = clock
        self.poll_s = poll_s
        self.news = news
        self.fallback_s = fallback_s
        self.loaded = False  # the whole table has been read once

    def catch_up(self) -> int:
        """Fold what has committed since the last call (blocking; run in a thread)."""
        applied = 0
        while True:
            # the tickets let go come back with their facts folded before (one query a read)
            facts = self.tail.read(self.kpis.knows, self.kpis.away)
            applied += self.kpis.apply(facts, self.tail.earlier)
            if self.kpis.latest is not None:
                self.clock.observe(self.kpis.latest)  # event-time watermark
            if self.tail.caught_up:
                break
        FACTS.set(self.kpis.fact_count)
        self.loaded = True
        return applied

    async def run(self, stop: asyncio.Event) -> None:
        if self.news is not None:
            await self.news.listen()
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.catch_up)
                except Exception:
                    log.exception("could not read new facts; retrying")
                    await asyncio.sleep(1.0)
                await self._wait(stop)
        finally:
            if self.news is not None:
                await self.news.close()

    async def _wait(self, stop: asyncio.Event) -> None:
        if self.news is not None:
            await self.news.wait(stop, fallback_s=self.fallback_s, poll_s=self.poll_s)
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
        except TimeoutError:
            pass

    async def ready(self) -> tuple[bool, str]:
        if not self.loaded:
            return False, "loading facts"
        return True, f"{self.kpis.fact_count} facts"
