"""The read model's one statement per save (adapters/recorder.py): the rows a history leaves,
a hand-over releasing the units that lost the ticket, unchanged rows not rewritten, and ticket
updates out of a queue HOT-able (no indexed column changes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from services.dispatch.adapters.recorder import apply_changes, readmodel_tables, text_array
from services.dispatch.application.projection import change_for
from services.dispatch.domain.ticket_dispatch import TicketDispatch

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def db(infra, unique):
    schema = f"dispatch_rm_{unique}"
    with psycopg.connect(infra.pg_conninfo(), autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
        for statement in readmodel_tables(schema):
            conn.execute(statement)
        try:
            yield conn, schema
        finally:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))


def save(conn, schema: str, d: TicketDispatch) -> None:
    change = change_for(d, list(d.pending_events))
    d.collect_events()
    with conn.transaction(), conn.cursor() as cur:
        apply_changes(cur, schema, [change])


def rows(conn, schema: str, d: TicketDispatch) -> dict[str, tuple]:
    found = conn.execute(SQL("SELECT unit, role, status, assignment_no, updated_at FROM"
                             " {}.dispatch_assignments WHERE dispatch_id = %s").format(
        Identifier(schema)), (d.id,)).fetchall()
    return {unit: rest for unit, *rest in found}


def test_a_history_leaves_the_rows_each_unit_should_see(db):
    conn, schema = db
    d = TicketDispatch.open(ticket_id="t-1", ticket_code="FY-1", at=T0)
    d.note_request(channel="web", title_masked="", text_masked="路灯不亮", category_hint="",
                   place={"address_masked": "颍州区清河路", "county": "yingzhou"}, at=T0)
    d.queue_for_dispatcher(reason="置信度低", suggested_unit="power", confidence=0.4, at=T0)
    save(conn, schema, d)
    queued = conn.execute(SQL("SELECT queue, queued_at FROM {}.dispatch_tickets").format(
        Identifier(schema))).fetchone()
    assert queued == ("unrouted", T0)
    d.classify(by="dispatcher-1", category="utilities", subcategory="power-supply",
               request_type="complaint", urgency="general", confidence=1.0, source="dispatcher")
    d.assign(unit="power", by="dispatcher-1", at=T0 + H, reason="供电")
    save(conn, schema, d)
    assert rows(conn, schema, d) == {"power": ["lead", "assigned", 1, T0 + H]}
    labels = conn.execute(SQL("SELECT (SELECT count(*) FROM {s}.classification_labels),"
                              " (SELECT count(*) FROM {s}.routing_labels)").format(
        s=Identifier(schema))).fetchone()
    assert labels == (1, 1)
    d.bounce_back(unit="power", reason="不归我们", at=T0 + 2 * H)
    d.coordinate(by="dispatcher-1", lead_unit="yingzhou", co_units=["power"], decision="决定",
                 at=T0 + 3 * H)
    save(conn, schema, d)  # one save: power bounced, then back as a co-handling unit
    assert rows(conn, schema, d) == {
        "power": ["co_handling", "co_handling", 2, T0 + 3 * H],
        "yingzhou": ["lead", "assigned", 2, T0 + 3 * H]}
    d.sign_for(unit="yingzhou", at=T0 + 4 * H)
    save(conn, schema, d)  # the co-handling row's content is unchanged: not rewritten
    assert rows(conn, schema, d) == {
        "power": ["co_handling", "co_handling", 2, T0 + 3 * H],
        "yingzhou": ["lead", "signed_for", 2, T0 + 4 * H]}
    d.transfer(by="dispatcher-1", to_unit="water", reason="供水", at=T0 + 5 * H)
    save(conn, schema, d)
    now = rows(conn, schema, d)
    assert now["yingzhou"][1] == "transferred" and now["water"][:3] == ["lead", "assigned", 3]
    ticket = conn.execute(SQL("SELECT queue, queued_at, version FROM {}.dispatch_tickets")
                          .format(Identifier(schema))).fetchone()
    assert ticket == (None, None, d.version)


def test_text_arrays_are_sent_as_literals_postgresql_reads_back_equal(db):
    conn, _ = db
    for values in ([], ["yingzhou"], ["a\"b", "c\\d", "", "x y,z{}", "NULL", "颍州区"]):
        literal = text_array(values)
        assert isinstance(literal, str)
        assert conn.execute("SELECT %s::text[]", (literal,)).fetchone() == (values,)
    assert text_array([None, "a"]) == [None, "a"]  # not all strings: psycopg dumps the list
