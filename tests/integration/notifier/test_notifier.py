"""The notifier on the real Kafka and PostgreSQL, against fake gateways that succeed, fail
and time out: every notice reaches the citizen once, failures are retried with backoff,
hopeless ones end in the dead letters, and each attempt is an event on the ticket."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import feedback_notices_pb2

from backbone import auth, events
from backbone.kafka import make_producer
from backbone.runtime import serve
from services.notifier.bootstrap import build
from services.notifier.settings import NotifierSettings
from tests import janitor
from tests.integration.analytics.test_analytics_service import eventually, free_port
from tests.integration.notifier.fake_gateways import running_gateways

pytestmark = pytest.mark.integration
PHONE = "13912345678"


def notice(code: str, kind: str, channel: str) -> feedback_notices_pb2.CitizenNotice:
    return feedback_notices_pb2.CitizenNotice(
        notice_id=uuid.uuid4().hex, ticket_id=str(uuid.uuid4()), ticket_code=code,
        channel=channel, kind=kind, citizen_pseudonym=uuid.uuid4().hex, subject="诉求答复",
        body=f"您的诉求{code}已办理完毕。", link=f"https://rate.example/r/{code}",
        reply_round=1)


@pytest.fixture
async def notifier(infra):
    unique = janitor.claim(uuid.uuid4().hex[:8])
    async with running_gateways() as fake:
        settings = NotifierSettings(
            environment="test", topic_prefix=f"tn{unique}.", pg_schema=f"notifier_{unique}",
            http_port=free_port(), notifier_sms_url=f"{fake.url}/sms",
            notifier_wechat_url=f"{fake.url}/wechat", notifier_intake_url=fake.url,
            notifier_gateway_timeout_s=0.5, notifier_first_retry_s=0.2,
            notifier_retry_factor=2, notifier_max_attempts=3, notifier_stale_s=5,
            notifier_poll_s=0.1)
        service = await build(settings)
        task = asyncio.create_task(serve(service))
        yield settings, fake
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 20)


async def test_notices_are_delivered_once_retried_and_dead_lettered(notifier):
    settings, fake = notifier
    ok = notice("FY-250320-00001-A", "sms", "hotline_12345")
    flaky = notice("FY-250320-00002-B", "subscription_message", "wechat_mini")
    hopeless = notice("FY-250320-00003-C", "sms", "mayor_mailbox")
    anonymous = notice("FY-250320-00004-D", "sms", "hotline_12345")
    letter = notice("FY-250320-00005-E", "letter", "mayor_mailbox")
    fake.phones = {ok.ticket_code: PHONE, hopeless.ticket_code: "13800000001"}
    fake.fail_first[flaky.notice_id] = 1
    fake.hang.add(hopeless.notice_id)
    producer = make_producer(settings)
    await producer.start()
    topic = settings.topic("citizen.notices")
    for n in (ok, flaky, hopeless, anonymous, letter, ok):  # ok twice: a redelivered notice
        await producer.send_and_wait(topic, n.SerializeToString(), key=n.ticket_id.encode())
    await producer.stop()

    token = auth.mint(settings, sub="test-supervisor", role="supervisor", audience=["notifier"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}",
                                 headers={"Authorization": f"Bearer {token}"},
                                 timeout=10) as http:
        async def state_of(n):
            body = (await http.get(f"/v1/tickets/{n.ticket_code}/deliveries")).json()
            return body["deliveries"][0] if body.get("deliveries") else None

        async def settled():
            states = [await state_of(n) for n in (ok, flaky, hopeless, anonymous)]
            done = all(s and s["state"] in ("delivered", "dead") for s in states)
            return states if done else None
        states = await eventually(settled, timeout=60, what="every notice settled")
        assert [s["state"] for s in states] == ["delivered", "delivered", "dead", "dead"]
        assert [s["attempts"] for s in states] == [1, 2, 3, 1]  # anonymous: no point retrying
        assert "no contact" in states[3]["last_error"]
        assert "within 0.5 s" in states[2]["last_error"]
        assert (await http.get(f"/v1/tickets/{letter.ticket_code}/deliveries")).json() == {
            "deliveries": []}
        dead = (await http.get("/v1/deliveries/dead")).json()["deliveries"]
        assert {d["notice_id"] for d in dead} == {hopeless.notice_id, anonymous.notice_id}
        resent = await http.post(f"/v1/deliveries/{anonymous.notice_id}/resend")
        assert resent.status_code == 200
        assert (await http.post("/v1/deliveries/nope/resend")).status_code == 404
        observer = auth.mint(settings, sub="o", role="observer", audience=["notifier"])
        refused = await http.get("/v1/deliveries/dead",
                                 headers={"Authorization": f"Bearer {observer}"})
        assert refused.status_code == 403

    # the gateways took each deliverable notice once
    assert fake.calls[ok.notice_id] == 1 and fake.calls[flaky.notice_id] == 2
    assert fake.calls[hopeless.notice_id] == 3
    delivered = {a["client_ref"]: a for a in fake.accepted}
    assert delivered[ok.notice_id]["phone"] == PHONE
    assert ok.link in delivered[ok.notice_id]["text"]
    assert delivered[flaky.notice_id]["citizen"] == flaky.citizen_pseudonym
    assert "phone" not in delivered[flaky.notice_id]

    # every attempt is an event on its ticket, and no phone number is in any of them
    consumer = AIOKafkaConsumer(settings.lifecycle_topic,
                                bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    seen: list = []
    try:
        async def published():
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    assert PHONE.encode() not in r.value
                    seen.append(events.decode(r.value))
            return len(seen) >= 7
        await eventually(published, timeout=60, what="the outcome events")
    finally:
        await consumer.stop()
    kinds = sorted((d.payload.notice_id, d.payload.attempts, d.event_type) for d in seen)
    assert kinds == sorted([
        (ok.notice_id, 1, "NoticeDelivered"),
        (flaky.notice_id, 1, "NoticeDeliveryFailed"), (flaky.notice_id, 2, "NoticeDelivered"),
        (hopeless.notice_id, 1, "NoticeDeliveryFailed"),
        (hopeless.notice_id, 2, "NoticeDeliveryFailed"),
        (hopeless.notice_id, 3, "NoticeDeliveryFailed"),
        (anonymous.notice_id, 1, "NoticeDeliveryFailed")])
    final = {(d.payload.notice_id, d.payload.attempts): d.payload.final for d in seen
             if d.event_type == "NoticeDeliveryFailed"}
    assert final[(hopeless.notice_id, 3)] and not final[(hopeless.notice_id, 2)]
    assert all(d.envelope.producer == "notifier" for d in seen)
    assert {d.ticket_id for d in seen if d.payload.notice_id == ok.notice_id} == {ok.ticket_id}


async def test_under_an_event_clock_a_receipt_carries_the_notices_business_time(infra):
    """A simulated month (MINSHENG_CLOCK=event): the receipt must not say "today", or every
    consumer's watermark jumps weeks ahead (make up's month closed its rating windows at once)."""
    from datetime import UTC, datetime

    unique = janitor.claim(uuid.uuid4().hex[:8])
    composed = datetime(2026, 11, 9, 6, 30, tzinfo=UTC)
    async with running_gateways() as fake:
        settings = NotifierSettings(
            environment="test", clock="event", topic_prefix=f"tn{unique}.",
            pg_schema=f"notifier_{unique}", http_port=free_port(),
            notifier_sms_url=f"{fake.url}/sms", notifier_wechat_url=f"{fake.url}/wechat",
            notifier_intake_url=fake.url, notifier_poll_s=0.1)
        service = await build(settings)
        task = asyncio.create_task(serve(service))
        consumer = None
        try:
            n = notice("FY-261109-00001-A", "sms", "hotline_12345")
            n.composed_at.FromDatetime(composed)
            fake.phones = {n.ticket_code: PHONE}
            producer = make_producer(settings)
            await producer.start()
            await producer.send_and_wait(settings.topic("citizen.notices"), n.SerializeToString(),
                                         key=n.ticket_id.encode())
            await producer.stop()
            consumer = AIOKafkaConsumer(settings.lifecycle_topic,
                                        bootstrap_servers=settings.kafka_bootstrap,
                                        auto_offset_reset="earliest")
            await consumer.start()
            seen: list = []

            async def delivered():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen.extend(events.decode(r.value) for r in records)
                return any(d.event_type == "NoticeDelivered" for d in seen)
            await eventually(delivered, timeout=60, what="the NoticeDelivered receipt")
            receipt = next(d for d in seen if d.event_type == "NoticeDelivered")
            assert receipt.occurred_at == composed
        finally:
            if consumer is not None:
                await consumer.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 20)


async def test_under_an_event_clock_a_retry_still_waits_its_backoff(infra):
    """Business times of a simulated month lie in the past: a retry due by them was due at
    once (make bench: six failed attempts of each SMS within 60 ms, each an event on the
    ticket). The backoff is waited by the wall clock; the events keep business time."""
    from datetime import UTC, datetime

    unique = janitor.claim(uuid.uuid4().hex[:8])
    composed = datetime(2025, 3, 9, 6, 30, tzinfo=UTC)
    async with running_gateways() as fake:
        settings = NotifierSettings(
            environment="test", clock="event", topic_prefix=f"tn{unique}.",
            pg_schema=f"notifier_{unique}", http_port=free_port(),
            notifier_sms_url=f"{fake.url}/sms", notifier_wechat_url=f"{fake.url}/wechat",
            notifier_intake_url=fake.url, notifier_first_retry_s=1.0,
            notifier_retry_factor=2, notifier_poll_s=0.1)
        n = notice("FY-250309-00001-A", "subscription_message", "wechat_mini")
        n.composed_at.FromDatetime(composed)
        fake.fail_first[n.notice_id] = 2
        service = await build(settings)
        task = asyncio.create_task(serve(service))
        consumer = None
        try:
            producer = make_producer(settings)
            await producer.start()
            await producer.send_and_wait(settings.topic("citizen.notices"), n.SerializeToString(),
                                         key=n.ticket_id.encode())
            await producer.stop()
            consumer = AIOKafkaConsumer(settings.lifecycle_topic,
                                        bootstrap_servers=settings.kafka_bootstrap,
                                        auto_offset_reset="earliest")
            await consumer.start()
            seen: list = []

            async def delivered():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen.extend(events.decode(r.value) for r in records)
                return any(d.event_type == "NoticeDelivered" for d in seen)
            await eventually(delivered, timeout=60, what="delivered at the third attempt")
        finally:
            if consumer is not None:
                await consumer.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 20)
    times = fake.called_at[n.notice_id]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.95 and times[2] - times[1] >= 1.9  # 1 s, then 2 s
    failed = [d for d in seen if d.event_type == "NoticeDeliveryFailed"]
    assert [d.payload.attempts for d in failed] == [1, 2]
    # business time: the first attempt at the notice's, the retries after its backoff
    assert failed[0].occurred_at == composed
    assert failed[0].payload.next_attempt_at == "2025-03-09T06:30:01+00:00"
