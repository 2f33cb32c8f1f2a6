"""Waiting for a condition, the one way the tests wait (never for a fixed time).

Every timeout is stretched by MINSHENG_TEST_PATIENCE (default 3): a timeout only bounds how
long a failing test takes, so a slow or loaded machine (a CI box, a laptop with a build beside
it, `stress-ng --cpu 2`) gets time to show that a correct platform is correct. A passing test
returns as soon as its condition holds, whatever the patience.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

PATIENCE = float(os.environ.get("MINSHENG_TEST_PATIENCE", "3"))


def patient(seconds: float) -> float:
    """A timeout of ``seconds`` on a quiet machine, as this run allows it."""
    return seconds * PATIENCE


def eventually(check: Callable[[], Any], timeout: float = 30, interval: float = 0.3,
               what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value and return that value; an HTTP error or
    a failed assertion inside ``check`` counts as "not yet". Fails with ``what`` at the end."""
    deadline = time.monotonic() + patient(timeout)
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {patient(timeout):.0f} s waiting for {what}; "
                         f"last: {last!r}")


async def eventually_async(check: Callable[[], Any], timeout: float = 30,
                           interval: float = 0.2, what: str = "condition") -> Any:
    """As ``eventually``, for a test in an event loop; ``check`` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patient(timeout)
    last: Any = None
    while loop.time() < deadline:
        last = await check() if asyncio.iscoroutinefunction(check) else check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {patient(timeout):.0f} s waiting for {what}; "
                         f"last: {last!r}")
