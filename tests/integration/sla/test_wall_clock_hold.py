"""On the wall clock, timers and commands wait for the facts sla has not read yet
(timers.TimeSource, application/gate.py).

sla comes back after an outage to a backlog: two tickets whose deadlines passed meanwhile (in
wall time), and behind each, many facts sla does not handle (units' progress notes), then a
fact dated before the deadline: A's reply, B's transfer to another unit. The first batch
creates both clocks, already overdue by the wall clock; the timers must not fire them before
the consumer has read the rest of the backlog. Before this rule the first timer round fired
A's DeadlineMissed and an automatic supervision order (督办) although A had replied in time,
and addressed B's order to the unit that no longer held the ticket.

A supervisor's command on such a ticket (here a supervision order issued by hand) is refused
while its partition's backlog is unread (503 facts_pending): before, it fired what the ticket
owed by wall time first, the missed deadline and its automatic order included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import httpx
import pytest
from minsheng.v1 import dispatch_events_pb2 as dispatch

from backbone import events
from backbone.kafka import LIFECYCLE_PARTITIONS, make_producer
from backbone.ownership import partition_of
from services.sla.domain.calendar import SHANGHAI
from tests.integration.sla.harness import (
    Upstream,
    accepted,
    assigned,
    by_ticket,
    replied,
    signed_for,
    transferred,
    types,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

FILLERS = 4000  # per ticket: progress notes between the clock's start and its saving fact


def a_monday_weeks_ago() -> dt.datetime:
    """10:00 Shanghai on a Monday at least five weeks ago: a general ticket's 5 working days
    (holidays included) are over by the wall clock."""
    day = dt.datetime.now(SHANGHAI).date() - dt.timedelta(days=35)
    day -= dt.timedelta(days=day.weekday())
    return dt.datetime.combine(day, dt.time(10, 0), tzinfo=SHANGHAI)


def progress(ticket: str, at: dt.datetime, unit: str) -> Upstream:
    return Upstream(ticket, at, dispatch.AssignmentProgressNoted(
        unit=unit, assignment_no=1, note_masked="已联系诉求人，正在处理"))


async def publish_fast(sla, facts: list[Upstream]) -> None:
    """In order per ticket (one partition each), without a round trip per message."""
    producer = make_producer(sla.settings)
    await producer.start()
    try:
        sent = []
        for i, fact in enumerate(facts):
            env = fact.envelope(i)
            sent.append(await producer.send(sla.settings.lifecycle_topic,
                                            env.SerializeToString(), key=fact.ticket.encode(),
                                            headers=events.kafka_headers(env)))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a_backlog_is_read_before_the_deadlines_it_could_prevent_fire(sla_process):
    sla = sla_process(clock="wall")
    await sla.create_topics()
    t0 = a_monday_weeks_ago()
    a, b = f"A-{uuid.uuid4()}", f"B-{uuid.uuid4()}"
    minute = dt.timedelta(minutes=1)
    backlog = [accepted(a, t0), assigned(a, t0 + 30 * minute, "yingzhou", "general"),
               signed_for(a, t0 + 60 * minute, "yingzhou"),
               accepted(b, t0), assigned(b, t0 + 30 * minute, "yingzhou", "general"),
               signed_for(b, t0 + 60 * minute, "yingzhou")]
    for i in range(FILLERS):
        at = t0 + 61 * minute + i * dt.timedelta(seconds=1)
        backlog += [progress(a, at, "yingzhou"), progress(b, at, "yingzhou")]
    a_reply = t0 + dt.timedelta(days=1)  # Tuesday: in time (general: 5 working days)
    backlog += [replied(a, a_reply, "yingzhou"),
                transferred(b, a_reply, "yingzhou", "yingdong")]
    await publish_fast(sla, backlog)
    sla.start()  # after an outage: everything above is unread

    def settled(found) -> bool:  # (met or not: a failure shows at once what fired)
        mine = by_ticket(found)
        return ({"DeadlineMet", "DeadlineRepliedLate"} & set(types(mine.get(a, [])))
                and "SupervisionOrderIssued" in types(mine.get(b, [])))

    await sla.wait_for(settled, "A's reply applied, B's automatic order", timeout=120)
    await sla.wait_for(lambda f: sla.quiet(), "sla to be quiet")
    mine = by_ticket(await sla.sla_events())
    got_a, got_b = types(mine[a]), types(mine[b])
    assert got_a.count("DeadlineMet") == 1
    assert not {"DeadlineMissed", "DeadlineRepliedLate", "SupervisionOrderIssued"} & set(got_a)
    (met,) = [d for d in mine[a] if d.event_type == "DeadlineMet"]
    assert met.occurred_at == a_reply
    (order,) = [d for d in mine[b] if d.event_type == "SupervisionOrderIssued"]
    assert order.payload.kind == "overdue" and order.payload.unit == "yingdong", got_b
    (missed,) = [d for d in mine[b] if d.event_type == "DeadlineMissed"]
    assert missed.payload.unit == "yingdong"
    # read to the end, nothing owed is held any more, and the gauge says so
    eventually(lambda: "minsheng_sla_timer_held_seconds 0.0" in
               httpx.get(sla.url + "/metrics", timeout=10).text, what="no hold on /metrics")


NEIGHBOURS = 3000  # facts sla applies (a transaction each) in the ticket's partition


async def test_a_command_is_refused_while_its_tickets_facts_are_unread(sla_process):
    # one message a batch: the backlog takes a while to read, and the command meets it
    sla = sla_process(clock="wall", extra_env={"MINSHENG_CONSUMER_BATCH": "1"})
    await sla.create_topics()
    t0 = a_monday_weeks_ago()
    t = f"C-{uuid.uuid4()}"
    partition = partition_of(t, LIFECYCLE_PARTITIONS)
    neighbours = []  # tickets sla never saw, in t's partition: each fact applied, ignored
    while len(neighbours) < NEIGHBOURS:
        n = f"N-{uuid.uuid4()}"
        if partition_of(n, LIFECYCLE_PARTITIONS) == partition:
            neighbours.append(n)
    minute = dt.timedelta(minutes=1)
    backlog = [accepted(t, t0), assigned(t, t0 + 30 * minute, "yingzhou", "general"),
               signed_for(t, t0 + 60 * minute, "yingzhou")]
    backlog += [signed_for(n, t0 + 61 * minute + i * dt.timedelta(seconds=1), "yingzhou")
                for i, n in enumerate(neighbours)]
    reply = t0 + dt.timedelta(days=1)  # in time; the deadline passed weeks ago by wall time
    backlog.append(replied(t, reply, "yingzhou"))
    await publish_fast(sla, backlog)
    sla.start()  # after an outage: everything above is unread
    supervisor = sla.client("supervisor", sub="sup-1")
    order = {"ticket_id": t, "reason": "请加快办理", "request_id": f"r-{uuid.uuid4()}"}
    eventually(lambda: supervisor.get(f"/v1/tickets/{t}/clocks").status_code == 200,
               timeout=60, what="t's clock")  # its first facts read, the backlog not yet
    refused = supervisor.post("/v1/supervision-orders", json=order)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "facts_pending", refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert "unread" in refused.json()["detail"], refused.text
    # read to the end: the same command runs (and nothing fired the deadline meanwhile)
    eventually(lambda: supervisor.post("/v1/supervision-orders", json=order).status_code
               == 201, timeout=120, interval=1.0, what="the order issued once read")

    def settled(found) -> bool:
        mine = types(by_ticket(found).get(t, []))
        return "DeadlineMet" in mine and "SupervisionOrderIssued" in mine

    await sla.wait_for(settled, "t's reply applied and the order issued", timeout=120)
    await sla.wait_for(lambda f: sla.quiet(), "sla to be quiet")
    mine = by_ticket(await sla.sla_events())[t]
    got = types(mine)
    assert got.count("DeadlineMet") == 1, got
    assert not {"DeadlineMissed", "DeadlineRepliedLate"} & set(got), got
    (met,) = [d for d in mine if d.event_type == "DeadlineMet"]
    assert met.occurred_at == reply
    (issued,) = [d for d in mine if d.event_type == "SupervisionOrderIssued"]
    assert issued.payload.kind == "manual", got
