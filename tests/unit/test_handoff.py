"""backbone.handoff.HandOff: one thread, calls in order, results and errors handed back, the
caller's context seen, a new thread after close."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from backbone.handoff import HandOff

where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="")


async def test_calls_run_in_order_on_one_thread_of_their_own():
    handoff = HandOff("apply-test")
    seen: list[tuple[int, int]] = []

    def call(n: int) -> int:
        seen.append((n, threading.get_ident()))
        return n * 2

    try:
        results = await asyncio.gather(*(handoff.run(call, n) for n in range(20)))
    finally:
        handoff.close()
    assert results == [n * 2 for n in range(20)]
    assert [n for n, _ in seen] == list(range(20))
    assert len({t for _, t in seen}) == 1 and seen[0][1] != threading.get_ident()


async def test_errors_reach_the_caller_and_the_thread_carries_on():
    handoff = HandOff("apply-test")

    def fail() -> None:
        raise ValueError("poison")

    try:
        with pytest.raises(ValueError, match="poison"):
            await handoff.run(fail)
        assert await handoff.run(lambda: "next") == "next"
    finally:
        handoff.close()


async def test_a_call_sees_a_copy_of_the_callers_context():
    handoff = HandOff("apply-test")
    where.set("caller")

    def look_and_change() -> str:
        found = where.get()
        where.set("thread")
        return found

    try:
        assert await handoff.run(look_and_change) == "caller"
        assert where.get() == "caller"
    finally:
        handoff.close()


async def test_after_close_the_next_call_starts_a_new_thread():
    handoff = HandOff("apply-test")
    first = await handoff.run(threading.current_thread)
    handoff.close()
    try:
        second = await handoff.run(threading.current_thread)
    finally:
        handoff.close()
    assert first is not second  # (idents may be reused; the Thread objects are kept here)
