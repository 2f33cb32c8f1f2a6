"""A projection of the service's OWN notification log into its read-model tables.

The consumer's unit of work saves aggregates through eventsourcing, so it cannot also write
a read-model row in that transaction. Instead this loop follows the notification log (the
same log the outbox relay publishes): it reads the notifications after its position, hands
them to `apply` with a cursor, and records the new position in the SAME transaction. So each
stored event is projected exactly once, after a crash too, in notification order. The
position row is locked FOR UPDATE, so two replicas never project the same batch twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.wakeup import QUIET_FALLBACK_S, CommitNews

log = logging.getLogger(__name__)

Apply = Callable[[list[Any], psycopg.Cursor[Any]], None]


class OwnLogProjection:
    def __init__(self, *, app: Application, pool: ConnectionPool, schema: str, name: str,
                 apply: Apply, batch: int = 500, interval_s: float = 0.1):
        self.app = app
        self.pool = pool
        self.s = Identifier(schema)
        self.name = f"projection:{name}"
        self.apply = apply
        self.batch = batch
        self.interval_s = interval_s
        self.after_round: list[Callable[[], None]] = []  # on the loop, after notes were applied

    def run_once(self) -> int:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(SQL("INSERT INTO {}.relay_positions (relay, last_notification_id)"
                            " VALUES (%s, 0) ON CONFLICT DO NOTHING").format(self.s), (self.name,))
            row = cur.execute(SQL("SELECT last_notification_id FROM {}.relay_positions"
                                  " WHERE relay = %s FOR UPDATE").format(self.s),
                              (self.name,)).fetchone()
            start = int(row[0]) if row else 0
            notes = self.app.recorder.select_notifications(
                start=start, limit=self.batch, inclusive_of_start=False)
            if not notes:
                return 0
            self.apply([self.app.mapper.to_domain_event(n) for n in notes], cur)
            cur.execute(SQL("UPDATE {}.relay_positions SET last_notification_id = %s,"
                            " updated_at = now() WHERE relay = %s").format(self.s),
                        (notes[-1].id, self.name))
            return len(notes)

    async def run(self, stop: asyncio.Event) -> None:
        news = CommitNews.of_application(self.app)  # woken by feedback's commits
        try:
            await news.listen()  # before the first read: a commit in between is not missed
            while not stop.is_set():
                try:
                    done = await asyncio.to_thread(self.run_once)
                except Exception:
                    log.exception("%s failed; retrying", self.name)
                    done = 0
                    await asyncio.sleep(1.0)
                if done:
                    for callback in self.after_round:
                        callback()
                if done < self.batch:
                    await news.wait(stop, fallback_s=QUIET_FALLBACK_S, poll_s=self.interval_s)
        finally:
            await news.close()
