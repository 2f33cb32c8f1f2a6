"""backbone.wakeup on the real PostgreSQL: CommitNews wakes on a committed NOTIFY (never on a
rolled-back one), on `stop`, or at its fallback; a notification sent while nobody waits is
not lost; Nudge keeps a set that came while its waiter was busy."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from backbone.wakeup import CommitNews, Nudge
from tests.waiting import patient

# a wake is due at once; the fallback is what a missed wake would look like. All three are
# stretched alike, so on a slow machine a wake still tells itself apart from the fallback.
PROMPT, BOUND, FALLBACK = patient(5), patient(10), patient(20)

pytestmark = pytest.mark.integration


@pytest.fixture
def channel(unique) -> str:
    return f"minsheng_test_{unique}"


def notify(settings, channel: str, *, commit: bool = True) -> None:
    with psycopg.connect(settings.pg_conninfo()) as conn:
        conn.execute("SELECT pg_notify(%s, '')", (channel,))
        if not commit:
            conn.rollback()


async def timed_wait(news: CommitNews, stop: asyncio.Event, fallback_s: float) -> float:
    began = time.monotonic()
    await news.wait(stop, fallback_s=fallback_s)
    return time.monotonic() - began


async def test_a_commit_wakes_the_waiter_at_once(infra, channel):
    news, stop = CommitNews(infra, channel=channel), asyncio.Event()
    await news.listen()
    try:
        waiting = asyncio.ensure_future(timed_wait(news, stop, fallback_s=FALLBACK))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(notify, infra, channel)
        assert await asyncio.wait_for(waiting, BOUND) < PROMPT
    finally:
        await news.close()


async def test_news_that_came_before_the_wait_is_not_lost(infra, channel):
    news, stop = CommitNews(infra, channel=channel), asyncio.Event()
    await news.listen()
    try:
        await asyncio.to_thread(notify, infra, channel)  # while nobody waits
        assert await asyncio.wait_for(timed_wait(news, stop, fallback_s=FALLBACK), BOUND) < PROMPT
        # drained: the next wait runs to its fallback
        assert await timed_wait(news, stop, fallback_s=0.5) >= 0.45
    finally:
        await news.close()


async def test_a_rollback_wakes_nobody_and_stop_ends_the_wait(infra, channel):
    news, stop = CommitNews(infra, channel=channel), asyncio.Event()
    await news.listen()
    try:
        await asyncio.to_thread(notify, infra, channel, commit=False)
        waiting = asyncio.ensure_future(timed_wait(news, stop, fallback_s=FALLBACK))
        await asyncio.sleep(1.0)
        assert not waiting.done()
        stop.set()
        began = time.monotonic()
        assert await asyncio.wait_for(waiting, BOUND) < FALLBACK  # ended by stop, at once
        assert time.monotonic() - began < PROMPT
    finally:
        await news.close()


async def test_nudge_set_while_busy_is_kept():
    nudge, stop = Nudge(), asyncio.Event()
    nudge.set()
    began = time.monotonic()
    await nudge.wait(stop, FALLBACK)
    assert time.monotonic() - began < patient(1)
    began = time.monotonic()
    await nudge.wait(stop, 0.3)  # forgotten once seen
    assert time.monotonic() - began >= 0.25


async def test_nudge_wakes_its_waiter_on_set_and_on_stop():
    nudge, stop = Nudge(), asyncio.Event()
    waiting = asyncio.ensure_future(nudge.wait(stop, FALLBACK))
    await asyncio.sleep(0)  # the waiter is waiting now
    nudge.set()
    await asyncio.wait_for(waiting, PROMPT)  # woken by the set, long before its fallback
    waiting = asyncio.ensure_future(nudge.wait(stop, FALLBACK))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(waiting, PROMPT)  # and by stop


async def test_loops_of_one_process_share_one_listener(infra, channel):
    """Two loops on one channel (dispatch's relay and feed): one LISTEN connection, each
    wakes on a commit, and one's drain does not take the other's news."""
    first, second, stop = (CommitNews(infra, channel=channel), CommitNews(infra, channel=channel),
                           asyncio.Event())
    await first.listen()
    await second.listen()
    try:
        assert first._conn is second._conn is not None
        await asyncio.to_thread(notify, infra, channel)
        assert await asyncio.wait_for(timed_wait(first, stop, fallback_s=FALLBACK), BOUND) < PROMPT
        first.drain()
        assert await asyncio.wait_for(timed_wait(second, stop, fallback_s=FALLBACK), BOUND) < PROMPT
        assert await first.wait(stop, fallback_s=0.3) is False  # taken once by each
        assert await second.wait(stop, fallback_s=0.3) is False
        await first.close()
        assert second._conn is not None and not second._conn.closed  # still listening
        await asyncio.to_thread(notify, infra, channel)
        assert await asyncio.wait_for(second.wait(stop, fallback_s=FALLBACK), BOUND) is True
    finally:
        await first.close()
        await second.close()
    assert second._conn is None


async def test_a_lost_listener_wakes_every_loop_to_listen_anew(infra, channel):
    first, second, stop = (CommitNews(infra, channel=channel), CommitNews(infra, channel=channel),
                           asyncio.Event())
    await first.listen()
    await second.listen()
    try:
        pid = first._conn.pgconn.backend_pid
        with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # each returns at once (read again: a commit in the gap was not heard)...
        assert await asyncio.wait_for(first.wait(stop, fallback_s=FALLBACK), BOUND) is True
        assert await asyncio.wait_for(second.wait(stop, fallback_s=FALLBACK), BOUND) is True
        assert first._conn is second._conn and first._conn.pgconn.backend_pid != pid
        # ...and hears the next commit on the new connection
        await asyncio.to_thread(notify, infra, channel)
        assert await asyncio.wait_for(timed_wait(first, stop, fallback_s=FALLBACK), BOUND) < PROMPT
        assert await asyncio.wait_for(timed_wait(second, stop, fallback_s=FALLBACK), BOUND) < PROMPT
    finally:
        await first.close()
        await second.close()
