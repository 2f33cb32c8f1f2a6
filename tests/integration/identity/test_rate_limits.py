"""Rate limits shared by replicas (backbone/rate_limits.py) on the real PostgreSQL, and the
login limit per client address: 429 with Retry-After, never a 5xx."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.rate_limits import SharedRateLimits
from tests import janitor
from tests.integration.identity.conftest import drop_schema, identity_settings, running_identity


def test_two_replicas_draw_from_one_bucket(infra):
    schema = f"rl_{janitor.claim(uuid.uuid4().hex[:10])}"
    with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    try:
        with ConnectionPool(infra.pg_conninfo(), min_size=1, max_size=2) as pool:
            replicas = [SharedRateLimits(pool, schema), SharedRateLimits(pool, schema)]
            answers = [replicas[i % 2].take("k", capacity=3, per_s=0.01) for i in range(5)]
            assert [ok for ok, _ in answers] == [True, True, True, False, False]
            assert 90 < answers[3][1] <= 100  # one token back in ~100 s
            assert replicas[0].take("other", capacity=3, per_s=0.01)[0]  # keys apart
    finally:
        with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))


async def test_a_burst_of_logins_from_one_address_gets_429_with_retry_after(infra):
    settings = identity_settings(logins_per_minute=4)
    try:
        async with running_identity(settings) as identity, \
                httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
            answers = await asyncio.gather(*[
                http.post("/v1/sessions", json={"username": f"nobody{i}", "password": "x" * 12})
                for i in range(10)])
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [401] * 4 + [429] * 6, statuses
            limited = next(a for a in answers if a.status_code == 429)
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.json()["error"] == "rate_limited"
    finally:
        drop_schema(settings)
