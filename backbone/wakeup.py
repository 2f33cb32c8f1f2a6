"""Wait for news instead of polling: one helper for "until events are committed, `stop` is
set, or a fallback interval passes".

Every transaction that stores events NOTIFYs `outbox_channel(schema)`
(backbone.store.TrackedRecorder); PostgreSQL delivers it at commit, never for a rollback. A
loop that reads a schema's notification log (the outbox relay, a projector of the service's
own log) LISTENs on that channel and wakes as soon as there is something to read; the
fallback interval only bounds how long a lost connection could hide news. A notification that
arrives while the loop is busy waits in the connection, so none is missed; the ones that
piled up are drained at once (one round reads everything they announced).

    news = CommitNews(settings)            # no I/O until the first wait
    while not stop.is_set():
        if not do_a_round():
            await news.wait(stop, fallback_s=2.0)
    await news.close()

`Nudge` is the same thing inside one process: whoever changed what a loop waits for (a
consumer that committed a batch) sets it, and the loop wakes at once instead of at its next
poll.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from backbone.settings import ServiceSettings
from backbone.store import outbox_channel

log = logging.getLogger(__name__)

# How long a loop that LISTENs waits without news before it looks anyway (`fallback_s`). A
# commit's notification reaches every live listener; a connection that is lost wakes the
# waiter (its socket turns readable) and is made again, and the loop reads again right after
# the new LISTEN. What is left is a connection that died without a word (no FIN or RST: a
# partition, a vanished host), which TCP keepalives (below) find in about half a minute. A
# shorter fallback only spends CPU: each look is a thread hop and a read, and at 2 s the
# relays' and projectors' looks were most of an idle service's PostgreSQL round trips.
QUIET_FALLBACK_S = 30.0
KEEPALIVES = "keepalives=1 keepalives_idle=15 keepalives_interval=5 keepalives_count=3"


class CommitNews:
    def __init__(self, settings: ServiceSettings, schema: str | None = None,
                 channel: str | None = None):
        """`channel`: another channel than the schema's outbox (e.g. a SQL-mode consumer's
        `notify_channel`, whose commits store rows, not events)."""
        self.conninfo = settings.pg_conninfo()
        self.channel = channel or outbox_channel(schema or settings.schema)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._retry_at = 0.0

    @classmethod
    def of_application(cls, app: Any) -> CommitNews:
        """News of an eventsourcing application's own commits, from its environment (the
        one `backbone.store.application_env` made)."""
        env = app.env
        news = cls.__new__(cls)
        news.conninfo = make_conninfo(
            host=env.get("POSTGRES_HOST"), port=env.get("POSTGRES_PORT"),
            user=env.get("POSTGRES_USER"), password=env.get("POSTGRES_PASSWORD") or None,
            dbname=env.get("POSTGRES_DBNAME"))
        news.channel = outbox_channel(env.get("POSTGRES_SCHEMA") or "public")
        news._conn = None
        news._retry_at = 0.0
        return news

    async def _listening(self) -> psycopg.AsyncConnection[Any] | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        now = asyncio.get_running_loop().time()
        if now < self._retry_at:
            return None  # PostgreSQL refused a moment ago: poll meanwhile, quietly
        try:
            conn = await psycopg.AsyncConnection.connect(f"{self.conninfo} {KEEPALIVES}",
                                                         autocommit=True)
            await conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
        except psycopg.Error:
            log.warning("cannot LISTEN on %s; polling until it works", self.channel,
                        exc_info=True)
            self._retry_at = now + 5.0
            return None
        self._conn = conn
        return conn

    async def listen(self) -> None:
        """LISTEN now (the first `wait` would otherwise): call it before a loop's first read,
        so that a commit between that read and the first wait is not missed."""
        await self._listening()

    def drain(self) -> None:
        """Forget the news already received, without waiting: call it just before a read
        that will see every commit announced so far (PostgreSQL delivers a notification only
        once its transaction is visible), so that the next `wait` returns only for commits
        after it, not for ones that read already covered. Never before a read that started
        earlier (a read ahead): its snapshot may miss what was drained."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        pgconn = conn.pgconn
        try:
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                pass
        except Exception:
            log.debug("draining the LISTEN connection", exc_info=True)  # `wait` finds out

    async def wait(self, stop: asyncio.Event, fallback_s: float,
                   poll_s: float | None = None) -> bool:
        """Until a commit stores events, `stop` is set, or `fallback_s` passes (`poll_s`
        instead, if given, while LISTEN is not possible). Returns at once when it had to
        LISTEN anew (the first wait without `listen()`, or after a lost connection): a commit
        before that LISTEN was not heard, so the caller reads again first.

        False when the listener's `fallback_s` passed in quiet (no commit was announced);
        True otherwise (news, stopped, a fresh LISTEN, or polling without one)."""
        fresh = self._conn is None or self._conn.closed
        conn = await self._listening()
        if fresh and conn is not None:
            return True
        timeout = fallback_s if conn is not None else (poll_s or fallback_s)
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
        heard = asyncio.ensure_future(self._next(conn, timeout)) if conn is not None else None
        if heard is not None:
            waiters.add(heard)
        try:
            # with a listener, its own timeout ends the wait (cancelling it mid-wait would
            # cost the connection, and a commit in the gap before the next LISTEN)
            await asyncio.wait(waiters, timeout=None if heard is not None else timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if heard is None:
            return True
        if not heard.done() or heard.cancelled():
            await self.close()  # stopped mid-wait: the connection is not reusable
        elif heard.exception() is not None:
            log.warning("LISTEN connection lost; reconnecting", exc_info=heard.exception())
            await self.close()
        else:
            return bool(heard.result())
        return True

    @staticmethod
    async def _next(conn: psycopg.AsyncConnection[Any], timeout: float) -> bool:
        """Until the connection has something to read (a notification), at most `timeout`,
        then drain it. One timer for the whole wait: psycopg's own `notifies(timeout=...)`
        wakes every 100 ms to look for interrupts, ten loop rounds a second per idle
        listener (strace of an idle service: most of its wake-ups). Only this class uses the
        connection, and libpq keeps no notification unread after a drain, so a notification
        that comes at any moment makes the socket readable."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = conn.fileno()
        loop.add_reader(fd, ready)
        try:
            await asyncio.wait({readable}, timeout=timeout)
        finally:
            loop.remove_reader(fd)
        if not readable.done():
            return False
        # what piled up is covered by the next round; a lost connection raises here
        async for _ in conn.notifies(timeout=0.001):
            pass
        return True

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.debug("closing the LISTEN connection", exc_info=True)


class Nudge:
    """An in-process wake-up. `set()` from the event loop's thread; a set that comes while
    the waiter is busy is kept, so the next `wait` returns at once."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Until `set()`, `stop`, or `timeout` seconds (at most), then forget the nudge."""
        if not self._event.is_set() and not stop.is_set():
            waiters = {asyncio.ensure_future(stop.wait()),
                       asyncio.ensure_future(self._event.wait())}
            try:
                await asyncio.wait(waiters, timeout=max(timeout, 0.0),
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
        self._event.clear()
