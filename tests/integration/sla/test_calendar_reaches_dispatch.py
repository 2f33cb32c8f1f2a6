"""An official schedule loaded into sla reaches dispatch's sign-for deadlines (session 20).

A supervisor's `PUT /v1/calendar/official/2027` moved sla's clocks only: dispatch counted the
sign-for deadline it tells a unit (and marks it late by) with the files sla ships, so after the
State Council's notice was loaded the two disagreed about which days are holidays until a
release and a restart. sla now publishes each stored schedule on the compacted topic
`calendar.schedules` (through its outbox) and dispatch follows it. Real Kafka and PostgreSQL,
sla as a process, a topic prefix and schema of the test's own."""

from __future__ import annotations

import asyncio
import datetime as dt

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from minsheng.v1 import dispatch_api_pb2 as api
from minsheng.v1 import sla_calendar_pb2 as cal
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from backbone.kafka import make_producer
from services.dispatch.bootstrap import follow_schedules, sla_sign_for_rule
from services.sla.application.schedules import calendar_topic
from services.sla.domain.calendar import SHANGHAI
from tests.integration.dispatch.harness import TERRITORIAL, DispatchUnderTest
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration

# the eve of 春节 2027: the shipped (provisional) file has 2/5-2/10 off, Thu 2/11 working
ASSIGNED = dt.datetime(2027, 2, 4, 10, 0, tzinfo=SHANGHAI)


def end_of(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.max, tzinfo=SHANGHAI)


def notice(last_day_off: str) -> dict:
    """春节 2027 from 2/5 to `last_day_off`, Sat 2/20 a make-up working day."""
    first, last = dt.date(2027, 2, 5), dt.date.fromisoformat(last_day_off)
    return {"year": 2027, "source": "国务院办公厅关于2027年部分节假日安排的通知 (test)",
            "holidays": [{"date": (first + dt.timedelta(days=n)).isoformat(), "name": "春节"}
                         for n in range((last - first).days + 1)],
            "make_up_working_days": [{"date": "2027-02-20", "name": "春节"}],
            "at": "2026-11-20T10:00:00+08:00"}


class Follower:
    """dispatch's sign-for rule and the feed that keeps it, built as dispatch builds them,
    running in the test's event loop."""

    def __init__(self, settings):
        self.settings = settings.model_copy(update={"service": "dispatch"})
        self.rule = sla_sign_for_rule()
        self.stop = asyncio.Event()

    async def __aenter__(self) -> Follower:
        self.producer = make_producer(self.settings)
        await self.producer.start()
        self.feed = await follow_schedules(self.settings, self.rule, self.producer)
        self.task = asyncio.create_task(self.feed.run(self.stop))
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)
        await self.producer.stop()

    def due(self) -> dt.datetime:
        return self.rule("general", ASSIGNED)


async def topic_messages(settings) -> list[tuple[bytes, bytes]]:
    topic = calendar_topic(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.assign([tp])
        consumer.seek(tp, 0)
        got: list[tuple[bytes, bytes]] = []
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got += [(r.key, r.value) for r in records if r.offset < end]
        return got
    finally:
        await consumer.stop()


async def test_a_schedule_put_into_sla_moves_dispatchs_sign_for_deadline(sla_process):
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    supervisor = sla.client("supervisor", sub="duchashi-1")
    async with Follower(sla.settings) as running:
        await eventually_async(lambda: running.feed.ready, what="the empty topic read")
        assert running.due() == end_of("2027-02-11")  # the shipped provisional file

        loaded = supervisor.put("/v1/calendar/official/2027", json=notice("2027-02-11"))
        assert loaded.status_code == 200, loaded.text
        await eventually_async(lambda: running.due() == end_of("2027-02-12"),
                               what="2/11 a holiday in dispatch's rule")
        again = supervisor.put("/v1/calendar/official/2027", json=notice("2027-02-12"))
        assert again.status_code == 200, again.text
        await eventually_async(lambda: running.due() == end_of("2027-02-15"),
                               what="the second load replacing the first")
        assert running.feed.loaded == {2027: 2} and running.feed.skipped == 0

    sent = await topic_messages(sla.settings)
    assert [k for k, _ in sent] == [b"2027", b"2027"]
    last = cal.OfficialScheduleLoaded.FromString(sent[-1][1])
    assert (last.year, last.load_no, last.loaded_by) == (2027, 2, "duchashi-1")
    assert last.loaded_at.ToDatetime(tzinfo=dt.UTC) == dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC)

    # a message that is no schedule (not sla's) is skipped by the next reader, not a crash
    producer = make_producer(sla.settings)
    await producer.start()
    try:
        await producer.send_and_wait(calendar_topic(sla.settings), b"\xff\xfe not a schedule",
                                     key=b"2027")
    finally:
        await producer.stop()

    # a dispatch started after the loads (fresh state) reads them from the topic's start,
    # and is ready only once it has: ready means the real schedule, never the shipped file
    async with Follower(sla.settings) as fresh:
        assert fresh.due() == end_of("2027-02-11") and not fresh.feed.ready
        await eventually_async(lambda: fresh.feed.ready, what="the topic read to its end")
        assert fresh.due() == end_of("2027-02-15")
        assert fresh.feed.loaded == {2027: 2} and fresh.feed.skipped == 1

    # sla's own replicas keep reading the table: one row, the last load
    s = Identifier(sla.settings.schema)
    with psycopg.connect(sla.settings.pg_conninfo()) as conn:
        rows = conn.execute(SQL("SELECT year, body->'holidays'->-1->>'date', loaded_by"
                                " FROM {}.sla_official_schedules").format(s)).fetchall()
    assert rows == [(2027, "2027-02-12", "duchashi-1")]


async def test_a_schedule_stored_before_schedules_were_published_is_published_at_start(
        sla_process):
    """A year an operator loaded before this release (a row, no event) is published when sla
    starts, once (a second start publishes nothing more)."""
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    sla.kill()
    body = {k: v for k, v in notice("2027-02-11").items() if k != "at"}
    with psycopg.connect(sla.settings.pg_conninfo()) as conn:
        conn.execute(SQL("INSERT INTO {}.sla_official_schedules (year, body, loaded_by)"
                         " VALUES (2027, %s, 'duchashi-9')").format(
                             Identifier(sla.settings.schema)), (Jsonb(body),))
    sla.start()
    async with Follower(sla.settings) as follower:
        await eventually_async(lambda: follower.due() == end_of("2027-02-12"),
                               what="the stored year on the topic")
    sla.kill()
    sla.start()
    await eventually_async(sla.quiet, what="sla's outbox relayed")
    sent = await topic_messages(sla.settings)
    assert len(sent) == 1
    assert cal.OfficialScheduleLoaded.FromString(sent[0][1]).loaded_by == "duchashi-9"


async def test_a_running_dispatch_tells_the_unit_the_deadline_of_the_loaded_schedule(
        sla_process, infra):
    """The whole path: sla and a dispatch process on one topic prefix (event clock), a schedule
    PUT into sla before dispatch starts; the assignment's `sign_for_due_at` follows it."""
    dispatch = DispatchUnderTest(infra, MINSHENG_CLOCK="event")
    sla = sla_process(extra_env={"MINSHENG_TOPIC_PREFIX": dispatch.settings.topic_prefix})
    sla.settings = sla.settings.model_copy(
        update={"topic_prefix": dispatch.settings.topic_prefix})
    await sla.create_topics()
    sla.start()
    put = sla.client("supervisor", sub="duchashi-1").put("/v1/calendar/official/2027",
                                                         json=notice("2027-02-11"))
    assert put.status_code == 200, put.text
    await eventually_async(sla.quiet, what="the schedule relayed")
    dispatch.start()  # ready only once calendar.schedules is read
    await dispatch.open_kafka()
    channel, department = dispatch.department()
    try:
        ticket_id, _ = await dispatch.submit(TERRITORIAL, at=ASSIGNED)
        [assigned] = await dispatch.wait_for(ticket_id, "TicketAssigned")
        unit, urgency = assigned.payload.unit, assigned.payload.urgency
        assert urgency != "urgent"  # (counted in calendar hours, whatever the schedule)
        listed = await department.ListAssignments(api.ListAssignmentsRequest(),
                                                  metadata=dispatch.unit_md(unit))
        [mine] = [a for a in listed.assignments if a.ticket_id == ticket_id]
        assert mine.sign_for_due_at.ToDatetime(tzinfo=dt.UTC) == end_of("2027-02-12")
    finally:
        await channel.close()
        await dispatch.close_kafka()
        dispatch.stop()
