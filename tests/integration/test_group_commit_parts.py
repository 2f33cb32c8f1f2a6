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
from backbone.store import CONTEXT_FIELDS, EventContext, application_env
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
        p.note()  # two events for every third: 60 events, parts of 8 (six), 6, 5 and 1
    try:
        await asyncio.gather(*[committer.save_async(p, context=EventContext(
            ticket_id=p.ticket_id)) for p in probes])
    finally:
        committer.close()
        pool.close()
    rows = _rows(settings, app)
    expected = [(p.id, v) for p in probes for v in range(1, p.version + 1)]
    assert [(r[0], r[1]) for r in rows] == expected  # the commands' order, versions in order
    assert len({r[2] for r in rows}) == 1  # one transaction for all nine parts
    assert all(r[3] for r in rows)  # every event's messages, made part by part
    assert all(p.pending_events == [] for p in probes)
    assert app.repository.get(probes[0].id).version == 2


def _contexts(settings, app: Application) -> list[tuple[str | None, ...]]:
    """The seven context columns of every row, in notification order."""
    table = Identifier(settings.schema, app.recorder.events_table_name)  # type: ignore[attr-defined]
    with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
        return conn.execute(SQL("SELECT {} FROM {} ORDER BY notification_id").format(
            SQL(", ").join(map(Identifier, CONTEXT_FIELDS)), table)).fetchall()


async def test_each_rows_context_is_its_commands_in_every_part(settings, monkeypatch):
    """The contexts go to the recorder aligned with the events, part by part; a column of one
    value in every row of a part is sent as that value repeated (the constant columns here:
    actor_role everywhere, ticket_code in the first half), the others row by row; a save
    without a context stores NULL in all seven."""
    monkeypatch.setattr(group_commit, "PART_EVENTS", 8)
    app = Application(env=application_env(settings))
    committer = GroupCommitter(app, service=f"probe-{settings.schema}", max_wait_s=0.2)
    bare = Probe(ticket_id=str(uuid.uuid4()))
    app.save(bare)  # no context: NULL in all seven columns
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(30)]
    for p in probes[::2]:
        p.note()
    contexts = [EventContext(ticket_id=p.ticket_id, ticket_code="" if i < 15 else f"编号-{i}",
                             trace_id=f"{i:032x}", actor_role="citizen",
                             actor_id="" if i % 3 else "u-1")
                for i, p in enumerate(probes)]
    try:
        await asyncio.gather(*[committer.save_async(p, context=c)
                               for p, c in zip(probes, contexts, strict=True)])
    finally:
        committer.close()
    rows = _contexts(settings, app)
    assert rows[0] == (None,) * 7
    expected = [tuple(getattr(c, name) for name in CONTEXT_FIELDS)
                for p, c in zip(probes, contexts, strict=True) for _ in range(p.version)]
    assert rows[1:] == expected
    assert len({r[2] for r in _rows(settings, app)[1:]}) == 1  # one transaction


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


def test_part_sizes_cover_the_batch_and_end_with_the_smallest():
    """One part up to PART_EVENTS; above, three (half, 35 %, 15 %), after full parts of
    PART_EVENTS for a batch of more than twice that."""
    assert group_commit.part_sizes(1) == [1]
    assert group_commit.part_sizes(group_commit.PART_EVENTS) == [group_commit.PART_EVENTS]
    assert group_commit.part_sizes(200) == [100, 70, 30]
    for n in range(group_commit.PART_EVENTS + 1, 5 * group_commit.PART_EVENTS):
        sizes = group_commit.part_sizes(n)
        assert sum(sizes) == n and min(sizes) >= 1
        assert sizes[-1] == min(sizes) and max(sizes) <= group_commit.PART_EVENTS


def test_parts_inserted_without_notification_ids_store_the_same_rows(settings):
    """insert_parts(notification_ids=False), the group commit's: no RETURNING (each INSERT's
    row count is checked instead), None returned, the same rows in the same order as with the
    ids read back."""
    app = Application(env=application_env(settings))
    recorder = app.recorder
    mapper = app.events.mapper

    def parts(probes: list[Probe]) -> list[tuple[list, None, list[EventContext]]]:
        events = [e for p in probes for e in p.collect_events()]
        contexts = [EventContext(ticket_id=p.ticket_id) for p in probes for _ in range(p.version)]
        return [([mapper.to_stored_event(e) for e in events[i:i + 3]], None, contexts[i:i + 3])
                for i in range(0, len(events), 3)]

    read_back = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(4)]
    quiet = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(4)]
    for p in (*read_back, *quiet):
        p.note()  # eight events each save, in parts of 3, 3 and 2
    ids = recorder.insert_parts(parts(read_back), tracking=None)  # type: ignore[attr-defined]
    assert ids is not None and len(ids) == 8 and list(ids) == sorted(ids)
    assert recorder.insert_parts(parts(quiet), tracking=None,  # type: ignore[attr-defined]
                                 notification_ids=False) is None
    rows = _rows(settings, app)
    assert [(r[0], r[1]) for r in rows] == [(p.id, v) for p in (*read_back, *quiet)
                                            for v in (1, 2)]
    assert len({r[2] for r in rows[8:]}) == 1  # the quiet save: one transaction
    assert [c[0] for c in _contexts(settings, app)] == [p.ticket_id for p in (*read_back, *quiet)
                                                        for _ in (1, 2)]


async def test_the_next_batchs_first_part_made_while_a_commit_is_in_flight(settings, monkeypatch):
    """While a batch in parts commits, what is queued is taken and made as the next batch's
    first part (`_take_ahead`); the next batch still gathers up to max_batch after it. Still
    one transaction a batch, every event once, in the commands' order, with its messages and
    its command's context; a command whose aggregate is in the committing batch is not made
    ahead (its events are read once that commits)."""
    monkeypatch.setattr(group_commit, "PART_EVENTS", 8)
    used: list[int] = []
    made_ahead = group_commit._made_ahead

    def counting(ahead, pending):
        part = made_ahead(ahead, pending)
        used.append(0 if part is None else len(part[0]))
        return part

    monkeypatch.setattr(group_commit, "_made_ahead", counting)
    app = Application(env=application_env(settings))
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=1, open=True)
    committer = GroupCommitter(app, service=f"probe-{settings.schema}", max_batch=20,
                               max_wait_s=0.2)
    OutboxRelay(settings=settings, app=app, pool=pool,
                translate=translate_to(settings.topic("probe.ahead")), committer=committer)
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(70)]
    commands = [*probes[:25], probes[3], *probes[25:]]  # probes[3] again, in the next batch
    try:
        await asyncio.gather(*[committer.save_async(p, context=EventContext(
            ticket_id=p.ticket_id)) for p in commands])
    finally:
        committer.close()
        pool.close()
    rows = _rows(settings, app)
    assert [(r[0], r[1]) for r in rows] == [(p.id, 1) for p in probes]
    assert all(r[3] for r in rows)
    # 20 commands a batch; the second holds probes[3] again, with no events left to store
    assert [len(rows) for rows in _by_transaction(rows)] == [20, 19, 20, 11]
    assert sum(1 for n in used if n) >= 2  # batches 3 and 4 began with a part made ahead
    contexts = _contexts(settings, app)
    assert [c[CONTEXT_FIELDS.index("ticket_id")] for c in contexts] == [
        p.ticket_id for p in probes]
    assert all(p.pending_events == [] for p in probes)


def _by_transaction(rows: list[tuple]) -> list[list[tuple]]:
    out: list[list[tuple]] = []
    for row in rows:
        if not out or out[-1][-1][2] != row[2]:
            out.append([])
        out[-1].append(row)
    return out
