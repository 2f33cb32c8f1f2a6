"""A rebuild drops the facts table's lookup indexes before its COPY and makes them again after
it, in its one transaction (session 21: the database's index work moved out of the streaming,
into the KPI fold's time); since session 24 its keys too (the primary key and the unique event
id: their indexes built once after the COPY, not row by row). The table comes out of a rebuild
with the indexes and constraints `create_tables` makes, the facts the ledger gives; a rebuild
that fails (its fold raises, or two of its facts have one event id) leaves the table as it
was, rows, indexes and constraints."""

from __future__ import annotations

import psycopg
import pytest
from minsheng.v1.envelope_pb2 import Envelope
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import ensure_database
from services.analytics.adapters.fact_store import SECONDARY_INDEXES, create_tables
from services.analytics.application import rebuild as rebuild_module
from services.analytics.application.rebuild import fold_envelopes, rebuild, stored_state
from services.analytics.entrypoints.consumer import CONSUMER
from services.analytics.settings import AnalyticsSettings
from tests.integration.analytics.month import simulate

pytestmark = pytest.mark.integration


def _indexes(pool: ConnectionPool, schema: str) -> dict[str, str]:
    with pool.connection() as conn:
        rows = conn.execute("SELECT indexname, indexdef FROM pg_indexes"
                            " WHERE schemaname = %s AND tablename = 'facts'", (schema,)).fetchall()
    return {name: definition.replace(f"{schema}.", "S.") for name, definition in rows}


def _constraints(pool: ConnectionPool, schema: str) -> list[tuple[object, ...]]:
    """Every constraint of the table (keys, not-nulls), its type and definition."""
    with pool.connection() as conn:
        return conn.execute("SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
                            " WHERE conrelid = (quote_ident(%s) || '.facts')::regclass"
                            " ORDER BY conname, contype", (schema,)).fetchall()


def _rows(pool: ConnectionPool, schema: str) -> list[tuple[object, ...]]:
    with pool.connection() as conn:
        return conn.execute(SQL("SELECT seq, event_id, ticket_id, kind, at, attrs::text"
                                " FROM {}.facts ORDER BY seq").format(Identifier(schema))).fetchall()


def _drop(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def test_a_rebuild_leaves_the_indexes_create_tables_makes(infra, unique) -> None:
    raws = [e.SerializeToString() for e in simulate(seed=5, per_unit=2).envelopes]
    expected = fold_envelopes(raws)
    made = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"idx_made_{unique}")
    rebuilt = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"idx_rebuilt_{unique}")
    fresh = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"idx_fresh_{unique}")
    for settings in (made, rebuilt, fresh):
        ensure_database(settings)
    with ConnectionPool(made.pg_conninfo(), min_size=1, max_size=2) as pool:
        try:
            create_tables(pool, made.schema)
            want = _indexes(pool, made.schema)
            assert set(SECONDARY_INDEXES) <= set(want)
            keys = _constraints(pool, made.schema)
            assert {kind for _, kind, _ in keys} >= {"p", "u"}
            # into a table the service made (twice: a rebuild of a rebuilt table), and into a
            # schema with no table yet
            create_tables(pool, rebuilt.schema)
            for schema in (rebuilt.schema, rebuilt.schema, fresh.schema):
                done = rebuild(pool, schema, CONSUMER, (("", raw) for raw in raws))
                assert done.digest == expected.digest
                assert _indexes(pool, schema) == want
                assert _constraints(pool, schema) == keys
                assert stored_state(pool, schema).digest == expected.digest
            assert _rows(pool, rebuilt.schema) == _rows(pool, fresh.schema)
        finally:
            for settings in (made, rebuilt, fresh):
                _drop(pool, settings.schema)


def test_a_rebuild_whose_fold_fails_changes_nothing(infra, unique, monkeypatch) -> None:
    raws = [e.SerializeToString() for e in simulate(seed=6, per_unit=2).envelopes]
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"idx_fail_{unique}")
    ensure_database(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
        try:
            create_tables(pool, settings.schema)
            first = rebuild(pool, settings.schema, CONSUMER, (("", raw) for raw in raws[:300]))
            rows, indexes = _rows(pool, settings.schema), _indexes(pool, settings.schema)
            assert rows and set(SECONDARY_INDEXES) <= set(indexes)

            class Failing:
                @staticmethod
                def of_tickets(tickets):
                    raise ValueError("the fold failed")

            keys = _constraints(pool, settings.schema)
            monkeypatch.setattr(rebuild_module, "LiveKpis", Failing)
            with pytest.raises(ValueError, match="the fold failed"):
                rebuild(pool, settings.schema, CONSUMER, (("", raw) for raw in raws))
            assert _rows(pool, settings.schema) == rows
            assert _indexes(pool, settings.schema) == indexes
            assert _constraints(pool, settings.schema) == keys
            monkeypatch.undo()
            assert stored_state(pool, settings.schema).digest == first.digest
        finally:
            _drop(pool, settings.schema)


def test_a_rebuild_with_one_event_id_twice_fails_and_changes_nothing(infra, unique) -> None:
    """An event id the ledger holds twice in two of uuid's forms (the rebuild keeps facts by
    the id's text): the second row breaks the unique event id, whose index is built after the
    COPY; the rebuild fails as a COPY into the index did (UniqueViolation) and rolls back."""
    raws = [e.SerializeToString() for e in simulate(seed=7, per_unit=2).envelopes]
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"idx_twice_{unique}")
    ensure_database(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
        try:
            create_tables(pool, settings.schema)
            rebuild(pool, settings.schema, CONSUMER, (("", raw) for raw in raws[:300]))
            before = (_rows(pool, settings.schema), _indexes(pool, settings.schema),
                      _constraints(pool, settings.schema))
            again = Envelope.FromString(raws[0])
            assert again.event_type == "TicketSubmitted"
            again.event_id = again.event_id.upper()  # the same uuid
            with pytest.raises(psycopg.errors.UniqueViolation):
                rebuild(pool, settings.schema, CONSUMER,
                        (("", raw) for raw in [*raws, again.SerializeToString()]))
            assert (_rows(pool, settings.schema), _indexes(pool, settings.schema),
                    _constraints(pool, settings.schema)) == before
        finally:
            _drop(pool, settings.schema)
