"""The SLA read model's rows, written as one JSON parameter per table, read back as written:
every column type (uuid, int, bool, text[], timestamptz with microseconds, NULLs), any count
of rows in one statement, and an upsert that keeps a known ticket code."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from services.sla.adapters import readmodel
from services.sla.adapters.readmodel import ClockRow, OrderRow
from tests.integration.sla.harness import DBNAME

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=dt.UTC)


def _clock(n: int, **changes) -> ClockRow:
    row = ClockRow(clock_id=uuid.uuid5(uuid.NAMESPACE_URL, f"c{n}"), ticket_id=f"t{n}",
                   ticket_code=f"FY-{n}", clock_no=n, grade="general", status="running",
                   unit="u1" if n % 2 else None, parent_unit=None, accepted_at=AT,
                   due_at=AT + dt.timedelta(days=n), explanation_due_at=None,
                   sign_for_due_at=AT + dt.timedelta(hours=2), signed_for=bool(n % 2),
                   provisional=False, extension_pending=n if n % 2 else None,
                   next_due_at=AT + dt.timedelta(minutes=n), last_event_at=AT)
    return ClockRow(**{**row.__dict__, **changes})


def _order(n: int) -> OrderRow:
    return OrderRow(order_id=uuid.uuid5(uuid.NAMESPACE_URL, f"o{n}"), ticket_id=f"t{n}",
                    ticket_code=f"FY-{n}", order_key=f"k{n}", unit="u1", kind="overdue",
                    status="open", level=n, addressees=[f"unit:u{n}", "督查室"] if n else [],
                    issued_by="auto-policy", reason="逾期 'quoted' \"text\"", issued_at=AT,
                    answer_due_at=AT + dt.timedelta(days=1), provisional=True,
                    answer_unit=None, answer_text=None, next_due_at=None, last_event_at=AT)


def _read(conn, schema: str, table: str, row_type: type, key: str) -> list:
    names = [f for f in row_type.__dataclass_fields__]
    rows = conn.execute(SQL("SELECT {} FROM {}.{} ORDER BY {}").format(
        SQL(", ").join(map(Identifier, names)), Identifier(schema), Identifier(table),
        Identifier(key))).fetchall()
    return [row_type(**dict(zip(names, r, strict=True))) for r in rows]


def test_rows_read_back_as_written(sla_database, unique):
    schema = f"sla_rows_{unique}"
    settings = sla_database.model_copy(update={"pg_dbname": DBNAME})
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
        try:
            for statement in readmodel.tables(schema):
                conn.execute(statement)
            clocks = [_clock(n) for n in range(1, 5)]
            clocks[1] = _clock(2, explained_at=AT, explained_late=True)
            orders = [_order(n) for n in range(3)]
            with conn.cursor() as cur:
                readmodel.write_rows(cur, schema, clocks, orders)
                readmodel.write_rows(cur, schema, [_clock(9)], [])  # one row, same statement
            assert _read(conn, schema, "sla_clocks", ClockRow, "clock_no") == [*clocks, _clock(9)]
            assert sorted(_read(conn, schema, "sla_orders", OrderRow, "level"),
                          key=lambda o: o.level) == orders
            # an upsert without a code keeps the known one; the other columns are replaced
            with conn.cursor() as cur:
                readmodel.write_rows(cur, schema, [_clock(1, ticket_code="", status="met",
                                                          next_due_at=None)], [])
            first = _read(conn, schema, "sla_clocks", ClockRow, "clock_no")[0]
            assert first == _clock(1, status="met", next_due_at=None)
        finally:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))


def test_a_clocks_table_made_before_the_explanation_columns_gets_them(sla_database, unique):
    """A deployment's sla_clocks of before: starting the service adds the two columns; its
    rows read NULL (no explanation recorded) until their clock's next change."""
    schema = f"sla_old_{unique}"
    settings = sla_database.model_copy(update={"pg_dbname": DBNAME})
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
        try:
            old = readmodel.tables(schema)[0].as_string(conn).replace(
                ", explained_at timestamptz, explained_late bool", "")
            assert "explained" not in old
            conn.execute(old)
            conn.execute(SQL("INSERT INTO {}.sla_clocks (clock_id, ticket_id, ticket_code,"
                             " clock_no, grade, status, accepted_at, due_at, signed_for,"
                             " provisional, last_event_at) VALUES (gen_random_uuid(), 't', 'FY-1',"
                             " 1, 'general', 'running', now(), now(), false, false, now())"
                             ).format(Identifier(schema)))
            for _ in range(2):  # a second start finds them there
                for statement in readmodel.tables(schema):
                    conn.execute(statement)
            assert conn.execute(SQL("SELECT explained_at, explained_late FROM {}.sla_clocks")
                                .format(Identifier(schema))).fetchall() == [(None, None)]
        finally:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))
