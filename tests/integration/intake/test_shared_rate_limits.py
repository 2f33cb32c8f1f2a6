"""Rate limits hold across intake's replicas: the buckets are rows in PostgreSQL, so two
replicas (two throttles on one schema) together let a citizen through as often as one would,
and a busy adapter's tokens, leased a block at a time, stay bounded across replicas."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from psycopg_pool import ConnectionPool

from backbone.settings import ServiceSettings
from services.intake.adapters import rate_limits
from services.intake.adapters.rate_limits import (
    SharedKeyedLimiter,
    SharedSubmissionThrottle,
    create_table,
)
from tests import janitor


@pytest.fixture
def pool_and_schema():
    settings = ServiceSettings()
    schema = f"rl_{janitor.claim(uuid.uuid4().hex[:10])}"
    pool = ConnectionPool(settings.pg_conninfo().replace(f"dbname={settings.pg_dbname}",
                                                         "dbname=postgres"),
                          min_size=1, max_size=6, open=True)
    with pool.connection() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    create_table(pool, schema)
    yield pool, schema
    with pool.connection() as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    pool.close()


def test_two_replicas_share_one_citizens_burst(pool_and_schema):
    pool, schema = pool_and_schema
    replicas = [SharedSubmissionThrottle(pool, schema, citizen_capacity=5, citizen_rate=1 / 120)
                for _ in range(2)]
    answers = [replicas[i % 2].admit("hotline", "pseudonym-1") for i in range(8)]
    assert [a.allowed for a in answers] == [True] * 5 + [False] * 3
    assert answers[-1].limited_by == "citizen" and 100 < answers[-1].retry_after_seconds <= 120
    # another citizen on the same adapter is not held back by the first one's flood
    assert replicas[1].admit("hotline", "pseudonym-2").allowed


def test_an_adapter_over_its_rate_is_refused_before_any_citizen_token_is_taken(pool_and_schema):
    pool, schema = pool_and_schema
    throttle = SharedSubmissionThrottle(pool, schema, adapter_capacity=2, adapter_rate=0.001,
                                        citizen_capacity=5, citizen_rate=1 / 120)
    assert [throttle.admit("mailbox", f"c{i}").allowed for i in range(3)] == [True, True, False]
    refused = throttle.admit("mailbox", "c-new")
    assert (refused.allowed, refused.limited_by) == (False, "adapter")
    # the refusal cost c-new nothing: through another adapter it still has its whole burst
    web = SharedSubmissionThrottle(pool, schema, citizen_capacity=5, citizen_rate=1 / 120)
    assert [web.admit("web", "c-new").allowed for _ in range(6)] == [True] * 5 + [False]


def test_concurrent_replicas_never_hand_out_more_than_the_burst(pool_and_schema):
    pool, schema = pool_and_schema
    replicas = [SharedSubmissionThrottle(pool, schema, citizen_capacity=5, citizen_rate=1e-6)
                for _ in range(4)]
    allowed: list[bool] = []

    def flood(throttle: SharedSubmissionThrottle) -> None:
        for _ in range(10):
            allowed.append(throttle.admit("wechat", "racer").allowed)

    threads = [threading.Thread(target=flood, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 5 and len(allowed) == 40


def test_verification_codes_are_limited_per_phone_across_replicas(pool_and_schema):
    pool, schema = pool_and_schema
    replicas = [SharedKeyedLimiter(pool, schema, prefix="code", capacity=3, rate=1 / 60)
                for _ in range(2)]
    taken = [replicas[i % 2].bucket("phone-pseudonym").try_take() for i in range(4)]
    assert taken == [True, True, True, False]
    refused = replicas[0].bucket("phone-pseudonym")
    assert not refused.try_take() and 0 < refused.retry_after() <= 60
    assert replicas[1].bucket("another-phone").try_take()


def test_adapter_tokens_are_leased_in_blocks_and_bounded_across_replicas(pool_and_schema,
                                                                         monkeypatch):
    """A busy adapter's tokens come a block at a time (one statement per block, not per
    request); three replicas flooding together still get no more than the burst plus the
    rate over the flood and one lease time."""
    pool, schema = pool_and_schema
    calls: list[str] = []
    real = rate_limits.lease

    def counted(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(rate_limits, "lease", counted)
    replicas = [SharedSubmissionThrottle(pool, schema, adapter_capacity=100, adapter_rate=100)
                for _ in range(3)]
    assert replicas[0].block == 10
    allowed: list[bool] = []
    started = time.monotonic()

    def flood(throttle: SharedSubmissionThrottle) -> None:
        for _ in range(200):
            allowed.append(throttle.admit("hotline", None).allowed)

    threads = [threading.Thread(target=flood, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert 100 <= sum(allowed) <= 100 + 100 * (elapsed + rate_limits.LEASE_S)
    leased = [c for c in calls if c == "a:hotline"]
    # ten at a time, and a refusal is remembered until the bucket can have a token again
    assert len(leased) < sum(allowed) / 5 + 30


def test_a_lease_is_dropped_when_old_and_a_refused_citizen_returns_the_adapters_token(
        pool_and_schema):
    pool, schema = pool_and_schema
    now = [1000.0]
    throttle = SharedSubmissionThrottle(pool, schema, adapter_capacity=100, adapter_rate=100,
                                        citizen_capacity=2, citizen_rate=1e-6,
                                        clock=lambda: now[0])
    assert [throttle.admit("web", "c1").allowed for _ in range(3)] == [True, True, False]
    assert throttle._leases["web"].tokens == 10 - 2  # the refused one's token came back
    now[0] += rate_limits.LEASE_S + 0.01
    assert throttle.admit("web", None).allowed
    assert throttle._leases["web"].tokens == 10 - 1  # a new block; the old one was dropped


def _reads(pool, schema, throttle, *, citizen_capacity: float):
    from datetime import timedelta

    from services.intake.adapters import identity_store, ticket_index
    from services.intake.adapters.submission_reads import SubmissionReads

    ticket_index.create_table(pool, schema)
    identity_store.create_tables(pool, schema)
    settings = ServiceSettings()
    conninfo = settings.pg_conninfo().replace(f"dbname={settings.pg_dbname}", "dbname=postgres")
    return SubmissionReads(conninfo, schema, citizen_capacity=citizen_capacity,
                           citizen_rate=1e-6, answered_window=timedelta(days=30),
                           leases=throttle)


async def test_a_spent_lease_is_renewed_in_the_batched_read_and_only_admitted_requests_take_a_citizens_token(
        pool_and_schema):
    """Item 17 of docs/profiles/postgresql-per-ticket.md: the adapter's new lease and the
    citizens' tokens in one statement. Both or neither: a request its adapter refused takes
    no token of its citizen."""
    import asyncio
    from datetime import UTC, datetime

    pool, schema = pool_and_schema
    throttle = SharedSubmissionThrottle(pool, schema, adapter_capacity=3, adapter_rate=1e-6,
                                        citizen_capacity=1, citizen_rate=1e-6)
    reads = _reads(pool, schema, throttle, citizen_capacity=1)
    now = datetime.now(UTC)
    try:
        facts = await asyncio.gather(*(reads.of(f"citizen-{i}", now=now, want_key=False,
                                                adapter="web") for i in range(5)))
        admitted = [not f.adapter_refused for f in facts]
        assert sum(admitted) == 3 and all(f.granted for f, ok in zip(facts, admitted, strict=True) if ok)
        assert all(f.retry_after_s > 0 for f, ok in zip(facts, admitted, strict=True) if not ok)
        # the refused requests' citizens kept their one token; the admitted ones' is taken
        again = await asyncio.gather(*(reads.of(f"citizen-{i}", now=now, want_key=False)
                                       for i in range(5)))
        assert [f.granted for f in again] == [not ok for ok in admitted]
        # an anonymous submission needs its adapter's token only: none left
        anonymous = await reads.of(None, now=now, want_key=False, adapter="web")
        assert anonymous.adapter_refused and not anonymous.granted
    finally:
        await reads.close()


async def test_a_lease_taken_by_the_batched_read_is_kept_for_the_next_requests(
        pool_and_schema):
    import asyncio
    from datetime import UTC, datetime

    pool, schema = pool_and_schema
    throttle = SharedSubmissionThrottle(pool, schema, adapter_capacity=100, adapter_rate=100)
    assert throttle.block == 10
    reads = _reads(pool, schema, throttle, citizen_capacity=5)
    now = datetime.now(UTC)
    try:
        assert throttle.adapter_token_held("web") is None  # nothing leased yet
        facts = await asyncio.gather(reads.of("c1", now=now, want_key=False, adapter="web"),
                                     reads.of(None, now=now, want_key=False, adapter="web"))
        assert all(f.granted and not f.adapter_refused for f in facts)
        assert throttle._leases["web"].tokens == 10 - 2  # one block for both
        assert throttle.adapter_token_held("web").allowed  # spent locally, no I/O
        with pool.connection() as conn:
            left = conn.execute(f'SELECT tokens FROM "{schema}".rate_buckets WHERE key = %s',
                                ("a:web",)).fetchone()[0]
        assert 90 <= left < 91  # one block of the shared bucket, no more
    finally:
        await reads.close()
