"""Rate limits hold across intake's replicas: the buckets are rows in PostgreSQL, so two
replicas (two throttles on one schema) together let a citizen through as often as one would."""

from __future__ import annotations

import threading
import uuid

import pytest
from psycopg_pool import ConnectionPool

from backbone.settings import ServiceSettings
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
