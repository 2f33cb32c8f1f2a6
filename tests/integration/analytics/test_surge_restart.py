"""The surge worker's state survives kill -9: its tables' rows reach their changelogs before
the offsets of the events that changed them are committed (adapters/surge_transport.py writes
a row's changes once per commit), so a restarted worker restores them and a burst split by a
crash still raises its one alert."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from minsheng.v1 import common_pb2, dispatch_events_pb2, intake_events_pb2

from backbone import events
from backbone.kafka import client_options, ensure_topics, make_producer
from services.analytics.settings import AnalyticsSettings
from tests import janitor
from tests.integration.analytics.test_analytics_service import eventually, free_port

pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 20, 7, 10, tzinfo=UTC)


def lifecycle(n: int, at: datetime, assigned_at: datetime | None) -> list:
    tid = str(uuid.uuid4())

    def env(producer, payload, version, when):
        return events.make_envelope(payload=payload, event_id=events.event_id_for(tid, version),
                                    ticket_id=tid, ticket_code=f"FY-250320-{n:06d}",
                                    producer=producer, occurred_at=when)
    out = [env("intake", intake_events_pb2.TicketSubmitted(
               channel="web", place=common_pb2.Place(county="yingzhou")), 1, at),
           env("intake", intake_events_pb2.TicketAccepted(), 2, at + timedelta(seconds=20))]
    if assigned_at:
        out.append(assigned(out[0], assigned_at))
    return out


def assigned(submitted, at: datetime):
    return events.make_envelope(
        payload=dispatch_events_pb2.TicketAssigned(
            unit="yingzhou", county="yingzhou", category="water", subcategory="pipe-burst",
            assignment_no=1, role="lead"),
        event_id=events.event_id_for(submitted.ticket_id, 101), ticket_id=submitted.ticket_id,
        ticket_code=submitted.ticket_code, producer="dispatch", occurred_at=at)


def start(settings: AnalyticsSettings, log: Path) -> subprocess.Popen:
    env = {**os.environ, "MINSHENG_TOPIC_PREFIX": settings.topic_prefix,
           "MINSHENG_SURGES_HTTP_PORT": str(free_port()),
           "MINSHENG_SURGES_DATADIR": settings.surges_datadir, "MINSHENG_LOG_LEVEL": "WARNING",
           "MINSHENG_ENVIRONMENT": "test",
           # the restarted worker waits for the killed one's session to expire (60 s deployed)
           "MINSHENG_SURGES_SESSION_TIMEOUT_S": "10"}
    return subprocess.Popen([sys.executable, "-m", "services.analytics.entrypoints.surges"],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(worker: subprocess.Popen, sig: int) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


async def send(settings: AnalyticsSettings, envs: list) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for env in envs:
            await producer.send_and_wait(settings.lifecycle_topic, env.SerializeToString(),
                                         key=env.ticket_id.encode(),
                                         headers=events.kafka_headers(env))
    finally:
        await producer.stop()


async def test_a_burst_split_by_kill_9_raises_its_one_alert(infra, tmp_path):
    unique = janitor.claim(uuid.uuid4().hex[:8])
    settings = AnalyticsSettings(environment="test", topic_prefix=f"ts{unique}.",
                                 pg_schema=f"analytics_{unique}", clock="event",
                                 surges_datadir=str(tmp_path))
    await ensure_topics(settings, {settings.lifecycle_topic: 12})
    # before the crash: two tickets counted; a third submitted and accepted (its row waits
    # for its assignment, which comes after the restart, hours later in business time: only
    # the acceptance time kept in its row puts it into the burst's window)
    third = lifecycle(3, T0 + timedelta(minutes=8), None)
    before = (lifecycle(1, T0, T0 + timedelta(minutes=2))
              + lifecycle(2, T0 + timedelta(minutes=4), T0 + timedelta(minutes=6)) + third)
    fourth = lifecycle(4, T0 + timedelta(minutes=12), T0 + timedelta(minutes=14))
    counted = settings.topic("analytics.surges.counted")
    log = tmp_path / "worker.log"
    worker = start(settings, log)
    admin = AIOKafkaAdminClient(**client_options(settings))  # type: ignore[arg-type]
    watch = AIOKafkaConsumer(**client_options(settings), group_id=None,  # type: ignore[arg-type]
                             auto_offset_reset="earliest")
    await admin.start()
    await watch.start()
    try:
        await send(settings, before)

        async def committed_to_the_end() -> bool:  # both stages: the tickets and the counts
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            tps = [TopicPartition(settings.lifecycle_topic, p) for p in range(12)]
            tps += [TopicPartition(counted, p) for p in range(6)]
            try:
                ends = await watch.end_offsets(tps)
            except Exception:  # the counted topic: the worker makes it as it starts
                return False
            offsets = await admin.list_consumer_group_offsets(
                settings.group("analytics-surges"))
            done = {tp: o.offset for tp, o in offsets.items()}
            return (sum(e for tp, e in ends.items() if tp.topic == counted) == 2
                    and all(done.get(tp, 0) >= end for tp, end in ends.items() if end))
        await eventually(committed_to_the_end, timeout=120, what="the worker's commit")
        stop(worker, signal.SIGKILL)

        worker = start(settings, log)
        # the third ticket counted before the fourth: a window is judged when its newest
        # ticket is counted (domain/surges.py), and tickets of two partitions come in any order
        await send(settings, [assigned(third[0], T0 + timedelta(hours=3))])

        async def third_counted() -> bool:
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            ends = await watch.end_offsets([TopicPartition(counted, p) for p in range(6)])
            return sum(ends.values()) == 3
        await eventually(third_counted, timeout=180, what="the third ticket's count")
        await send(settings, fourth)
        watch.subscribe([settings.lifecycle_topic])
        alerts: list = []

        async def alerted() -> list:
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            for records in (await watch.getmany(timeout_ms=500)).values():
                alerts.extend(events.decode(r.value) for r in records
                              if events.header(r.headers, "event_type") == "SurgeDetected")
            return alerts
        await eventually(alerted, timeout=180, what="a SurgeDetected event after the restart")
        await asyncio.sleep(1)
        await alerted()
    finally:
        await watch.stop()
        await admin.close()
        stop(worker, signal.SIGTERM)
    assert len(alerts) == 1, log.read_text(errors="replace")[-3000:]
    p = alerts[0].payload
    assert (p.county, p.subcategory, p.count) == ("yingzhou", "pipe-burst", 4)
    assert sorted(p.ticket_codes) == [f"FY-250320-{n:06d}" for n in (1, 2, 3, 4)]
