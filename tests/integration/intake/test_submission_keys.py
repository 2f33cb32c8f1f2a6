"""A request id makes one ticket: its key is a row written with the ticket (no aggregate), and
keys recorded before the row existed (SubmissionKey aggregates) still answer a retry."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from services.intake.application.submissions import SubmissionKey
from services.intake.bootstrap import build_application
from tests.integration.intake.samples import sample

pytestmark = pytest.mark.integration


def _conn(intake):
    return psycopg.connect(intake.settings.pg_conninfo(), autocommit=True)


async def test_racing_retries_make_one_ticket_and_one_key_row(intake):
    payload = {**sample("web"), "request_id": uuid.uuid4().hex}
    async with intake.client(sub=f"adapter-{uuid.uuid4().hex[:6]}") as http:
        # four at once (each attempt takes one of the citizen's five tokens before it saves)
        answers = await asyncio.gather(*[http.post("/v1/requests", json=payload)
                                         for _ in range(4)])
    assert sorted(a.status_code for a in answers) == [200] * 3 + [201], \
        [a.text for a in answers]
    codes = {a.json()["code"] for a in answers}
    assert len(codes) == 1
    assert sum(a.json()["replayed"] for a in answers) == 3
    s = Identifier(intake.settings.schema)
    with _conn(intake) as conn:
        rows = conn.execute(SQL("SELECT ticket_code FROM {}.submission_keys WHERE ticket_code = %s")
                            .format(s), (codes.pop(),)).fetchall()
        aggregates = conn.execute(SQL("SELECT count(*) FROM {}.intake_events"
                                      " WHERE topic LIKE %s").format(s),
                                  ("%SubmissionKey%",)).fetchone()
    assert len(rows) == 1
    assert aggregates == (0,)  # the key is no event any more


async def test_a_key_recorded_as_an_aggregate_still_answers_the_retry(intake):
    adapter = f"adapter-{uuid.uuid4().hex[:6]}"
    payload = {**sample("web"), "request_id": uuid.uuid4().hex}
    async with intake.client(sub=adapter) as http:
        first = await http.post("/v1/requests", json=payload)
        assert first.status_code == 201, first.text
        code = first.json()["code"]
        # as a deployment before the row stored it: the key an aggregate, no row
        key_id = SubmissionKey.create_id(adapter, payload["request_id"])
        with _conn(intake) as conn:
            conn.execute(SQL("DELETE FROM {}.submission_keys WHERE key_id = %s")
                         .format(Identifier(intake.settings.schema)), (key_id,))
        app = build_application(intake.settings)
        try:
            app.save(SubmissionKey(adapter_id=adapter, idempotency_key=payload["request_id"],
                                   ticket_code=code))
        finally:
            app.close()
        retry = await http.post("/v1/requests", json=payload)
    assert retry.status_code == 200, retry.text
    assert retry.json()["code"] == code and retry.json()["replayed"] is True
