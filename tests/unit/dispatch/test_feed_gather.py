"""The assignment feed reads the log at most once per `gather_s`: commits that come while it
waits share one read; a commit after a quiet spell is read at once; every row reaches its
unit's streams."""

from __future__ import annotations

import asyncio
from typing import Any

from services.dispatch.entrypoints.feed import AssignmentFeed


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
    """LoopReads.changes over a list of committed rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.reads: list[float] = []

    async def changes(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int, int]:
        self.reads.append(asyncio.get_running_loop().time())
        new = self.rows[after:after + limit]
        return new, after + len(new), len(new)


def test_commits_within_the_gather_share_a_read_and_every_row_is_pushed():
    async def run() -> None:
        log, news, stop = Log(), News(), asyncio.Event()
        feed = AssignmentFeed(app=None, reads=log, gather_s=0.05)  # type: ignore[arg-type]
        feed.position = 0
        stream = feed.subscribe("yingdong")
        task = asyncio.create_task(feed._follow(stop, news))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)  # the first read (nothing yet)
        for n in range(5):  # five commits 5 ms apart
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
        assert len(log.reads) <= 4  # the first, at most two for the five, the last
        assert log.reads[-1] - committed < 0.03  # read at once, not after a gather
        assert all(b - a >= 0.049 for a, b in zip(log.reads, log.reads[1:], strict=False))

    asyncio.run(run())
