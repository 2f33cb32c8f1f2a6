"""The same month of upstream facts, replayed into two fresh SLA services, gives identical
SLA events: the same types, at the same instants, with the same contents and ids, in the same
order per ticket."""

from __future__ import annotations

import asyncio
import datetime as dt
import random

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from tests.integration.sla import harness as h
from tests.integration.sla.harness import by_ticket, sh

pytestmark = pytest.mark.integration

UNITS = [("yingzhou.qinghe", "yingzhou"), ("urban-mgmt", "city"), ("taihe", "city")]
GRADES = ["urgent", "simple", "general", "general", "complex"]


def ticket_script(rng: random.Random, n: int) -> list[h.Upstream]:
    """One ticket's facts over November 2024, by one of several realistic paths."""
    t = f"M-{n:03d}"
    start = sh("2024-11-01 08:00") + dt.timedelta(hours=rng.randrange(0, 20 * 24))
    unit, parent = rng.choice(UNITS)
    other = next(u for u, _ in UNITS if u != unit)
    at = iter(start + dt.timedelta(hours=k * rng.randrange(2, 40)) for k in range(50))
    facts = [h.accepted(t, next(at)), h.assigned(t, next(at), unit, rng.choice(GRADES), parent)]
    path = n % 8
    if path == 0:                                   # signs for and replies
        facts += [h.signed_for(t, next(at), unit), h.replied(t, next(at), unit)]
    elif path == 1:                                 # never answers: overdue, supervision
        pass
    elif path == 2:                                 # bounced back, assigned to another unit
        facts += [h.bounced(t, next(at), unit), h.assigned(t, next(at), other, "general", n=2),
                  h.signed_for(t, next(at), other, n=2), h.replied(t, next(at), other)]
    elif path == 3:                                 # transferred, then coordination
        facts += [h.signed_for(t, next(at), unit), h.transferred(t, next(at), unit, other),
                  h.coordinated(t, next(at), other), h.replied(t, next(at), other)]
    elif path == 4:                                 # extensions: one auto-approved, one pending
        facts += [h.signed_for(t, next(at), unit), h.extension(t, next(at), unit, 2),
                  h.extension(t, next(at), unit, 5), h.replied(t, next(at), unit)]
    elif path == 5:                                 # reply sent back, replied again, closed
        facts += [h.signed_for(t, next(at), unit), h.replied(t, next(at), unit),
                  h.reviewed(t, next(at), unit, False), h.replied(t, next(at), unit),
                  h.reviewed(t, next(at), unit, True), h.closed(t, next(at), unit)]
    elif path == 6:                                 # closed, reopened: a second clock
        facts += [h.signed_for(t, next(at), unit), h.replied(t, next(at), unit),
                  h.closed(t, next(at), unit), h.reopened(t, next(at), unit),
                  h.assigned(t, next(at), unit, "general", parent, n=2)]
    else:                                           # a deputy pushes it to supervision
        facts += [h.signed_for(t, next(at), unit), h.pushed(t, next(at), unit)]
    return facts


def month() -> list[h.Upstream]:
    rng = random.Random(12345)
    facts = [f for n in range(40) for f in ticket_script(rng, n)]
    facts.sort(key=lambda f: f.at)  # as the city lived it: in time order
    return [*facts, h.accepted("M-end", sh("2024-12-31 09:00"))]


def consumed_all(sla: h.SlaProcess, ids: list[str]) -> bool:
    s = Identifier(sla.settings.schema)
    with psycopg.connect(sla.settings.pg_conninfo()) as conn:
        row = conn.execute(SQL("SELECT count(*) FROM {}.consumed_events WHERE"
                               " event_id = ANY(%s::uuid[])").format(s), (ids,)).fetchone()
    return row[0] == len(ids)


async def run_month(sla: h.SlaProcess, facts: list[h.Upstream]) -> dict[str, list]:
    await sla.create_topics()
    await sla.publish(facts)  # all of it before the service starts: batches cut anyhow
    sla.start()
    ids = [f.envelope(i).event_id for i, f in enumerate(facts)]
    await sla.wait_for(lambda _: consumed_all(sla, ids) and sla.quiet(), "the month", 180)
    return {t: [(d.event_type, d.occurred_at, d.event_id, d.envelope.payload) for d in found]
            for t, found in by_ticket(await sla.sla_events()).items()}


async def test_the_same_month_replayed_twice_gives_identical_sla_events(sla_process):
    facts = month()
    # The second run consumes in batches of 5, so its batches (and timer rounds) fall
    # between different facts: the events must not depend on where they fall.
    first, second = await asyncio.gather(
        run_month(sla_process(), facts),
        run_month(sla_process(extra_env={"MINSHENG_CONSUMER_BATCH": "5"}), facts))
    assert first.keys() == second.keys() and len(first) == 41
    for ticket in sorted(first):
        assert first[ticket] == second[ticket], ticket
    kinds = [e[0] for events in first.values() for e in events]
    for expected in ("DeadlineSet", "SignForDeadlineSet", "DeadlineWarned", "DeadlineMissed",
                     "DeadlineMet", "DeadlineRepliedLate", "DeadlineExtended",
                     "DeadlineCoordinated", "DeadlineReopened", "ClockStopped",
                     "SupervisionOrderIssued", "SupervisionOrderEscalated",
                     "SupervisionOrderClosed"):
        assert expected in kinds, expected
    assert sum(len(e) for e in first.values()) > 200
