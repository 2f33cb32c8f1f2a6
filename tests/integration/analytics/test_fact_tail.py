"""The live state's tail of the facts table: a fact committed after a later one (another
replica, the consumer's next transaction) is read once it commits, within the grace; a seq
that never arrives (a rolled-back transaction's) is given up after the grace; rows already
read are not read again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import ensure_database
from services.analytics.adapters.fact_store import FactTail, create_tables, insert_facts
from services.analytics.domain.facts import Fact
from services.analytics.settings import AnalyticsSettings

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def fact(ticket: str) -> Fact:
    return Fact(str(uuid.uuid4()), ticket, "submitted", AT, {"channel": "wechat"})


def test_late_commits_are_read_once_and_missing_seqs_given_up_after_the_grace(infra, unique):
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"tail_{unique}")
    ensure_database(settings)
    clock = [100.0]
    with ConnectionPool(settings.pg_conninfo(), min_size=3, max_size=3) as pool:
        try:
            create_tables(pool, settings.schema)
            tail = FactTail(pool, settings.schema, grace_s=5.0, now=lambda: clock[0])
            known: set[str] = set()

            def read() -> list[str]:
                got = tail.read(lambda event_id, ticket_id: event_id in known)
                known.update(f.event_id for f in got)
                return sorted(f.ticket_id for f in got)

            with pool.connection() as first:
                insert_facts(first.cursor(), settings.schema, [fact("a")])
            assert read() == ["a"]
            # a transaction takes seqs and commits late; one takes a seq and rolls back
            late, lost = pool.getconn(), pool.getconn()
            try:
                insert_facts(late.cursor(), settings.schema, [fact("late-1"), fact("late-2")])
                insert_facts(lost.cursor(), settings.schema, [fact("lost")])
                with pool.connection() as other:
                    insert_facts(other.cursor(), settings.schema, [fact("b")])
                assert read() == ["b"]
                assert len(tail.gaps) == 3
                late.commit()
                lost.rollback()
            finally:
                pool.putconn(late)
                pool.putconn(lost)
            clock[0] += 4.0  # within the grace
            assert read() == ["late-1", "late-2"]
            assert len(tail.gaps) == 1  # the rolled-back seq
            assert read() == []
            clock[0] += 2.0  # past the grace since it was missed
            assert read() == []
            assert tail.gaps == {}
            with pool.connection() as conn:
                insert_facts(conn.cursor(), settings.schema, [fact("c")])
            assert read() == ["c"]
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    Identifier(settings.schema)))
