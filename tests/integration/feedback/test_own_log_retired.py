"""`feedback_state` is written with the record; the own-log projection it came from before
is retired. After an upgrade, what that projection had not projected yet is projected once
at start (adapters/own_log.finish), and its position removed."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool
from upstream import T0

from backbone.store import application_env
from services.feedback.adapters import own_log
from services.feedback.application.app import FeedbackApplication
from services.feedback.application.state_projection import PROJECTED, projector
from services.feedback.domain.policy import load_feedback_policy
from services.feedback.domain.rating import TicketFeedback

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_what_the_retired_projection_left_is_projected_once(service):
    settings = service.settings
    s = Identifier(settings.schema)
    app = FeedbackApplication(env=application_env(settings))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    try:
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            last = conn.execute(SQL("SELECT coalesce(max(notification_id), 0) FROM"
                                    " {}.feedback_events").format(s)).fetchone()[0]
            # as the previous version left it: its loop stood at `last`
            conn.execute(SQL("INSERT INTO {}.relay_positions (relay, last_notification_id)"
                             " VALUES ('projection:state', %s)").format(s), (last,))
        # a record saved by the previous version, whose row that loop never wrote
        ticket_id = str(uuid.uuid4())
        record = TicketFeedback.open(ticket_id=ticket_id, ticket_code="FY-LEFT-1",
                                     citizen_ids=["c-left"], channel="web", category="",
                                     policy=load_feedback_policy(), at=T0)
        app.save(record)

        def finish() -> int:
            return own_log.finish(app=app, pool=pool, schema=settings.schema,
                                  apply=projector(app, settings.schema), wanted=PROJECTED)

        assert finish() >= 1
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            row = conn.execute(SQL("SELECT ticket_code, status FROM {}.feedback_state"
                                   " WHERE ticket_id = %s").format(s), (ticket_id,)).fetchone()
            assert row == ("FY-LEFT-1", record.status.value)
            assert conn.execute(SQL("SELECT count(*) FROM {}.relay_positions WHERE relay ="
                                    " 'projection:state'").format(s)).fetchone()[0] == 0
        assert finish() == 0  # once: the position is gone
    finally:
        pool.close()
        app.close()
