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


async def _logins(identity, forwarded_for: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=identity.url, timeout=60) as http:
        statuses = []
        for address in forwarded_for:  # one after another: the order is the point
            answer = await http.post("/v1/sessions", headers={"x-forwarded-for": address},
                                     json={"username": "nobody", "password": "x" * 12})
            statuses.append(answer.status_code)
        return statuses


async def test_a_trusted_proxy_s_forwarded_address_is_limited_per_client(infra):
    # the workbench (here: this test, from 127.0.0.1) forwards each browser's address
    settings = identity_settings(logins_per_minute=3, trusted_proxies="127.0.0.1/32",
                                 lockout_failures=1000)
    try:
        async with running_identity(settings) as identity:
            statuses = await _logins(identity, ["203.0.113.7"] * 4 + ["203.0.113.8"] * 3 +
                                     ["203.0.113.9, 203.0.113.7"])
            # .7 spends its 3 and gets 429; .8 has its own 3; a spoofed chain counts the
            # right-most address, the one our proxy saw (.7, already spent)
            assert statuses == [401] * 3 + [429] + [401] * 3 + [429], statuses
    finally:
        drop_schema(settings)


async def test_an_untrusted_caller_s_forwarded_header_is_ignored(infra):
    settings = identity_settings(logins_per_minute=3, trusted_proxies="10.0.0.0/8",
                                 lockout_failures=1000)
    try:
        async with running_identity(settings) as identity:
            # a caller rotating X-Forwarded-For to dodge the limit is counted by its own address
            statuses = await _logins(identity, [f"198.51.100.{i}" for i in range(5)])
            assert statuses == [401] * 3 + [429] * 2, statuses
    finally:
        drop_schema(settings)
