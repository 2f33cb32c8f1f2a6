"""The surge worker (faust-streaming) on the real broker, and its alerts on the dashboard:
a water main bursts in one county, five accepted tickets and a merged duplicate within the
half hour; elsewhere the usual trickle."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import common_pb2, dispatch_events_pb2, feedback_events_pb2, intake_events_pb2

from backbone import auth, events
from backbone.kafka import ensure_topics, make_producer
from backbone.runtime import serve
from services.analytics.bootstrap import build
from services.analytics.settings import AnalyticsSettings
from tests import janitor
from tests.browser import browser_page, browser_ready
from tests.integration.analytics.test_analytics_service import eventually, free_port

pytestmark = pytest.mark.integration
T0 = datetime(2025, 3, 20, 7, 10, tzinfo=UTC)


def ticket(n: int, county: str, sub: str, at: datetime, merged_into: str = "") -> list:
    tid = str(uuid.uuid4())
    code = f"FY-250320-{n:06d}"

    def env(producer, payload, version, when):
        return events.make_envelope(payload=payload, event_id=events.event_id_for(tid, version),
                                    ticket_id=tid, ticket_code=code, producer=producer,
                                    occurred_at=when)
    place = common_pb2.Place(county=county)
    out = [env("intake", intake_events_pb2.TicketSubmitted(channel="web", place=place), 1, at),
           env("intake", intake_events_pb2.TicketAccepted(), 2, at + timedelta(seconds=20))]
    if merged_into:
        out.append(env("intake", intake_events_pb2.TicketMergedIntoCase(
            case_id="case-1", primary_ticket_id=merged_into, primary_code="FY-1"), 3,
            at + timedelta(seconds=30)))
    else:
        out.append(env("dispatch", dispatch_events_pb2.TicketAssigned(
            unit=county, county=county, category="water", subcategory=sub, assignment_no=1,
            role="lead"), 101, at + timedelta(minutes=2)))
    return out


@pytest.fixture(scope="module")
async def platform(infra, tmp_path_factory):
    unique = janitor.claim(uuid.uuid4().hex[:8])
    settings = AnalyticsSettings(environment="test", topic_prefix=f"ts{unique}.",
                                 pg_schema=f"analytics_{unique}", http_port=free_port(),
                                 surges_http_port=free_port(), clock="event",
                                 surges_datadir=str(tmp_path_factory.mktemp("faust")))
    await ensure_topics(settings, {settings.lifecycle_topic: 12})
    env = {**os.environ, "MINSHENG_TOPIC_PREFIX": settings.topic_prefix,
           "MINSHENG_SURGES_HTTP_PORT": str(settings.surges_http_port),
           "MINSHENG_SURGES_DATADIR": settings.surges_datadir, "MINSHENG_LOG_LEVEL": os.environ.get("SURGES_LOG", "WARNING"),
           "MINSHENG_ENVIRONMENT": "test"}
    worker = subprocess.Popen([sys.executable, "-m", "services.analytics.entrypoints.surges"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    service = await build(settings)
    task = asyncio.create_task(serve(service))
    yield settings, worker
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, 20)


async def test_a_burst_raises_one_alert_and_the_dashboard_shows_it(platform):
    settings, worker = platform
    primary = ticket(1, "yingzhou", "pipe-burst", T0)
    burst = [primary] + [ticket(n, "yingzhou", "pipe-burst", T0 + timedelta(minutes=4 * n))
                         for n in range(2, 5)]
    burst.append(ticket(5, "yingzhou", "", T0 + timedelta(minutes=21),
                        merged_into=primary[0].ticket_id))
    trickle = [ticket(10 + n, "funan", "street-lighting", T0 + timedelta(hours=n))
               for n in range(6)]
    closing = trickle[0][0]  # a finished ticket's row leaves the worker's state
    trickle.append([events.make_envelope(
        payload=feedback_events_pb2.TicketClosed(unit="funan", rating="satisfied"),
        event_id=events.event_id_for(closing.ticket_id, 300), ticket_id=closing.ticket_id,
        ticket_code=closing.ticket_code, producer="feedback",
        occurred_at=T0 + timedelta(days=3))])
    producer = make_producer(settings)
    await producer.start()
    for envs in trickle + burst:
        for env in envs:
            await producer.send_and_wait(settings.lifecycle_topic, env.SerializeToString(),
                                         key=env.ticket_id.encode(),
                                         headers=events.kafka_headers(env))
    await producer.stop()

    consumer = AIOKafkaConsumer(settings.lifecycle_topic, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    alerts = []
    try:
        async def alerted():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if events.header(r.headers, "event_type") == "SurgeDetected":
                        alerts.append(events.decode(r.value))
            assert worker.poll() is None, worker.communicate()[0].decode()[-3000:]
            return alerts
        await eventually(alerted, timeout=120, what="a SurgeDetected event")
        await asyncio.sleep(0)  # let a second (wrong) alert show up in the same batch
    finally:
        await consumer.stop()
        if not alerts and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            print(worker.communicate(timeout=30)[0].decode(errors="replace")[-5000:])
    assert len(alerts) == 1
    alert = alerts[0]
    p = alert.payload
    # tickets of different partitions reach the window in any order: the window that tips
    # holds 4 of them, or all 5 when the latest of them (the merged duplicate) came first
    assert (p.county, p.subcategory) == ("yingzhou", "pipe-burst") and p.count in (4, 5)
    assert len(p.ticket_codes) == p.count
    assert alert.envelope.producer == "analytics"
    assert alert.ticket_id.startswith("surge:yingzhou:pipe-burst:")
    health = httpx.get(f"http://127.0.0.1:{settings.surges_http_port}/healthz", timeout=5)
    assert health.status_code == 200
    metrics = httpx.get(f"http://127.0.0.1:{settings.surges_http_port}/metrics", timeout=5)
    assert "minsheng_surges_detected_total" in metrics.text

    token = auth.mint(settings, sub="test-observer", role="observer")
    base = f"http://127.0.0.1:{settings.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        async def listed():
            body = (await http.get("/v1/surges")).json()
            return body.get("alerts")
        [shown] = await eventually(listed, timeout=60, what="the alert in /v1/surges")
        assert shown["county"] == "yingzhou" and shown["count"] == p.count
        assert shown["window_minutes"] == 30 and len(shown["tickets"]) == p.count
        assert (await http.get("/v1/surges", params={"limit": 0})).status_code == 422
    if browser_ready():
        await assert_dashboard_shows(base, token, p.count)


async def assert_dashboard_shows(base: str, token: str, count: int) -> None:
    async with browser_page() as page:
        await page.goto(f"{base}/dashboard#token={token}")
        alert = page.locator('.surge[data-county="yingzhou"][data-subcategory="pipe-burst"]')
        await alert.wait_for(timeout=30_000)
        assert f"{count} 件" in await alert.text_content()
        assert not page.errors, page.errors
