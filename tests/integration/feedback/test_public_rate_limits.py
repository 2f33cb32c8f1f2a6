"""Feedback's public endpoints (the hall, the rating links) are rate-limited per client address
and the limit is shared by every replica: two feedback instances on one schema let a burst
through once, not twice; beyond it 429 with Retry-After, never a 5xx."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest

from backbone.runtime import serve
from services.feedback.bootstrap import build
from services.feedback.settings import FeedbackSettings
from tests import janitor
from tests.integration.feedback.conftest import free_port
from tests.waiting import patient

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

HALL_PER_MINUTE = 6
LINKS_PER_MINUTE = 4


@asynccontextmanager
async def replica(unique: str):
    settings = FeedbackSettings(
        environment="test", topic_prefix=f"tfr{unique}.", pg_schema=f"fr_{unique}",
        http_port=free_port(), clock="event", hall_requests_per_minute=HALL_PER_MINUTE,
        rating_link_requests_per_minute=LINKS_PER_MINUTE)
    server = asyncio.create_task(serve(await build(settings)))
    url = f"http://127.0.0.1:{settings.http_port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            deadline = asyncio.get_running_loop().time() + patient(60)
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "feedback never started"
                await asyncio.sleep(0.2)
        yield url
    finally:
        server.cancel()
        try:
            await server
        except asyncio.CancelledError:
            pass


async def burst(urls: list[str], method: str, path: str, n: int, **kw) -> list[httpx.Response]:
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=u, timeout=30))
                   for u in urls]
        return list(await asyncio.gather(*[clients[i % len(clients)].request(method, path, **kw)
                                           for i in range(n)]))


def check_limited(answers: list[httpx.Response], allowed: int, served: set[int]) -> None:
    statuses = [a.status_code for a in answers]
    assert not [s for s in statuses if s >= 500], statuses
    passed = [s for s in statuses if s != 429]
    # a token drips back every 10-15 s: the burst may win one more, never twice the bucket
    assert allowed <= len(passed) <= allowed + 1, statuses
    assert set(passed) <= served, statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.json()["error"] == "rate_limited" and limited.json()["detail"]
    assert int(limited.headers["retry-after"]) >= 1


async def test_two_replicas_share_the_public_limits(infra):
    unique = janitor.claim(uuid.uuid4().hex[:10])
    async with replica(unique) as one, replica(unique) as two:
        hall = await burst([one, two], "GET", "/v1/hall", 3 * HALL_PER_MINUTE,
                           params={"keyword": "路灯"})
        check_limited(hall, HALL_PER_MINUTE, {200})
        links = await burst([one, two], "POST", "/v1/ratings/link", 3 * LINKS_PER_MINUTE,
                            json={"token": "not-a-token", "rating": "satisfied"})
        check_limited(links, LINKS_PER_MINUTE, {401, 403, 410})
        # the link check (GET) draws from the same bucket: already empty
        check = await burst([two], "GET", "/v1/ratings/link", 1, params={"t": "x"})
        assert check[0].status_code == 429
        # the limits are per operation: staff endpoints are not counted in them
        staff = await burst([one], "GET", "/v1/callbacks", 1)
        assert staff[0].status_code == 401
