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
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.wakeup import QUIET_FALLBACK_S, CommitNews

log = logging.getLogger(__name__)

Apply = Callable[[list[Any], psycopg.Cursor[Any]], None]


class OwnLogProjection:
    def __init__(self, *, app: Application, pool: ConnectionPool, schema: str, name: str,
                 apply: Apply, batch: int = 500, interval_s: float = 0.1,
                 gather_s: float = 0.1, wanted: tuple[str, ...] = ()):
        """`gather_s`: after news of a commit, wait this long before reading, so one round
        projects the commits of that time together (a round per commit was three rounds a
        ticket). `wanted`: the aggregate classes (qualified-name prefixes of the stored
        events' topics) whose events `apply` needs; the others are not decoded (all: empty)."""
        self.app = app
        self.pool = pool
        self.s = Identifier(schema)
        self.name = f"projection:{name}"
        self.apply = apply
        self.batch = batch
        self.interval_s = interval_s
        self.gather_s = gather_s
        self.wanted = tuple(f":{w}." for w in wanted)
        self.after_round: list[Callable[[], None]] = []  # on the loop, after notes were applied
        recorder: Any = app.recorder
        self._select = SQL("SELECT notification_id, originator_id, originator_version, topic,"
                           " state FROM {}.{} WHERE notification_id > %s"
                           " ORDER BY notification_id LIMIT %s").format(
            self.s, Identifier(recorder.events_table_name))
        self._register = SQL("INSERT INTO {}.relay_positions (relay, last_notification_id)"
                             " VALUES (%s, 0) ON CONFLICT DO NOTHING").format(self.s)
        self._position = SQL("SELECT last_notification_id FROM {}.relay_positions"
                             " WHERE relay = %s FOR UPDATE").format(self.s)
        self._advance = SQL("UPDATE {}.relay_positions SET last_notification_id = %s,"
                            " updated_at = now() WHERE relay = %s").format(self.s)
        self._registered = False
        self._loop: asyncio.AbstractEventLoop | None = None  # run()'s, for catch_up's callbacks

    def catch_up(self) -> int:
        """A round now, from a worker thread (a request that needs the projection current):
        the after-round callbacks then run on run()'s loop, as after its own rounds."""
        done = self.run_once()
        if done and self._loop is not None:
            for callback in self.after_round:
                self._loop.call_soon_threadsafe(callback)
        return done

    def run_once(self) -> int:
        """One round, one transaction: the position (locked), the notifications after it and
        the read-model writes, on one connection."""
        with self.pool.connection() as conn, conn.transaction(), \
                conn.cursor(binary=True) as cur:
            if not self._registered:
                cur.execute(self._register, (self.name,))
            row = cur.execute(self._position, (self.name,), prepare=True).fetchone()
            self._registered = True
            start = int(row[0]) if row else 0
            rows = cur.execute(self._select, (start, self.batch), prepare=True).fetchall()
            if not rows:
                return 0
            to_domain_event, wanted = self.app.mapper.to_domain_event, self.wanted
            notes = [to_domain_event(StoredEvent(r[1], r[2], r[3], bytes(r[4]))) for r in rows
                     if not wanted or any(w in r[3] for w in wanted)]
            if notes:
                self.apply(notes, cur)
            cur.execute(self._advance, (rows[-1][0], self.name), prepare=True)
            return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        news = CommitNews.of_application(self.app)  # woken by feedback's commits
        try:
            await news.listen()  # before the first read: a commit in between is not missed
            while not stop.is_set():
                try:
                    done = await asyncio.to_thread(self.run_once)
                except Exception:
                    log.exception("%s failed; retrying", self.name)
                    self._registered = False
                    done = 0
                    await asyncio.sleep(1.0)
                if done:
                    for callback in self.after_round:
                        callback()
                if done < self.batch:
                    await news.wait(stop, fallback_s=QUIET_FALLBACK_S, poll_s=self.interval_s)
                    if self.gather_s > 0 and not stop.is_set():
                        await asyncio.sleep(self.gather_s)
        finally:
            await news.close()
