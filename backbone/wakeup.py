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
import contextlib
import logging
import weakref
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
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


class _Listener:
    """ONE LISTEN connection per event loop, server and channel, shared by every `CommitNews`
    of the process on that channel (dispatch's relay and its assignment feed both wake on
    every commit of dispatch's schema: one connection, one notification delivered and read
    per commit instead of one per loop). Its socket is watched for as long as it has
    subscribers; each notification marks every subscriber's news, which each one takes in its
    own time (`CommitNews.wait`, `CommitNews.drain`). A lost connection marks them all and
    counts a new `generation`: their next wait LISTENs anew and returns at once, so they read
    again (a commit in the gap was not heard)."""

    def __init__(self, key: tuple[str, str], conninfo: str, channel: str):
        self.key = key
        self.conninfo = conninfo
        self.channel = channel
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.generation = 0  # counts connections made: a subscriber of an older one re-reads
        self.subscribers: set[CommitNews] = set()
        self._retry_at = 0.0
        self._connecting: asyncio.Future[None] | None = None
        self._fd = -1

    async def connection(self) -> psycopg.AsyncConnection[Any] | None:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        if self._connecting is not None:  # another subscriber is making it: share the wait
            await asyncio.shield(self._connecting)
            return self.conn
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at:
            return None  # PostgreSQL refused a moment ago: poll meanwhile, quietly
        self._connecting = loop.create_future()
        try:
            conn = await psycopg.AsyncConnection.connect(f"{self.conninfo} {KEEPALIVES}",
                                                         autocommit=True)
            await conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
        except psycopg.Error:
            log.warning("cannot LISTEN on %s; polling until it works", self.channel,
                        exc_info=True)
            self._retry_at = loop.time() + 5.0
            return None
        finally:
            connecting, self._connecting = self._connecting, None
            connecting.set_result(None)
        self.conn = conn
        self.generation += 1
        self._fd = conn.fileno()
        loop.add_reader(self._fd, self.take)  # after LISTEN: psycopg waits on the fd itself
        return conn

    def take(self) -> None:
        """Read what arrived (never blocks): any notification is news for every subscriber.
        A lost connection is dropped, and every subscriber woken to LISTEN anew."""
        conn = self.conn
        if conn is None:
            return
        pgconn = conn.pgconn
        heard = False
        try:
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                heard = True
            lost = pgconn.status != psycopg.pq.ConnStatus.OK
        except Exception:
            lost = True
        if lost:
            log.warning("LISTEN connection on %s lost; reconnecting", self.channel)
            self._drop()
        if heard or lost:
            for subscriber in self.subscribers:
                subscriber._heard.set()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._fd)
        with contextlib.suppress(Exception):
            conn.pgconn.finish()  # closed at once, on the loop's thread: nothing to await

    def leave(self, subscriber: CommitNews) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            self._drop()
            _listeners(create=False).pop(self.key, None)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], _Listener]] \
    = weakref.WeakKeyDictionary()


def _listeners(create: bool = True) -> dict[tuple[str, str], _Listener]:
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = {}
        if create:
            _BY_LOOP[loop] = found
    return found


def _server_key(conninfo: str) -> str:
    """The same server and database whatever the order or spelling of the conninfo."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return conninfo
    return " ".join(f"{k}={parts[k]}" for k in sorted(parts))


class CommitNews:
    def __init__(self, settings: ServiceSettings, schema: str | None = None,
                 channel: str | None = None):
        """`channel`: another channel than the schema's outbox (e.g. a SQL-mode consumer's
        `notify_channel`, whose commits store rows, not events)."""
        self.conninfo = settings.pg_conninfo()
        self.channel = channel or outbox_channel(schema or settings.schema)
        self._listener: _Listener | None = None
        self._generation = 0  # of the listener's connection this one has read after
        self._heard = asyncio.Event()

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
        news._listener = None
        news._generation = 0
        news._heard = asyncio.Event()
        return news

    @property
    def _conn(self) -> psycopg.AsyncConnection[Any] | None:
        """The shared LISTEN connection (None before the first `listen`/`wait`)."""
        return self._listener.conn if self._listener is not None else None

    async def _listening(self) -> psycopg.AsyncConnection[Any] | None:
        listener = self._listener
        if listener is None:
            key = (_server_key(self.conninfo), self.channel)
            shared = _listeners()
            listener = shared.get(key)
            if listener is None:
                listener = shared[key] = _Listener(key, self.conninfo, self.channel)
            listener.subscribers.add(self)
            self._listener = listener
        return await listener.connection()

    async def listen(self) -> None:
        """LISTEN now (the first `wait` would otherwise): call it before a loop's first read,
        so that a commit between that read and the first wait is not missed."""
        if await self._listening() is not None:
            assert self._listener is not None
            self._generation = self._listener.generation

    def drain(self) -> None:
        """Forget the news already received, without waiting: call it just before a read
        that will see every commit announced so far (PostgreSQL delivers a notification only
        once its transaction is visible), so that the next `wait` returns only for commits
        after it, not for ones that read already covered. Never before a read that started
        earlier (a read ahead): its snapshot may miss what was drained. (What arrived is
        first read off the shared connection: news for the other subscribers too.)"""
        listener = self._listener
        if listener is None or listener.conn is None:
            return
        listener.take()
        if listener.conn is not None:  # (a connection found lost keeps the news: re-read)
            self._heard.clear()

    async def wait(self, stop: asyncio.Event, fallback_s: float,
                   poll_s: float | None = None) -> bool:
        """Until a commit stores events, `stop` is set, or `fallback_s` passes (`poll_s`
        instead, if given, while LISTEN is not possible). Returns at once when it had to
        LISTEN anew (the first wait without `listen()`, or after a lost connection): a commit
        before that LISTEN was not heard, so the caller reads again first.

        False when the listener's `fallback_s` passed in quiet (no commit was announced);
        True otherwise (news, stopped, a fresh LISTEN, or polling without one)."""
        conn = await self._listening()
        listener = self._listener
        assert listener is not None
        if conn is not None and self._generation != listener.generation:
            self._generation = listener.generation
            self._heard.clear()
            return True
        if conn is None:  # polling: no news to wait for
            await _first(stop.wait(), timeout=poll_s or fallback_s)
            return True
        if not self._heard.is_set() and not stop.is_set():
            await _first(stop.wait(), self._heard.wait(), timeout=fallback_s)
        if not self._heard.is_set():
            return stop.is_set()
        self._heard.clear()
        return True

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.leave(self)


async def _first(*waits: Any, timeout: float) -> None:
    """Until the first of `waits` (coroutines) is done, at most `timeout` seconds."""
    futures = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(futures, timeout=max(timeout, 0.0),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for f in futures:
            f.cancel()


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
            await _first(stop.wait(), self._event.wait(), timeout=timeout)
        self._event.clear()
