"""Rate limits shared by every replica of intake: the token buckets live in PostgreSQL.

With buckets in each process's memory, N replicas behind a load balancer let a citizen (or an
adapter) through N times as often as the limit says. Here one bucket per key is a row, refilled
and taken in ONE statement on the database's clock (the replicas' clocks need not agree), in
autocommit: the row is locked for the statement only, never across a round trip.

An adapter's bucket is busy (hundreds of submissions a second through one hotline adapter),
and every request taking its token from the one row made the requests queue on that row's
lock (~40 % of a submission's time in the intake bench). So a process leases a block of the
adapter's tokens at once (`block`: a tenth of a second of its rate) and spends them locally;
a lease not spent within `LEASE_S` is dropped, never returned. Across replicas and restarts
the shared row still bounds what all of them admit: over any interval, at most the burst plus
the rate times (interval + LEASE_S); a lost or dropped lease only refuses a little early. A
bucket of a small burst (under 10 tokens) is never leased ahead: one token a request, exact.
A citizen's bucket (a burst of 5, then one every 2 minutes) is taken a token a request; a
request that turns out to be an adapter's retry of one already stored gives it back.

Both or neither, as the in-memory SubmissionThrottle does: the adapter's token first (from the
lease); a citizen refused gives it back to the lease. The table is UNLOGGED: a bucket is not a
record anybody relies on. It costs no WAL and no fsync; after a database crash or failover the
buckets start full, which errs on the side of serving people, as forgetting a key in memory did.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import autocommit
from services.intake.domain.rate_limit import RateDecision, SubmissionThrottle

_TABLE = """CREATE UNLOGGED TABLE IF NOT EXISTS {s}.rate_buckets (
    key text PRIMARY KEY, tokens double precision NOT NULL, stamp double precision NOT NULL)"""
_GRANTED = ("ALTER TABLE {s}.rate_buckets ADD COLUMN IF NOT EXISTS granted int NOT NULL"
            " DEFAULT 0")

# Refill by the time since the last take (never negative: a clock that steps back must not
# drain a bucket), then grant up to `want` whole tokens, or none. Returns (granted, tokens
# left): when none, the tokens there are, so the caller knows how long to wait.
_AVAIL = ("least(%(cap)s, b.tokens + greatest(0, EXCLUDED.stamp - b.stamp) * %(rate)s)")
_LEASE = f"""
INSERT INTO {{s}}.rate_buckets AS b (key, tokens, stamp, granted)
VALUES (%(key)s, %(cap)s - least(%(want)s, floor(%(cap)s)),
        extract(epoch FROM clock_timestamp()), least(%(want)s, floor(%(cap)s)))
ON CONFLICT (key) DO UPDATE SET
    granted = least(%(want)s, floor({_AVAIL})),
    tokens = {_AVAIL} - least(%(want)s, floor({_AVAIL})),
    stamp = EXCLUDED.stamp
RETURNING granted, tokens"""


def lease_rows_sql(rows: str, *, key: str, want: str, cap: str = "cap",
                   rate: str = "rate") -> str:
    """Refill-and-take, as `_LEASE`, for every row of ``rows`` (a FROM item) in one statement:
    up to ``want`` tokens of the bucket ``key`` (SQL expressions over the rows; keys
    distinct: a key twice would update its row twice), the buckets' capacity and rate being
    the parameters named ``cap`` and ``rate``. RETURNING key, granted, tokens. The want
    travels as the new row's `granted` (already bounded by the capacity), so a row conflicting
    with a stored bucket is granted least(want, whole tokens there)
    (adapters/submission_reads.py: the adapters' leases and the citizens' tokens of a batch)."""
    avail = f"least(%({cap})s, b.tokens + greatest(0, EXCLUDED.stamp - b.stamp) * %({rate})s)"
    return f"""
INSERT INTO {{s}}.rate_buckets AS b (key, tokens, stamp, granted)
SELECT {key}, %({cap})s - least({want}, floor(%({cap})s)),
       extract(epoch FROM clock_timestamp()), least({want}, floor(%({cap})s))
FROM {rows}
ON CONFLICT (key) DO UPDATE SET
    granted = least(EXCLUDED.granted, floor({avail})),
    tokens = {avail} - least(EXCLUDED.granted, floor({avail})),
    stamp = EXCLUDED.stamp
RETURNING key, granted, tokens"""


LEASE_S = 1.0  # a leased token not spent within this is dropped
PRUNE_EVERY = 5000  # calls, on average, between removals of buckets that are full again


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL(_TABLE).format(s=Identifier(schema)))
        conn.execute(SQL(_GRANTED).format(s=Identifier(schema)))


def lease(pool: ConnectionPool, schema: str, key: str, *, capacity: float, rate: float,
          want: int = 1) -> tuple[int, float]:
    """Up to `want` tokens of the bucket `key` (one statement): (how many were granted,
    seconds until one is there when none was)."""
    with autocommit(pool) as conn:
        row = conn.execute(SQL(_LEASE).format(s=Identifier(schema)),
                           {"key": key, "cap": float(capacity), "rate": float(rate),
                            "want": int(want)}).fetchone()
        if random.random() < 1 / PRUNE_EVERY:
            # forget buckets that have refilled completely: they hold nothing a new one would not
            conn.execute(SQL("DELETE FROM {}.rate_buckets WHERE stamp < extract(epoch FROM"
                             " now()) - greatest(%s, 3600)").format(Identifier(schema)),
                         (capacity / rate,))
    assert row is not None
    granted, tokens = int(row[0]), float(row[1])
    return granted, 0.0 if granted else max(0.0, (1 - tokens) / rate)


@dataclass
class _Lease:
    tokens: int = 0
    until: float = 0.0  # monotonic
    empty_until: float = 0.0  # the shared bucket had no token; it has none before this


class SharedSubmissionThrottle(SubmissionThrottle):
    """SubmissionThrottle's limits, held in PostgreSQL for every replica at once (adapters'
    tokens leased a block at a time, see the module's docstring)."""

    def __init__(self, pool: ConnectionPool, schema: str, *, adapter_capacity: float = 1000,
                 adapter_rate: float = 600, citizen_capacity: float = 5,
                 citizen_rate: float = 1 / 120, clock: Any = time.monotonic) -> None:
        super().__init__(lambda: 0.0, adapter_capacity=adapter_capacity,
                         adapter_rate=adapter_rate, citizen_capacity=citizen_capacity,
                         citizen_rate=citizen_rate)
        self.pool, self.schema, self.clock = pool, schema, clock
        self.block = max(1, int(min(adapter_capacity, adapter_rate * 0.1)))
        if adapter_capacity < 10:
            self.block = 1
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    def _spend(self, adapter_id: str) -> RateDecision | None:
        """The adapter's token from the lease held, its refusal while the shared bucket is
        known to be empty, or None: ask the shared bucket."""
        with self._lock:
            held = self._leases.get(adapter_id)
            if held is None:
                return None
            now = self.clock()
            if held.empty_until > now:
                return RateDecision(False, "adapter", held.empty_until - now)
            if held.tokens < 1 or held.until <= now:
                return None
            held.tokens -= 1
            return RateDecision(True)

    def _keep(self, adapter_id: str, tokens: int, until: float) -> None:
        with self._lock:
            held = self._leases.setdefault(adapter_id, _Lease())
            if held.until <= self.clock():
                held.tokens = 0
            held.tokens += tokens
            held.until = max(held.until, until)

    def _adapter_token(self, adapter_id: str) -> RateDecision:
        spent = self._spend(adapter_id)
        if spent is not None:
            return spent
        until = self.clock() + LEASE_S
        granted, wait = lease(self.pool, self.schema, f"a:{adapter_id}",
                              capacity=self.adapters.capacity, rate=self.adapters.rate,
                              want=self.block)
        if not granted:
            if self.block > 1:  # no token before then: the flood is refused here meanwhile
                with self._lock:
                    self._leases.setdefault(adapter_id, _Lease()).empty_until = \
                        self.clock() + wait
            return RateDecision(False, "adapter", wait)
        if granted > 1:
            self._keep(adapter_id, granted - 1, until)
        return RateDecision(True)

    def lease_until(self) -> float:
        """When a lease asked for now lapses (this throttle's clock)."""
        return self.clock() + LEASE_S

    def leased(self, adapter_id: str, *, granted: int, used: int, refused_for_s: float,
               until: float) -> None:
        """A lease of the adapter's tokens taken by the submissions' batched read
        (adapters/submission_reads.py), ``used`` of them by its requests: the rest is kept
        until ``until``. ``refused_for_s`` > 0: some of its requests found no token; the
        flood is refused here until the shared bucket can have one again (as
        `_adapter_token` does)."""
        if granted > used:
            self._keep(adapter_id, granted - used, until)
        if refused_for_s > 0 and self.block > 1:
            with self._lock:
                self._leases.setdefault(adapter_id, _Lease()).empty_until = \
                    self.clock() + refused_for_s

    def adapter_token_held(self, adapter_id: str) -> RateDecision | None:
        """The adapter's token from the lease this process holds (no I/O), or None: the
        shared bucket must be asked (`adapter_token`)."""
        return self._spend(adapter_id)

    def adapter_token(self, adapter_id: str) -> RateDecision:
        return self._adapter_token(adapter_id)

    def citizen_refused(self, adapter_id: str) -> None:
        """The citizen had no token: the adapter's goes back where it came from."""
        if self.block > 1:
            self._keep(adapter_id, 1, self.clock() + LEASE_S)
        else:
            self._give_back(f"a:{adapter_id}")

    def admit(self, adapter_id: str, citizen: str | None) -> RateDecision:
        adapter = self._adapter_token(adapter_id)
        if not adapter.allowed or not citizen:
            return adapter
        granted, wait = lease(self.pool, self.schema, f"c:{citizen}",
                              capacity=self.citizens.capacity, rate=self.citizens.rate)
        if granted:
            return RateDecision(True)
        if self.block > 1:  # the adapter's token goes back to the lease it came from
            self._keep(adapter_id, 1, self.clock() + LEASE_S)
        else:  # one token a request: it goes back to the shared row
            self._give_back(f"a:{adapter_id}")
        return RateDecision(False, "citizen", wait)

    def citizen_replayed(self, citizen: str) -> None:
        """The citizen's token goes back to the shared row (a retry made nothing)."""
        self._give_back(f"c:{citizen}", self.citizens.capacity)

    def _give_back(self, key: str, capacity: float | None = None) -> None:
        with autocommit(self.pool) as conn:
            conn.execute(SQL("UPDATE {}.rate_buckets SET tokens = least(%s, tokens + 1)"
                             " WHERE key = %s").format(Identifier(self.schema)),
                         (float(self.adapters.capacity if capacity is None else capacity),
                          key))


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
        granted, self._retry_after = lease(lim.pool, lim.schema, self.key,
                                           capacity=lim.capacity, rate=lim.rate)
        return granted > 0

    def retry_after(self) -> float:
        return self._retry_after
