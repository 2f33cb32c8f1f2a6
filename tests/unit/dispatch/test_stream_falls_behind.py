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

from backbone.auth import AuthError, Principal
from services.dispatch.entrypoints.feed import AssignmentFeed
from services.dispatch.entrypoints.grpc_api import DepartmentApi
from tests.unit.dispatch.test_feed_gather import Log, News
from tests.waiting import eventually_async, patient

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

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", "Bearer the-stream-token")]

    async def abort(self, code: grpc.StatusCode, reason: str) -> None:
        self.status = (code, reason)
        raise Aborted(reason)


class Verifier:
    """Holds the stream's token good until `revoke()` (a logout, an expiry)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.checked: list[str] = []

    def verify(self, token: str) -> Principal:
        self.checked.append(token)
        if self.reason is not None:
            raise AuthError(self.reason)
        return PRINCIPAL

    def revoke(self, reason: str) -> None:
        self.reason = reason


PRINCIPAL = Principal(sub="yd-oa", role="unit", unit="yingdong")


def department(feed: AssignmentFeed) -> tuple[DepartmentApi, Verifier]:
    api = DepartmentApi(settings=None, commands=None, reads=None, feed=feed,  # type: ignore[arg-type]
                        clock=None, units=None)  # type: ignore[arg-type]
    api._principal = lambda context: PRINCIPAL  # type: ignore[method-assign]
    verifier = Verifier()
    api._verifier = verifier  # type: ignore[assignment]
    return api, verifier


async def follow(feed: AssignmentFeed, log: Log, rows: int) -> None:
    """The feed follows `rows` new changes from the log's start: returns once it has read
    them all (and so handed each to the streams: the hand-over follows the read with no
    await between), failing if it does not."""
    news, stop = News(), asyncio.Event()
    feed.position = 0
    task = asyncio.create_task(feed._follow(stop, news))  # type: ignore[arg-type]
    log.rows.extend(row(n) for n in range(rows))
    news.commit()
    try:
        await eventually_async(lambda: feed.position == rows, timeout=5, interval=0.001,
                               what=f"the feed to read {rows} changes")
    finally:
        stop.set()
        news.commit()
        await task


async def subscribed(feed: AssignmentFeed) -> None:
    """The stream's generator has run to its subscription (before it waits for a change)."""
    await eventually_async(lambda: len(feed.subscribers["yingdong"]) == 1, timeout=5,
                           interval=0.001, what="the stream to subscribe")


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
        api, _ = department(feed)
        context = Context()
        stream = api.StreamAssignments(
            type("Request", (), {"include_open": False})(), context)
        first = asyncio.ensure_future(stream.__anext__())
        await subscribed(feed)  # waiting for a change
        await follow(feed, log, 6)
        got = [(await asyncio.wait_for(first, patient(5))).ticket_code]
        with pytest.raises(Aborted):
            async with asyncio.timeout(patient(5)):  # a stream that does not end fails here
                async for assignment in stream:
                    got.append(assignment.ticket_code)
        assert got == ["FY-0", "FY-1", "FY-2"]  # what was queued when t3 found it full
        assert context.status is not None and context.status[0] is grpc.StatusCode.ABORTED
        assert "include_open" in context.status[1]
        assert not feed.subscribers["yingdong"]

    asyncio.run(run())


def test_a_stream_whose_token_expired_or_was_revoked_sends_nothing_more():
    """The token was checked only when the stream opened: after a logout (or its expiry) the
    stream went on sending the unit's assignments for as long as the connection lasted."""
    async def run() -> None:
        log = Log()
        feed = AssignmentFeed(app=None, reads=log, queue_size=100)  # type: ignore[arg-type]
        api, verifier = department(feed)
        context = Context()
        stream = api.StreamAssignments(
            type("Request", (), {"include_open": False})(), context)
        first = asyncio.ensure_future(stream.__anext__())
        await subscribed(feed)
        await follow(feed, log, 1)
        assert (await asyncio.wait_for(first, patient(5))).ticket_code == "FY-0"
        verifier.revoke("token revoked (logged out)")
        log.rows.clear()
        nxt = asyncio.ensure_future(stream.__anext__())  # still subscribed: queues what comes
        await follow(feed, log, 2)  # two more changes for the unit: neither is sent
        with pytest.raises(Aborted):
            await asyncio.wait_for(nxt, patient(5))  # a stream that sends on fails here
        assert context.status is not None
        assert context.status[0] is grpc.StatusCode.UNAUTHENTICATED
        assert "revoked" in context.status[1] and "fresh token" in context.status[1]
        assert set(verifier.checked) == {"the-stream-token"}
        assert not feed.subscribers["yingdong"]

    asyncio.run(run())
