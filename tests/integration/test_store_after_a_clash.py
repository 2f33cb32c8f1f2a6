"""Copies of one request saved at once (a replayed request, an adapter's retries): one is
stored, every other copy fails with IntegrityError, and the pooled connection the clash used
is good for the next saves, anyone's.

On the running platform a burst of copies left intake's connections believing in prepared
statements the server had skipped (psycopg prepares a statement at its fifth use; a Parse
after an error in a pipeline is skipped), and later saves failed with `prepared statement
"_pg3_…" does not exist`: 500s to 15-30 % of all submissions until a restart (session 17).
The store now forgets its prepared statements after any failed save (store.forget_prepared,
as the consumer did). This in-process run does not reproduce that fault (its clash ends in a
ROLLBACK, on which psycopg forgets them itself); it holds the behaviour around it."""

from __future__ import annotations

import asyncio
import copy
import uuid

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
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


def _context(probe: Probe) -> EventContext:
    return EventContext(ticket_id=probe.ticket_id)


async def test_copies_saved_together_leave_the_connection_good(settings, monkeypatch) -> None:
    # an event a part: the copies are rows of one executemany, whose statement psycopg
    # prepares at its fifth use, after the clash at the second (the server skips its Parse)
    monkeypatch.setattr(group_commit, "PART_EVENTS", 1)
    # one connection, so every save below takes the one the clash used
    app = Application(env=application_env(settings) | {"POSTGRES_POOL_SIZE": "1",
                                                       "POSTGRES_MAX_OVERFLOW": "0"})
    committer = GroupCommitter(app, service=f"probe-{settings.schema}", max_wait_s=0.2)
    # a relay's messages made at commit, as intake's are (the store's executemany path)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=1, open=True)
    OutboxRelay(settings=settings, app=app, pool=pool,
                translate=translate_to(settings.topic("probe.clash")), committer=committer)
    try:
        first = Probe(ticket_id=str(uuid.uuid4()))
        copies = [first, *(copy.deepcopy(first) for _ in range(7))]  # one request, 8 times
        got = await asyncio.gather(*[committer.save_async(c, context=_context(c))
                                     for c in copies], return_exceptions=True)
        assert sum(isinstance(g, IntegrityError) for g in got) == 7, got
        assert sum(g is None for g in got) == 1, got
        after = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(8)]
        # was: ProgrammingError, prepared statement "_pg3_…" does not exist
        await asyncio.gather(*[committer.save_async(p, context=_context(p)) for p in after])
        assert all(app.repository.get(p.id).version == 1 for p in after)
    finally:
        committer.close()
        pool.close()
        app.close()
