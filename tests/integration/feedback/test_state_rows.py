"""`feedback_state` rows written several at once (one JSON parameter) are the rows written one
by one (one row of parameters each); the decisions consumer's batch writes its records' rows
as one statement, each record's row as of its last change in the batch."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from upstream import T0

from backbone.consumer import UnitOfWork
from backbone.store import application_env
from services.feedback.adapters.read_models import feedback_state_statement
from services.feedback.application.app import FeedbackApplication
from services.feedback.application.state_projection import state_row
from services.feedback.application.upstream import Upstream
from services.feedback.domain.policy import load_feedback_policy
from services.feedback.domain.rating import TicketFeedback

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def _records() -> list[TicketFeedback]:
    """Three records in different states: opened; answered (a due time with microseconds);
    answered, rated and closed (a verdict, no due time)."""
    policy = load_feedback_policy()
    out = []
    for n in range(3):
        fb = TicketFeedback.open(ticket_id=str(uuid.uuid4()), ticket_code=f"FY-ROWS-{n}",
                                 citizen_ids=[f"c-rows-{n}"], channel="web", category="",
                                 policy=policy, at=T0 + timedelta(microseconds=n))
        if n >= 1:
            fb.deliver_reply(unit_code="u-7", reply_outcome="resolved", reply_text="已处理",
                             delivered_at=T0 + timedelta(seconds=n, microseconds=123457))
        if n == 2:
            fb.rate(citizen_id="c-rows-2", rating="satisfied", comment="",
                    at=T0 + timedelta(seconds=9, microseconds=5))
            fb.close(at=T0 + timedelta(seconds=9, microseconds=6))
        out.append(fb)
    return out


def _read(conn: psycopg.Connection, schema: str, ids: list[str]) -> list[tuple]:
    return conn.execute(SQL("SELECT * FROM {}.feedback_state WHERE ticket_id = ANY(%s)"
                            " ORDER BY ticket_id").format(Identifier(schema)), (ids,)).fetchall()


def _delete(conn: psycopg.Connection, schema: str, ids: list[str]) -> None:
    conn.execute(SQL("DELETE FROM {}.feedback_state WHERE ticket_id = ANY(%s)").format(
        Identifier(schema)), (ids,))


async def test_rows_at_once_are_the_rows_one_by_one(service):
    schema = service.settings.schema
    records = _records()
    ids = [fb.ticket_id for fb in records]
    rows = [state_row(fb) for fb in records]
    with psycopg.connect(service.settings.pg_conninfo(), autocommit=True) as conn:
        try:
            for row in rows:
                st = feedback_state_statement(schema, [row])
                conn.execute(st.sql, st.params)
            one_by_one = _read(conn, schema, ids)
            assert len(one_by_one) == 3
            assert {r[0]: r for r in one_by_one}[ids[1]][10] == rows[1].rating_due_at
            _delete(conn, schema, ids)

            st = feedback_state_statement(schema, rows)
            conn.execute(st.sql, st.params)
            assert _read(conn, schema, ids) == one_by_one
            conn.execute(st.sql, st.params)  # again: an upsert, the same rows
            assert _read(conn, schema, ids) == one_by_one
        finally:
            _delete(conn, schema, ids)


async def test_a_batch_writes_its_records_rows_once_as_they_end(service):
    schema = service.settings.schema
    app = FeedbackApplication(env=application_env(service.settings))
    records = _records()
    ids = [fb.ticket_id for fb in records]
    try:
        upstream = Upstream(load_feedback_policy(), schema=schema)
        uow = UnitOfWork(app)
        for fb in records:
            upstream._keep(uow, fb)
        first = records[0]  # changed again later in the batch: its row is the last state
        first.deliver_reply(unit_code="u-9", reply_outcome="explained",
                            delivered_at=T0 + timedelta(minutes=1, microseconds=77))
        upstream._keep(uow, first)
        assert len(uow.statements) == 1
        with psycopg.connect(service.settings.pg_conninfo(), autocommit=True) as conn:
            try:
                st = uow.statements[0]
                conn.execute(st.sql, st.params)
                written = _read(conn, schema, ids)
                _delete(conn, schema, ids)
                for fb in records:
                    one = feedback_state_statement(schema, [state_row(fb)])
                    conn.execute(one.sql, one.params)
                assert written == _read(conn, schema, ids)
                assert {r[0]: r for r in written}[first.ticket_id][3] == "u-9"
            finally:
                _delete(conn, schema, ids)
        # another batch: its own statement
        other = UnitOfWork(app)
        upstream._keep(other, records[1])
        assert len(other.statements) == 1 and len(uow.statements) == 1
    finally:
        app.close()
