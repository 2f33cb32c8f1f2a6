"""The rating links' per-address limit (services/feedback/adapters/rate_limits.py): a low limit
takes a token a request with backbone's statement; a high one leases a block of the shared
bucket's tokens at a time, spends them without I/O, drops what it did not spend in time, and
refuses while the shared bucket is known to be empty. Every replica draws on the same row."""

from __future__ import annotations

import uuid

import pytest
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.rate_limits import RateLimitedError, SharedRateLimits
from services.feedback.adapters import rate_limits
from services.feedback.adapters.rate_limits import LEASE_S, LinkRateLimit
from tests import janitor

pytestmark = [pytest.mark.integration]


@pytest.fixture
def limits(infra):
    schema = f"fl_{janitor.claim(uuid.uuid4().hex[:10])}"
    pool = ConnectionPool(infra.pg_conninfo(), min_size=1, max_size=2, open=True)
    with pool.connection() as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    try:
        yield SharedRateLimits(pool, schema)
    finally:
        with pool.connection() as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        pool.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counted(limit: LinkRateLimit) -> list[int]:
    """The lease statements `limit` sends (wraps its one statement)."""
    calls: list[int] = []
    lease = limit._lease

    def counting(key: str) -> tuple[int, float]:
        granted, wait = lease(key)
        calls.append(granted)
        return granted, wait

    limit._lease = counting  # type: ignore[method-assign]
    return calls


def row(limits: SharedRateLimits, key: str) -> tuple[float, bool]:
    with limits.pool.connection() as conn:
        found = conn.execute(SQL("SELECT tokens, last_ok FROM {}.rate_limits WHERE key = %s")
                             .format(Identifier(limits.schema)), (key,)).fetchone()
    assert found is not None
    return float(found[0]), bool(found[1])


def freeze(limits: SharedRateLimits, key: str, tokens: float) -> None:
    """The bucket at `tokens`, stamped an hour ahead: no refill before then (the statements
    refill by the time since the stamp, never by a negative one)."""
    with limits.pool.connection() as conn:
        conn.execute(SQL("UPDATE {}.rate_limits SET tokens = %s,"
                         " stamp = extract(epoch FROM clock_timestamp()) + 3600 WHERE key = %s")
                     .format(Identifier(limits.schema)), (tokens, key))


def test_a_low_limit_takes_a_token_a_request_as_before(limits):
    limit = LinkRateLimit(limits, "rating-link", capacity=5, per_s=1 / 600)
    assert limit.block == 1
    calls = counted(limit)
    for _ in range(5):
        assert not limit.held("10.0.0.1")  # nothing is ever held: the shared row is asked
        limit.take("10.0.0.1")
    with pytest.raises(RateLimitedError) as refused:
        limit.take("10.0.0.1")
    assert refused.value.retry_after_s >= 1
    assert calls == []  # backbone's own statement, not the lease's
    tokens, last_ok = row(limits, "rating-link:10.0.0.1")
    assert tokens < 1 and not last_ok
    limit.take("10.0.0.2")  # another address has its own bucket
    # 20 a minute, the default, is not leased either
    assert LinkRateLimit(limits, "rating-link", capacity=20, per_s=20 / 60).block == 1


def test_a_high_limit_is_leased_a_block_at_a_time_from_the_shared_row(limits):
    clock = Clock()
    one = LinkRateLimit(limits, "rating-link", capacity=1000, per_s=200, clock=clock)
    two = LinkRateLimit(limits, "rating-link", capacity=1000, per_s=200, clock=clock)
    assert one.block == 20
    calls_one, calls_two = counted(one), counted(two)
    key = "rating-link:10.0.0.9"
    for _ in range(20):
        one.take("10.0.0.9")
    assert calls_one == [20]  # one statement for twenty requests
    assert not one.held("10.0.0.9")  # spent: the next asks the row again
    one.take("10.0.0.9")
    assert calls_one == [20, 20]
    assert one.held("10.0.0.9")  # 19 held now, spent without I/O
    # the other replica leases from the same row
    freeze(limits, key, 3.5)
    two.take("10.0.0.9")
    assert calls_two == [3]  # what the row had, in whole tokens
    assert two.held("10.0.0.9") and two.held("10.0.0.9") and not two.held("10.0.0.9")
    tokens, last_ok = row(limits, key)
    assert tokens == pytest.approx(0.5) and last_ok
    # a lease not spent in time is dropped, never spent late
    clock.now += LEASE_S + 0.01
    assert not one.held("10.0.0.9")


def test_an_empty_shared_bucket_refuses_until_it_can_have_a_token(limits):
    clock = Clock()
    limit = LinkRateLimit(limits, "rating-link", capacity=1000, per_s=200, clock=clock)
    calls = counted(limit)
    limit.take("10.0.0.7")
    key = "rating-link:10.0.0.7"
    freeze(limits, key, 0.2)
    clock.now += LEASE_S + 0.01  # the lease lapsed: the row is asked, and has no token
    with pytest.raises(RateLimitedError) as refused:
        limit.take("10.0.0.7")
    assert calls == [20, 0]
    assert refused.value.retry_after_s == 1  # (1 - 0.2) / 200 s, rounded up
    assert row(limits, key) == (pytest.approx(0.2), False)  # nothing taken
    with pytest.raises(RateLimitedError):  # refused here meanwhile, without a statement
        limit.held("10.0.0.7")
    assert calls == [20, 0]
    clock.now += 0.01  # (1 - 0.2) / 200 s later the row is asked again
    assert not limit.held("10.0.0.7")


def test_lapsed_leases_are_forgotten(limits, monkeypatch):
    monkeypatch.setattr(rate_limits, "_KEEP", 3)
    clock = Clock()
    limit = LinkRateLimit(limits, "rating-link", capacity=1000, per_s=200, clock=clock)
    for n in range(3):
        limit.take(f"10.0.1.{n}")
    clock.now += LEASE_S + 0.01
    limit.take("10.0.1.9")
    assert list(limit._leases) == ["10.0.1.9"]
