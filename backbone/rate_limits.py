"""Rate limits for public endpoints, shared by every replica of a service (PostgreSQL).

A token bucket per key (e.g. "login:<client address>") is one row of an UNLOGGED table in the
service's schema, refilled and taken in one statement on the database's clock, so N replicas
behind a load balancer let a caller through once, not N times, and their clocks need not
agree. Over the limit: 429 with Retry-After. A bucket is nobody's record: after a database
crash the buckets start full, which errs on the side of serving people.

    limits = SharedRateLimits(pool, schema)      # at build time (creates the table)
    login_limit = limits.dependency("login", capacity=20, per_s=20 / 60)
    @api.post("/v1/sessions", dependencies=[Depends(login_limit)])
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from fastapi import Request
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.forwarded import client_address
from backbone.http import TooManyRequestsError
from backbone.store import autocommit

_TABLE = """CREATE UNLOGGED TABLE IF NOT EXISTS {s}.rate_limits (
    key text PRIMARY KEY, tokens double precision NOT NULL, stamp double precision NOT NULL,
    last_ok boolean NOT NULL)"""

# Refill by the time since the last take (never negative: a clock stepping back must not
# drain a bucket), take one token if there is one, remember whether it was taken.
_TAKE = """
INSERT INTO {s}.rate_limits AS b (key, tokens, stamp, last_ok)
VALUES (%(key)s, %(cap)s - 1, extract(epoch FROM clock_timestamp()), true)
ON CONFLICT (key) DO UPDATE SET
    tokens = least(%(cap)s, b.tokens + greatest(0, EXCLUDED.stamp - b.stamp) * %(rate)s)
             - CASE WHEN least(%(cap)s, b.tokens + greatest(0, EXCLUDED.stamp - b.stamp)
                               * %(rate)s) >= 1 THEN 1 ELSE 0 END,
    last_ok = least(%(cap)s, b.tokens + greatest(0, EXCLUDED.stamp - b.stamp) * %(rate)s) >= 1,
    stamp = EXCLUDED.stamp
RETURNING last_ok, tokens"""


# For a route's `responses=`: the 429 is part of a limited operation's documented answers.
TOO_MANY: dict[int | str, dict[str, object]] = {
    429: {"description": "too many requests from this address (Retry-After: seconds)"}}


class RateLimitedError(TooManyRequestsError):
    def __init__(self, detail: str, retry_after_s: float):
        super().__init__(detail)
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        self.headers = {"Retry-After": str(self.retry_after_s)}


class SharedRateLimits:
    PRUNE_EVERY = 2000  # takes, on average, between removals of long-full buckets

    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.schema = schema
        with pool.connection() as conn:
            conn.execute(SQL(_TABLE).format(s=Identifier(schema)))
        self._take = SQL(_TAKE).format(s=Identifier(schema))

    def take(self, key: str, *, capacity: float, per_s: float) -> tuple[bool, float]:
        """(allowed, seconds until a token is back when refused). One statement in
        autocommit: one round trip, the row locked for the statement only (the table is
        UNLOGGED: the commit waits for no flush)."""
        with autocommit(self.pool) as conn:
            row = conn.execute(self._take, {"key": key, "cap": float(capacity),
                                            "rate": float(per_s)}).fetchone()
            if random.random() < 1 / self.PRUNE_EVERY:
                conn.execute(SQL("DELETE FROM {}.rate_limits WHERE stamp < "
                                 "extract(epoch FROM now()) - 86400")
                             .format(Identifier(self.schema)))
        assert row is not None
        allowed, tokens = bool(row[0]), float(row[1])
        return allowed, 0.0 if allowed else (1 - tokens) / per_s

    def check(self, name: str, key: str, *, capacity: float, per_s: float) -> None:
        allowed, wait = self.take(f"{name}:{key}", capacity=capacity, per_s=per_s)
        if not allowed:
            raise RateLimitedError(f"too many requests ({name}); try again in "
                                   f"{max(1, math.ceil(wait))} s", wait)

    def dependency(self, name: str, *, capacity: float, per_s: float,
                   key: Callable[[Request], str] = client_address
                   ) -> Callable[[Request], None]:
        """A FastAPI dependency that refuses a caller over the limit: 429 + Retry-After."""

        def limited(request: Request) -> None:  # sync: FastAPI runs it in its thread pool
            self.check(name, key(request), capacity=capacity, per_s=per_s)

        return limited
