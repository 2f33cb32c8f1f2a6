"""Rate limits shared by every replica of intake: the token buckets live in PostgreSQL.

With buckets in each process's memory, N replicas behind a load balancer let a citizen (or an
adapter) through N times as often as the limit says. Here one bucket per key is a row, and
one function call takes a token from the adapter's and the citizen's bucket together (both or
neither, as the in-memory SubmissionThrottle does), under row locks taken in one order, on the
database's clock (the replicas' clocks need not agree).

The table is UNLOGGED: a bucket is not a record anybody relies on. It costs no WAL and no
fsync per request; after a database crash or failover the buckets start full, which errs on
the side of serving people, as forgetting a key in memory did.
"""

from __future__ import annotations

import random

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from services.intake.domain.rate_limit import RateDecision, SubmissionThrottle

_TABLE = """CREATE UNLOGGED TABLE IF NOT EXISTS {s}.rate_buckets (
    key text PRIMARY KEY, tokens double precision NOT NULL, stamp double precision NOT NULL)"""

# keys, capacities and rates in the same order; keys sorted, so concurrent calls lock rows in
# one order and never deadlock. Returns (allowed, the key that refused, seconds to wait).
_TAKE = """CREATE OR REPLACE FUNCTION {s}.rate_take(keys text[], caps float8[], rates float8[])
RETURNS TABLE (allowed boolean, refused_by text, retry_after float8)
LANGUAGE plpgsql AS $fn$
DECLARE
    now_s float8 := extract(epoch FROM clock_timestamp());
    avail float8[] := ARRAY[]::float8[];
    t float8;
    st float8;
BEGIN
    INSERT INTO {s}.rate_buckets (key, tokens, stamp)
        SELECT u.k, u.c, now_s FROM unnest(keys, caps) AS u(k, c) ORDER BY u.k
        ON CONFLICT (key) DO NOTHING;
    FOR i IN 1 .. array_length(keys, 1) LOOP
        SELECT b.tokens, b.stamp INTO t, st FROM {s}.rate_buckets b
            WHERE b.key = keys[i] FOR UPDATE;
        -- a clock that steps back must not drain a bucket
        avail[i] := least(caps[i], t + greatest(0, now_s - st) * rates[i]);
    END LOOP;
    FOR i IN 1 .. array_length(keys, 1) LOOP
        IF avail[i] < 1 THEN
            RETURN QUERY SELECT false, keys[i], (1 - avail[i]) / rates[i];
            RETURN;
        END IF;
    END LOOP;
    FOR i IN 1 .. array_length(keys, 1) LOOP
        UPDATE {s}.rate_buckets SET tokens = avail[i] - 1, stamp = now_s WHERE key = keys[i];
    END LOOP;
    RETURN QUERY SELECT true, NULL::text, 0::float8;
END
$fn$"""


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL(_TABLE).format(s=Identifier(schema)))
        conn.execute(SQL(_TAKE).format(s=Identifier(schema)))


def take(pool: ConnectionPool, schema: str, buckets: list[tuple[str, float, float]]
         ) -> tuple[bool, str | None, float]:
    """One token from each (key, capacity, rate) bucket, all or none: (allowed, the key that
    refused, seconds until it has a token)."""
    keys = [k for k, _, _ in buckets]
    caps, rates = [float(c) for _, c, _ in buckets], [float(r) for _, _, r in buckets]
    with pool.connection() as conn:
        row = conn.execute(SQL("SELECT * FROM {}.rate_take(%s, %s, %s)")
                           .format(Identifier(schema)), (keys, caps, rates)).fetchone()
        if random.random() < 1 / PRUNE_EVERY:
            # forget buckets that have refilled completely: they hold nothing a new one would not
            longest = max(c / r for _, c, r in buckets)
            conn.execute(SQL("DELETE FROM {}.rate_buckets WHERE stamp < extract(epoch FROM"
                             " now()) - greatest(%s, 3600)").format(Identifier(schema)),
                         (longest,))
    assert row is not None
    allowed, refused_by, retry_after = row
    return bool(allowed), refused_by, float(retry_after)


PRUNE_EVERY = 5000  # calls, on average, between removals of buckets that are full again


class SharedSubmissionThrottle(SubmissionThrottle):
    """SubmissionThrottle's limits, held in PostgreSQL for every replica at once."""

    def __init__(self, pool: ConnectionPool, schema: str, *, adapter_capacity: float = 1000,
                 adapter_rate: float = 600, citizen_capacity: float = 5,
                 citizen_rate: float = 1 / 120) -> None:
        super().__init__(lambda: 0.0, adapter_capacity=adapter_capacity,
                         adapter_rate=adapter_rate, citizen_capacity=citizen_capacity,
                         citizen_rate=citizen_rate)
        self.pool, self.schema = pool, schema

    def admit(self, adapter_id: str, citizen: str | None) -> RateDecision:
        # "a:" sorts before "c:": the adapter's row is always locked first
        buckets = [(f"a:{adapter_id}", self.adapters.capacity, self.adapters.rate)]
        if citizen:
            buckets.append((f"c:{citizen}", self.citizens.capacity, self.citizens.rate))
        allowed, refused_by, retry_after = take(self.pool, self.schema, buckets)
        if allowed:
            return RateDecision(True)
        return RateDecision(False, "adapter" if (refused_by or "").startswith("a:")
                            else "citizen", retry_after)


class SharedKeyedLimiter:
    """KeyedRateLimiter's interface (`bucket(key).try_take()`, `.retry_after()`), shared:
    e.g. one verification code a minute per phone, whichever replica is asked."""

    def __init__(self, pool: ConnectionPool, schema: str, *, prefix: str, capacity: float,
                 rate: float) -> None:
        self.pool, self.schema, self.prefix = pool, schema, prefix
        self.capacity, self.rate = capacity, rate

    def bucket(self, key: str) -> _SharedBucket:
        return _SharedBucket(self, f"{self.prefix}:{key}")


class _SharedBucket:
    def __init__(self, limiter: SharedKeyedLimiter, key: str) -> None:
        self.limiter, self.key, self._retry_after = limiter, key, 0.0

    def try_take(self) -> bool:
        lim = self.limiter
        allowed, _, self._retry_after = take(lim.pool, lim.schema,
                                             [(self.key, lim.capacity, lim.rate)])
        return allowed

    def retry_after(self) -> float:
        return self._retry_after
