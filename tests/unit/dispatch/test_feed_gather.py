"""The assignment feed reads the log at most once per `gather_s`: commits that come while it
waits share one read; a commit after a quiet spell is read at once; every row reaches its
unit's streams.

The feed and the test run on an event loop with a virtual clock (`VirtualTime`): it moves
only when every task waits, straight to the next timer. The feed's own clock and sleeps are
the loop's (`loop.time()`, `asyncio.sleep`), so the read times asserted are exact, whatever
the machine's speed or load (they were wall-clock bounds: a 5 ms sleep that took 50 ms on a
loaded machine failed a correct feed)."""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any

import pytest

from services.dispatch.entrypoints.feed import AssignmentFeed
from tests.waiting import patient


class _Jumping(selectors.DefaultSelector):
    """A selector that does not sleep for a timer: it moves its loop's clock to it."""

    loop: VirtualTime

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:  # no timer and nothing ready: only another thread could wake us
            events = super().select(patient(5))
            if not events:
                raise RuntimeError("every task waits and no timer is set: nothing will wake"
                                   " the loop")
            return events
        events = super().select(0)
        if not events and timeout > 0:
            self.loop.now += timeout
        return events


class VirtualTime(asyncio.SelectorEventLoop):
    """An event loop whose clock starts at 0 and moves only when no task can run."""

    def __init__(self) -> None:
        selector = _Jumping()
        super().__init__(selector)
        selector.loop = self
        self.now = 0.0

    def time(self) -> float:
        return self.now


def run_on_virtual_time(main: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=VirtualTime) as runner:
        runner.run(main)


class News:
    """CommitNews' part the feed uses: commits announced, drained by a read."""

    def __init__(self) -> None:
        self.heard = asyncio.Event()

    def commit(self) -> None:
        self.heard.set()

    def drain(self) -> None:
        self.heard.clear()

    async def wait(self, stop: asyncio.Event, fallback_s: float, poll_s: float) -> bool:
        done = [asyncio.ensure_future(self.heard.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
        for d in done:
            d.cancel()
        self.heard.clear()
        return True


class Log:
    """LoopReads.changes over a list of committed rows; each read's time and row count.
    `read_s`: how long a read takes (it sees the rows committed when it began)."""

    def __init__(self, read_s: float = 0.0) -> None:
        self.rows: list[dict[str, Any]] = []
        self.reads: list[float] = []
        self.sizes: list[int] = []
        self.read_s = read_s

    async def changes(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int, int]:
        self.reads.append(asyncio.get_running_loop().time())
        new = self.rows[after:after + limit]
        self.sizes.append(len(new))
        if self.read_s:
            await asyncio.sleep(self.read_s)
        return new, after + len(new), len(new)


def at(times: list[float]) -> Any:
    return pytest.approx(times, abs=1e-9)


def test_the_virtual_clock_moves_only_by_the_timers():
    async def run() -> None:
        loop = asyncio.get_running_loop()
        assert loop.time() == 0.0
        await asyncio.sleep(0.005)
        await asyncio.gather(asyncio.sleep(0.15), asyncio.sleep(0.02))
        assert loop.time() == pytest.approx(0.155, abs=1e-9)

    run_on_virtual_time(run())


def following(log: Log, news: News, stop: asyncio.Event) -> tuple[Any, asyncio.Task[Any]]:
    """A feed gathering for 50 ms over ``log`` from its start, one stream of yingdong's
    subscribed, following ``news`` until ``stop``: (the stream, the following task)."""
    feed = AssignmentFeed(app=None, reads=log, gather_s=0.05)  # type: ignore[arg-type]
    feed.position = 0
    stream = feed.subscribe("yingdong")
    return stream, asyncio.create_task(feed._follow(stop, news))  # type: ignore[arg-type]


def test_commits_within_the_gather_share_a_read_and_every_row_is_pushed():
    async def run() -> None:
        log, news, stop = Log(), News(), asyncio.Event()
        stream, task = following(log, news, stop)
        await asyncio.sleep(0.01)  # the first read (nothing yet), at 0
        for n in range(5):  # five commits 5 ms apart, at 0.010 ... 0.030
            log.rows.append({"unit": "yingdong", "ticket_id": f"t{n}"})
            news.commit()
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.15)
        log.rows.append({"unit": "yingdong", "ticket_id": "t5"})  # after a quiet spell
        committed = asyncio.get_running_loop().time()
        news.commit()
        await asyncio.sleep(0.02)
        stop.set()
        await task
        pushed = [stream.get_nowait()["ticket_id"] for _ in range(stream.qsize())]
        assert pushed == [f"t{n}" for n in range(6)]
        assert committed == pytest.approx(0.185, abs=1e-9)
        # the first read at once; the five commits one read, a gather after the first;
        # the commit after the quiet spell read the moment it was announced
        assert log.reads == at([0.0, 0.05, committed])
        assert log.sizes == [0, 5, 1]

    run_on_virtual_time(run())


def test_under_steady_commits_the_feed_reads_once_per_gather():
    async def run() -> None:
        log, news, stop = Log(), News(), asyncio.Event()
        stream, task = following(log, news, stop)
        await asyncio.sleep(0.003)  # the commits fall between the gathers' ends
        for n in range(30):  # a commit every 10 ms, at 0.003 ... 0.293
            log.rows.append({"unit": "yingdong", "ticket_id": f"t{n}"})
            news.commit()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        stop.set()
        await task
        pushed = [stream.get_nowait()["ticket_id"] for _ in range(stream.qsize())]
        assert pushed == [f"t{n}" for n in range(30)]
        assert log.reads == at([0.05 * k for k in range(7)])  # 0, 0.05, ... 0.30
        assert log.sizes == [0, 5, 5, 5, 5, 5, 5]

    run_on_virtual_time(run())


def test_a_commit_announced_during_a_read_gets_the_next_read():
    """The read covers the commits announced before it began, not one announced while it
    runs: that one is read next (one gather after), not left until some later commit."""
    async def run() -> None:
        log, news, stop = Log(read_s=0.01), News(), asyncio.Event()
        stream, task = following(log, news, stop)
        await asyncio.sleep(0.005)  # the first read runs from 0 to 0.01
        log.rows.append({"unit": "yingdong", "ticket_id": "t0"})
        news.commit()
        await asyncio.sleep(0.2)  # no commit after it
        stop.set()
        await task
        pushed = [stream.get_nowait()["ticket_id"] for _ in range(stream.qsize())]
        assert pushed == ["t0"]
        assert log.reads == at([0.0, 0.05]) and log.sizes == [0, 1]

    run_on_virtual_time(run())
