"""Group commit's batches made and sent in parts (backbone.group_commit.PART_EVENTS): still one
transaction a batch, its notification ids in the order the commands came, every event's
messages in its row; a clash in a later part fails the whole batch (nothing of the parts sent
before it commits) and each command is retried alone."""

from __future__ import annotations

import asyncio
import copy
import uuid

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import group_commit
from backbone.group_commit import GroupCommitter
from backbone.relay import OutboxRelay
from backbone.store import EventContext, application_env
from tests.probes import Probe, translate_to
from tests.scratch import scratch_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(infra, unique):
    return scratch_settings(infra, unique)


def _rows(settings, app: Application) -> list[tuple[uuid.UUID, int, str, bool]]:
    """(originator id, version, the inserting transaction, messages stored) in notification
    order."""
    table = Identifier(settings.schema, app.recorder.events_table_name)  # type: ignore[attr-defined]
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        return conn.execute(SQL("SELECT originator_id, originator_version, xmin::text,"
                                " outgoing IS NOT NULL FROM {} ORDER BY notification_id")
                            .format(table)).fetchall()


async def test_a_batch_in_parts_is_one_transaction_in_the_commands_order(settings, monkeypatch):
    monkeypatch.setattr(group_commit, "PART_EVENTS", 8)
    app = Application(env=application_env(settings))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=1, open=True)
    committer = GroupCommitter(app, service=f"probe-{settings.schema}", max_wait_s=0.2)
    OutboxRelay(settings=settings, app=app, pool=pool,
                translate=translate_to(settings.topic("probe.parts")), committer=committer)
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(45)]
    for p in probes[::3]:
        p.note()  # two events for every third: 60 events, parts of 8 (the last of 4)
    try:
        await asyncio.gather(*[committer.save_async(p, context=EventContext(
            ticket_id=p.ticket_id)) for p in probes])
    finally:
        committer.close()
        pool.close()
    rows = _rows(settings, app)
    expected = [(p.id, v) for p in probes for v in range(1, p.version + 1)]
    assert [(r[0], r[1]) for r in rows] == expected  # the commands' order, versions in order
    assert len({r[2] for r in rows}) == 1  # one transaction for all eight parts
    assert all(r[3] for r in rows)  # every event's messages, made part by part
    assert all(p.pending_events == [] for p in probes)
    assert app.repository.get(probes[0].id).version == 2


async def test_a_clash_in_a_later_part_rolls_back_the_batch_and_the_others_commit_alone(
        settings, monkeypatch):
    monkeypatch.setattr(group_commit, "PART_EVENTS", 4)
    app = Application(env=application_env(settings))
    taken = Probe(ticket_id=str(uuid.uuid4()))
    clash = copy.deepcopy(taken)  # the same aggregate created twice: its version 1 will exist
    app.save(taken, context=EventContext(ticket_id=taken.ticket_id))
    committer = GroupCommitter(app, service=f"probe-{settings.schema}", max_wait_s=0.2)
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(12)]
    for p in probes:
        p.note()  # two events each: the clash sits in the seventh part of eight
    try:
        results = await asyncio.gather(
            *[committer.save_async(p, context=EventContext(ticket_id=p.ticket_id))
              for p in [*probes[:11], clash, probes[11]]], return_exceptions=True)
    finally:
        committer.close()
    assert isinstance(results[11], IntegrityError)
    assert [r for i, r in enumerate(results) if i != 11] == [None] * 12
    rows = _rows(settings, app)
    assert [(r[0], r[1]) for r in rows[1:]] == [(p.id, v) for p in probes for v in (1, 2)]
    # each command committed alone, in order: the parts sent before the clash were rolled back
    assert len({r[2] for r in rows[1:]}) == 12
    assert clash.pending_events == [] and all(p.pending_events == [] for p in probes)
