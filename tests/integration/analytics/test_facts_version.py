"""An upgrade over a facts table an older version filled (upgrade rehearsal, helper-134): its
normalisers made no facts of some audited events (before 2b73f29 an AssignmentWithdrawn made
none), those events are long consumed, so the table and the KPIs stayed short of a rebuild
from the ledger. At start the service now finds the table's version older than its own and
rebuilds it from the ledger first; a table of its own version, or an empty one, is left as is."""

from __future__ import annotations

import pytest
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import ensure_database
from services.analytics.adapters.fact_store import create_tables, fact_copy
from services.analytics.application import facts_version
from services.analytics.application.rebuild import collect_facts, fold_envelopes, stored_state
from services.analytics.entrypoints.consumer import CONSUMER
from services.analytics.settings import AnalyticsSettings
from tests.integration.analytics.month import simulate

pytestmark = pytest.mark.integration


def _version_row(pool: ConnectionPool, schema: str) -> int | None:
    with pool.connection() as conn:
        row = conn.execute(SQL("SELECT version FROM {}.facts_version")
                           .format(Identifier(schema))).fetchone()
    return None if row is None else row[0]


def test_an_older_versions_facts_are_rebuilt_from_the_ledger_at_start(infra, unique) -> None:
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"facts_v_{unique}")
    ensure_database(settings)
    raws = [e.SerializeToString() for e in simulate(seed=11, per_unit=2).envelopes]
    ledger = fold_envelopes(raws)
    _, _, _, tickets = collect_facts(("", raw) for raw in raws)
    every = [f for facts in tickets.values() for f in facts.values()]
    # the table as an older version left it: no facts of one kind, no version row
    old = [f for f in every if f.kind != "rated"]
    assert len(old) < len(every)
    opened = []

    def source():
        opened.append(1)
        return (("", raw) for raw in raws)

    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
        try:
            create_tables(pool, settings.schema)
            with pool.connection() as conn, conn.transaction(), conn.cursor() as cur, \
                    fact_copy(cur, settings.schema) as keep:
                keep(old)
            assert stored_state(pool, settings.schema).digest != ledger.digest

            done = facts_version.bring_up_to_date(pool, settings.schema, CONSUMER, source,
                                                  wait_s=0)
            assert done is not None and done.facts == len(every)
            assert stored_state(pool, settings.schema).digest == ledger.digest
            assert _version_row(pool, settings.schema) == facts_version.FACTS_VERSION
            # the next start finds its own version: no second rebuild
            assert facts_version.bring_up_to_date(pool, settings.schema, CONSUMER, source,
                                                  wait_s=0) is None
            assert opened == [1]
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                             .format(Identifier(settings.schema)))


def test_a_fresh_table_is_only_marked(infra, unique) -> None:
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"facts_f_{unique}")
    ensure_database(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
        try:
            create_tables(pool, settings.schema)

            def never():
                raise AssertionError("a fresh table needs no ledger")

            assert facts_version.bring_up_to_date(pool, settings.schema, CONSUMER, never,
                                                  wait_s=0) is None
            assert _version_row(pool, settings.schema) == facts_version.FACTS_VERSION
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                             .format(Identifier(settings.schema)))
