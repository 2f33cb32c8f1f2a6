"""The rating links' per-address limit, its tokens leased a block at a time when it is high.

The limit is backbone's shared bucket (backbone/rate_limits.py: one row of `rate_limits` per
key, refilled and taken in one statement on the database's clock, shared by every replica),
key "rating-link:<address>". Taken a token a request, every rating was a round trip to
PostgreSQL in its worker step (~0.2-0.3 ms of feedback's CPU a full ticket at the bench's rate,
docs/profiles/feedback-cpu.md). When the limit is high (a bucket of at least 10 tokens and a
tenth of a second of its rate worth at least two tokens: 1,200 a minute and more), a process
leases a block of an address's tokens at once (a tenth of a second of its rate) and spends
them locally, as intake leases an adapter's (services/intake/adapters/rate_limits.py); a lease
not spent within `LEASE_S` is dropped, never returned. Across replicas and restarts the row
still bounds what all of them admit: over any interval, at most the burst plus the rate times
(interval + LEASE_S); a dropped lease only refuses a little early. When the shared bucket has
no token, the address is refused here until it can have one again.

A lower limit (the default is 20 a minute) leases nothing: backbone's own statement, a token
a request, exactly as before. The same row either way (the lease's statement is backbone's
refill-and-take with up to `want` tokens taken; `last_ok` as it writes it).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from psycopg.sql import SQL, Identifier

from backbone.rate_limits import RateLimitedError, SharedRateLimits
from backbone.store import autocommit

LEASE_S = 1.0  # a leased token not spent within this is dropped
BLOCK_S = 0.1  # a lease is this much of the limit's rate
_KEEP = 4096  # leases held before the lapsed ones are forgotten

# backbone's refill-and-take (rate_limits._TAKE), taking up to `want` whole tokens, or none.
# RETURNING: the tokens left, and the tokens there were before the take (after the refill):
# their difference is what was granted (PostgreSQL 18's OLD in RETURNING; a new row had `cap`)
_AVAIL = "least(%(cap)s, b.tokens + greatest(0, EXCLUDED.stamp - b.stamp) * %(rate)s)"
_LEASE = f"""
INSERT INTO {{s}}.rate_limits AS b (key, tokens, stamp, last_ok)
VALUES (%(key)s, %(cap)s - least(%(want)s, floor(%(cap)s)),
        extract(epoch FROM clock_timestamp()), %(cap)s >= 1)
ON CONFLICT (key) DO UPDATE SET
    tokens = {_AVAIL} - least(%(want)s, floor({_AVAIL})),
    last_ok = {_AVAIL} >= 1,
    stamp = EXCLUDED.stamp
RETURNING new.tokens,
          coalesce(least(%(cap)s, old.tokens + greatest(0, new.stamp - old.stamp) * %(rate)s),
                   %(cap)s)"""


@dataclass(slots=True)
class _Lease:
    tokens: int = 0
    until: float = 0.0  # monotonic: unspent tokens are dropped then
    empty_until: float = 0.0  # the shared bucket had no token; it has none before this


class LinkRateLimit:
    """`name`'s per-address limit (capacity tokens, `per_s` a second), shared by every replica
    through `limits`' table; leased a block at a time when the limit is high (module doc)."""

    def __init__(self, limits: SharedRateLimits, name: str, *, capacity: float, per_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self.limits, self.name = limits, name
        self.capacity, self.per_s = float(capacity), float(per_s)
        self.clock = clock
        self.block = 1 if capacity < 10 else max(1, int(min(capacity, per_s * BLOCK_S)))
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._lease_sql = SQL(_LEASE).format(s=Identifier(limits.schema))

    def held(self, address: str) -> bool:
        """A token of `address` from the lease this process holds (no I/O): True if one was
        spent, False if the shared bucket must be asked (`take`). Raises RateLimitedError
        while the shared bucket is known to be empty."""
        if self.block == 1:
            return False
        with self._lock:
            held = self._leases.get(address)
            if held is None:
                return False
            now = self.clock()
            if held.empty_until > now:
                raise self._refused(held.empty_until - now)
            if held.tokens < 1 or held.until <= now:
                return False
            held.tokens -= 1
            return True

    def take(self, address: str) -> None:
        """A token of `address` (may ask PostgreSQL); RateLimitedError (429) when none."""
        if self.block == 1:  # backbone's statement, a token a request
            self.limits.check(self.name, address, capacity=self.capacity, per_s=self.per_s)
            return
        if self.held(address):
            return
        until = self.clock() + LEASE_S
        granted, wait = self._lease(f"{self.name}:{address}")
        with self._lock:
            if len(self._leases) >= _KEEP:
                self._forget_lapsed()
            held = self._leases.setdefault(address, _Lease())
            if not granted:
                held.empty_until = self.clock() + wait
                raise self._refused(wait)
            if held.until <= self.clock():
                held.tokens = 0
            held.tokens += granted - 1
            held.until = max(held.until, until)

    def _lease(self, key: str) -> tuple[int, float]:
        """Up to a block of `key`'s tokens (one statement): (how many, seconds until one is
        there when none was)."""
        with autocommit(self.limits.pool) as conn:
            row = conn.execute(self._lease_sql, {"key": key, "cap": self.capacity,
                                                 "rate": self.per_s, "want": self.block}
                               ).fetchone()
            if random.random() < 1 / SharedRateLimits.PRUNE_EVERY * self.block:
                # as backbone's take does, per token taken: forget buckets a day unused
                conn.execute(SQL("DELETE FROM {}.rate_limits WHERE stamp < "
                                 "extract(epoch FROM now()) - 86400")
                             .format(Identifier(self.limits.schema)))
        assert row is not None
        left, there = float(row[0]), float(row[1])
        granted = round(there - left) if there >= 1 else 0
        return granted, 0.0 if granted else (1 - left) / self.per_s

    def _forget_lapsed(self) -> None:
        now = self.clock()
        for address in [a for a, h in self._leases.items()
                        if h.until <= now and h.empty_until <= now]:
            del self._leases[address]

    def _refused(self, wait: float) -> RateLimitedError:
        return RateLimitedError(f"too many requests ({self.name}); try again in "
                                f"{max(1, math.ceil(wait))} s", wait)
