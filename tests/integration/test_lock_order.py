"""Two processes' saves that lock the same shared rows never deadlock: the statements that name
a `lock` run first, in the order of their names (backbone.store.in_lock_order).

Two intake replicas' group commits each hold a batch with a claim or hold of the same two
citizens' keys, in opposite orders: each transaction locked its first row and waited for
the other's, until PostgreSQL broke the cycle after `deadlock_timeout` (1 s) by failing one,
which was then tried again (sessions 18-21 noted it and left it). Here the cycle is made
certain by a pause between the two locks, as a batch's other statements make one."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from eventsourcing.application import Application
from psycopg.sql import SQL, Identifier

from backbone.store import EventContext, Statement, application_env, in_lock_order
from tests.probes import Probe
from tests.scratch import scratch_settings

pytestmark = pytest.mark.integration

PAUSE = "SELECT pg_sleep(0.3)"  # long enough for the other transaction to take its first row


@pytest.fixture
def settings(infra, unique):
    settings = scratch_settings(infra, unique)
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE TABLE {}.shared_rows (k text PRIMARY KEY)")
                     .format(Identifier(settings.schema)))
        conn.execute(SQL("INSERT INTO {}.shared_rows VALUES ('a'), ('b')")
                     .format(Identifier(settings.schema)))
        conn.execute(SQL("CREATE SEQUENCE {}.attempts").format(Identifier(settings.schema)))
    yield settings
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(settings.schema)))


def _lock(schema: str, key: str) -> Statement:
    return Statement(SQL("SELECT k FROM {}.shared_rows WHERE k = %s FOR UPDATE")
                     .format(Identifier(schema)), (key,), lock=f"shared_rows:{key}")


def _attempt(schema: str) -> Statement:
    """Counts the transaction's tries (a sequence does not roll back), then pauses."""
    return Statement(SQL("SELECT nextval({}), pg_sleep(0.3)")
                     .format(psycopg.sql.Literal(f"{schema}.attempts")))


def _together(*runs) -> list[BaseException | None]:
    """Runs each callable in its own thread, started together; each one's error or None."""
    start = threading.Barrier(len(runs))
    errors: list[BaseException | None] = [None] * len(runs)

    def run(i: int) -> None:
        start.wait()
        try:
            runs[i]()
        except BaseException as exc:  # reported by the test
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(runs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return errors


def test_the_rows_in_opposite_orders_deadlock(settings) -> None:
    """What the order prevents: the same statements as given, on two connections."""
    s = settings.schema

    def transaction(first: str, second: str) -> None:
        with psycopg.connect(settings.pg_conninfo()) as conn, conn.transaction():
            for statement in (_lock(s, first), Statement(PAUSE), _lock(s, second)):
                conn.execute(statement.sql, statement.params)

    errors = _together(lambda: transaction("a", "b"), lambda: transaction("b", "a"))
    assert sum(isinstance(e, psycopg.errors.DeadlockDetected) for e in errors) == 1, errors


def test_the_same_statements_in_lock_order_do_not(settings) -> None:
    s = settings.schema

    def transaction(first: str, second: str) -> None:
        given = [_lock(s, first), Statement(PAUSE), _lock(s, second)]
        with psycopg.connect(settings.pg_conninfo()) as conn, conn.transaction():
            for statement in in_lock_order(given):
                conn.execute(statement.sql, statement.params)

    assert _together(lambda: transaction("a", "b"), lambda: transaction("b", "a")) == [None, None]


def test_two_stores_saving_the_rows_in_opposite_orders_commit_at_the_first_try(settings) -> None:
    """Through the store's save, as two processes' group commits run their batches'
    statements: both commit, each at its first try (a deadlock fails one, and the store tries
    it again: the attempts' count would be 3)."""
    s = settings.schema
    apps = [Application(env=application_env(settings)) for _ in range(2)]
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(2)]
    try:
        def save(i: int, first: str, second: str) -> None:
            apps[i].save(probes[i], context=EventContext(ticket_id=probes[i].ticket_id),
                         sql=[_lock(s, first), _attempt(s), _lock(s, second)])

        assert _together(lambda: save(0, "a", "b"), lambda: save(1, "b", "a")) == [None, None]
        with psycopg.connect(settings.pg_conninfo()) as conn:
            attempts = conn.execute(SQL("SELECT last_value FROM {}.attempts")
                                    .format(Identifier(s))).fetchone()
        assert attempts == (2,)
        assert all(apps[0].repository.get(p.id).version == 1 for p in probes)
    finally:
        for app in apps:
            app.close()

