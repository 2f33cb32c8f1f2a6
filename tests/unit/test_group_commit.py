"""Group commit's async side without a database: futures settled per batch, timeouts, callers
that give up."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest

from backbone.group_commit import GroupCommitter
from backbone.store import EventContext


class _Aggregate:
    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self.pending_events: list[Any] = []


class _App:
    """Saves what it is given, once `gate` is open; refuses aggregates named in `refuse`."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.saved: list[list[uuid.UUID]] = []
        self.refuse: set[uuid.UUID] = set()

    def save(self, *aggregates: Any, **_: Any) -> None:
        self.gate.wait(10)
        if any(a.id in self.refuse for a in aggregates):
            raise ValueError("refused")
        self.saved.append([a.id for a in aggregates])


async def test_async_callers_share_a_transaction_and_a_refused_one_fails_alone():
    app = _App()
    committer = GroupCommitter(app, service="unit", max_wait_s=0.05)  # type: ignore[arg-type]
    try:
        aggregates = [_Aggregate() for _ in range(20)]
        app.refuse.add(aggregates[3].id)
        app.gate.set()
        results = await asyncio.gather(
            *[committer.save_async(a, context=EventContext()) for a in aggregates],
            return_exceptions=True)
        assert [type(r) for r in results].count(ValueError) == 1
        assert isinstance(results[3], ValueError)
        saved = {i for ids in app.saved for i in ids}
        assert saved == {a.id for a in aggregates} - {aggregates[3].id}
    finally:
        committer.close()


async def test_a_caller_times_out_when_the_commit_does_not_answer_and_the_loop_stays_sane():
    app = _App()  # the gate stays shut: the committer thread hangs in save
    committer = GroupCommitter(app, service="unit")  # type: ignore[arg-type]
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(TimeoutError):
            await committer.save_async(_Aggregate(), context=EventContext(), timeout=0.3)
        assert 0.3 <= loop.time() - began < 2.0
        # a caller that gives up by cancellation: its future is left alone when it settles
        task = asyncio.create_task(committer.save_async(_Aggregate(), context=EventContext()))
        await asyncio.sleep(0)
        task.cancel()
        app.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        # and the next command commits normally
        await committer.save_async(_Aggregate(), context=EventContext(), timeout=5)
    finally:
        app.gate.set()
        committer.close()



def test_a_saves_parts_are_made_once_and_a_retry_sends_the_same_ones():
    """The recorder's retry (another connection) replays the parts the first try made, then
    makes the rest; a part that failed to be made fails every try."""
    from backbone.store import _Parts

    made: list[int] = []

    def source():
        for i in range(4):
            made.append(i)
            yield ([i], None)

    parts = _Parts(source())
    first = iter(parts)
    assert [next(first), next(first)] == [([0], None), ([1], None)]  # a try that broke off
    assert list(parts) == [([i], None) for i in range(4)]
    assert made == [0, 1, 2, 3]  # each made once

    def failing():
        yield ([0], None)
        raise ValueError("cannot encode")

    broken = _Parts(failing())
    for _ in range(2):
        with pytest.raises(ValueError):
            list(broken)
