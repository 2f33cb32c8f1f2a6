"""CPU per full ticket of the notifier (`python -m bench.consumer_cost --service notifier`):
its three loops as its bootstrap wires them (take notices, deliver due ones, publish the
outcome events), fed one `citizen.notices` message per CitizenNotified event of the recorded
lifecycles (bench/service_cost.py), in ledger order at `--rate` tickets/s, on a throw-away
topic prefix and schema. The gateways are the development outbox (taken, never sent) and the
contact lookup a stub that answers at once: what is measured is the notifier's own work per
notice (its Kafka fetches, transactions, thread hops, events), not a gateway's. CPU of this
process until every notice's outcome event is published.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
import uuid
from typing import Any

import psycopg
from minsheng.v1 import feedback_notices_pb2
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.kafka import ensure_topics, make_producer
from backbone.settings import ServiceSettings
from bench.idle_backbone import cpu_seconds

KINDS = {"wechat_mini": "subscription_message", "wechat_official": "template_message"}


def notices(messages: list) -> list[tuple[bytes, bytes, list]]:
    """One notice per CitizenNotified envelope of `messages` (service_cost.copies), the kind
    by its channel as feedback composes them (WeChat channels by WeChat, the rest by SMS)."""
    out = []
    for key, value, _ in messages:
        d = events.decode(value)
        if d.event_type != "CitizenNotified":
            continue
        p = d.payload
        notice = feedback_notices_pb2.CitizenNotice(
            notice_id=uuid.uuid4().hex, ticket_id=d.ticket_id,
            ticket_code=d.envelope.ticket_code, channel=p.channel,
            kind=KINDS.get(p.channel, "sms"), citizen_pseudonym=uuid.uuid4().hex,
            subject="诉求答复", body=p.reply_masked or "您的诉求已办理完毕。",
            link="https://rate.example/r", reply_round=p.reply_round or 1)
        notice.composed_at.FromDatetime(d.occurred_at)
        out.append((key, notice.SerializeToString(), []))
    return out


class _Contacts:
    async def phone_of(self, ticket_code: str) -> tuple[str | None, Any]:
        return "00000000000", None  # not a number anyone has


def _published(conn: psycopg.Connection[Any], schema: str) -> int:
    row = conn.execute(SQL("SELECT count(*) FROM {}.outbox WHERE published")
                       .format(Identifier(schema))).fetchone()
    return int(row[0]) if row else 0


async def cost(settings: ServiceSettings, messages: list, tickets: int, rate: float,
               spy: bool) -> dict[str, Any]:
    from bench.service_cost import _publish, _Spy
    from services.notifier.adapters import store as store_module
    from services.notifier.adapters.gateways import OutboxGateway, SmsGateway, WeChatGateway
    from services.notifier.application.deliveries import Deliverer
    from services.notifier.bootstrap import policy_of
    from services.notifier.entrypoints import loops
    from services.notifier.settings import NotifierSettings

    notifier = NotifierSettings(**{**settings.model_dump(), "service": "notifier"})
    topic = notifier.topic("citizen.notices")
    await ensure_topics(notifier, {topic: 12, notifier.lifecycle_topic: 12})
    sent = notices(messages)
    pool = ConnectionPool(notifier.pg_conninfo(), min_size=1, max_size=4, open=True)
    store_module.create_tables(pool, notifier.schema)
    store = store_module.Store(pool, notifier.schema)
    policy = policy_of(notifier)
    deliverer = Deliverer(store=store, policy=policy, sms=SmsGateway(OutboxGateway("SMS"), "x"),
                          wechat=WeChatGateway(OutboxGateway("WeChat")),  # type: ignore[arg-type]
                          contacts=_Contacts())
    producer = make_producer(notifier)
    await producer.start()
    wakeups = loops.Wakeups()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(f(stop)) for f in (
        loops.take_notices(notifier, store, producer, wakeups),
        loops.deliver_due(store, deliverer, policy, notifier.notifier_poll_s,
                          notifier.notifier_concurrency, False, wakeups),
        loops.publish_outbox(notifier, store, producer, notifier.notifier_poll_s, wakeups))]
    await asyncio.sleep(3)  # the consumer assigned and positioned
    per_s = rate * len(sent) / tickets if rate > 0 else 0.0
    child = multiprocessing.get_context("spawn").Process(
        target=_publish, args=(notifier.model_dump(), topic, sent, per_s))
    watch = psycopg.connect(notifier.pg_conninfo(), autocommit=True)
    try:
        with _Spy(spy, "notifier") as recording:
            cpu0, wall0 = cpu_seconds(os.getpid()), time.monotonic()
            child.start()
            while _published(watch, notifier.schema) < len(sent):
                await asyncio.sleep(0.2)
                if time.monotonic() - wall0 > 1800:
                    raise TimeoutError("notifier")
            wall, cpu = time.monotonic() - wall0, cpu_seconds(os.getpid()) - cpu0
        child.join(30)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        await producer.stop()
        watch.close()
        pool.close()
    return {"service": "notifier", "tickets": tickets, "notices": len(sent),
            "rate_tickets_per_s": rate, "seconds": round(wall, 1),
            "cpu_ms_per_ticket": round(cpu * 1000 / tickets, 2),
            "cpu_us_per_notice": round(cpu * 1e6 / max(1, len(sent))),
            "profile": recording.text()}
