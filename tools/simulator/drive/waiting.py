"""Wait for one ticket's news: waiters are woken only by their own ticket's updates.

A single condition notified on every update woke every waiting ticket (64 or more in a
closed-loop run) to look again for each assignment or notice of any ticket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestByTicket(Generic[T]):
    """The latest value per ticket, and waits for a value that satisfies a test."""

    def __init__(self) -> None:
        self.latest: dict[str, T] = {}
        self._waiters: dict[str, list[tuple[Callable[[T], bool], asyncio.Future[T]]]] = {}

    def get(self, ticket_id: str) -> T | None:
        return self.latest.get(ticket_id)

    def put(self, ticket_id: str, value: T) -> None:
        self.latest[ticket_id] = value
        waiting = self._waiters.get(ticket_id)
        if not waiting:
            return
        still = []
        for test, future in waiting:
            if future.done():
                continue
            if test(value):
                future.set_result(value)
            else:
                still.append((test, future))
        if still:
            self._waiters[ticket_id] = still
        else:
            del self._waiters[ticket_id]

    async def wait_for(self, ticket_id: str, test: Callable[[T], bool], timeout: float) -> T | None:
        """The ticket's latest value once ``test`` holds for it, or None after ``timeout``."""
        known = self.latest.get(ticket_id)
        if known is not None and test(known):
            return known
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T | None] = loop.create_future()
        self._waiters.setdefault(ticket_id, []).append((test, future))  # type: ignore[arg-type]
        # the timeout as a timer that answers None: asyncio.wait_for made a second future, a
        # timer and callbacks for each wait (one a driver action, most of them answered)
        timer = loop.call_later(timeout, _answer_none, future) if timeout is not None else None
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()
            waiting = self._waiters.get(ticket_id)
            if waiting is not None:
                waiting[:] = [w for w in waiting if w[1] is not future]
                if not waiting:
                    del self._waiters[ticket_id]


def _answer_none(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
