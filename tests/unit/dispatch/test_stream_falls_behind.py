"""A department system that reads its stream too slowly (session 17): the feed found its queue
full and dropped the change with a warning in our log, and the stream went on, so the system
never learnt it had missed an assignment. Now the feed lets the stream go at the first change
it cannot queue; the stream sends what it holds, in order, then ends with ABORTED and a
reason that says to open it again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from backbone.auth import Principal
from services.dispatch.entrypoints.feed import AssignmentFeed
from services.dispatch.entrypoints.grpc_api import DepartmentApi
from tests.unit.dispatch.test_feed_gather import Log, News

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def row(n: int) -> dict[str, Any]:
    return {"unit": "yingdong", "ticket_id": f"t{n}", "ticket_code": f"FY-{n}",
            "status": "assigned", "category": None, "urgency": None, "text_masked": None,
            "county": None, "assignment_no": 1, "role": "lead", "subcategory": None,
            "request_type": None, "subdistrict": None, "title_masked": None, "channel": None,
            "lead_unit": None, "co_units": [], "address_masked": None, "assigned_at": AT,
            "sign_for_due_at": None, "bounce_back_due_at": None}


class Aborted(Exception):
    pass


class Context:
    def __init__(self) -> None:
        self.status: tuple[grpc.StatusCode, str] | None = None

    async def abort(self, code: grpc.StatusCode, reason: str) -> None:
        self.status = (code, reason)
        raise Aborted(reason)


async def follow(feed: AssignmentFeed, log: Log, rows: int) -> None:
    news, stop = News(), asyncio.Event()
    feed.position = 0
    task = asyncio.create_task(feed._follow(stop, news))  # type: ignore[arg-type]
    log.rows.extend(row(n) for n in range(rows))
    news.commit()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if feed.position == rows:
            break
    stop.set()
    news.commit()
    await task


def test_a_full_stream_is_let_go_at_its_first_missed_change():
    async def run() -> None:
        log = Log()
        feed = AssignmentFeed(app=None, reads=log, queue_size=3)  # type: ignore[arg-type]
        slow, other = feed.subscribe("yingdong"), feed.subscribe("yingdong")
        other_rows: list[str] = []
        other.put_nowait = lambda r: other_rows.append(r["ticket_id"])  # type: ignore[method-assign]
        await follow(feed, log, 5)
        assert slow.fell_behind and slow.qsize() == 3
        assert [slow.get_nowait()["ticket_id"] for _ in range(3)] == ["t0", "t1", "t2"]
        assert slow not in feed.subscribers["yingdong"]  # t4 was not queued after the gap
        assert other_rows == [f"t{n}" for n in range(5)] and not other.fell_behind

    asyncio.run(run())


def test_the_stream_sends_what_it_held_then_ends_with_a_reason_to_reopen():
    async def run() -> None:
        log = Log()
        feed = AssignmentFeed(app=None, reads=log, queue_size=3)  # type: ignore[arg-type]
        api = DepartmentApi(settings=None, commands=None, reads=None, feed=feed,  # type: ignore[arg-type]
                            clock=None, units=None)  # type: ignore[arg-type]
        api._principal = lambda context: Principal(sub="yd-oa", role="unit",  # type: ignore[method-assign]
                                                   unit="yingdong")
        context = Context()
        stream = api.StreamAssignments(
            type("Request", (), {"include_open": False})(), context)
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.01)  # subscribed, waiting for a change
        await follow(feed, log, 6)
        got = [(await first).ticket_code]
        with pytest.raises(Aborted):
            async for assignment in stream:
                got.append(assignment.ticket_code)
        assert got == ["FY-0", "FY-1", "FY-2"]  # what was queued when t3 found it full
        assert context.status is not None and context.status[0] is grpc.StatusCode.ABORTED
        assert "include_open" in context.status[1]
        assert not feed.subscribers["yingdong"]

    asyncio.run(run())
