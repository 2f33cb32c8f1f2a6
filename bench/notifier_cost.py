"""CPU per full ticket of the notifier (`python -m bench.consumer_cost --service notifier`):
its three loops as its bootstrap wires them (take notices, deliver due ones, publish the
outcome events), fed `citizen.notices` as feedback composes them for the recorded lifecycles
(bench/service_cost.py: per CitizenNotified, one notice per template of its channel,
services/feedback/data/answer_templates.json: the hotline's SMS and callback script, the
mailbox's letter...), in ledger order at `--rate` tickets/s, on a throw-away topic prefix and
schema, under the event clock as `make bench` runs the platform (MINSHENG_CLOCK=event) and
with JSON log lines at INFO as deployed (written to a file).

The gateways are the development outbox (taken, never sent). An SMS asks intake for the
phone over HTTP as deployed: a stand-in for intake's contact endpoint runs in a child process
(its CPU is not the notifier's). `contacts="unreachable"` points the notifier at a port
nobody listens on instead, as `make bench`'s platform did until the harness told the
notifier where intake is: every SMS attempt fails and is retried. CPU of this process until
every handled notice has an outcome event published.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from minsheng.v1 import feedback_notices_pb2
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events, logs
from backbone.kafka import ensure_topics, make_producer
from backbone.settings import ServiceSettings
from bench.idle_backbone import cpu_seconds

TEMPLATES = Path(__file__).resolve().parents[1] / "services/feedback/data/answer_templates.json"
ROUTED = {"sms", "subscription_message", "template_message"}  # services/notifier/domain
PHONE = "00000000000"  # not a number anyone has


def kinds_by_channel() -> dict[str, list[str]]:
    channels = json.loads(TEMPLATES.read_text())["channels"]
    return {channel: [t["kind"] for t in templates] for channel, templates in channels.items()}


def notices(messages: list) -> list[tuple[bytes, bytes, list]]:
    """The notices feedback composes for the CitizenNotified envelopes of `messages`
    (service_cost.copies): one per answer template of the ticket's channel."""
    kinds = kinds_by_channel()
    out = []
    for key, value, _ in messages:
        d = events.decode(value)
        if d.event_type != "CitizenNotified":
            continue
        p = d.payload
        for kind in kinds.get(p.channel, ["sms"]):
            notice = feedback_notices_pb2.CitizenNotice(
                notice_id=uuid.uuid4().hex, ticket_id=d.ticket_id,
                ticket_code=d.envelope.ticket_code, channel=p.channel, kind=kind,
                citizen_pseudonym=uuid.uuid4().hex, subject="诉求答复",
                body=p.reply_masked or "您的诉求已办理完毕。", link="https://rate.example/r",
                reply_round=p.reply_round or 1)
            notice.composed_at.FromDatetime(d.occurred_at)
            out.append((key, notice.SerializeToString(), []))
    return out


def _serve_contacts(port: int) -> None:
    """intake's contact endpoint, as the notifier sees it (a child process)."""
    from aiohttp import web

    async def contact(request: web.Request) -> web.Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return web.json_response({"error": "unauthenticated"}, status=401)
        return web.json_response({"name": "", "phone": PHONE, "address": "",
                                  "organisation": "", "kind": "citizen"})

    app = web.Application()
    app.router.add_get("/v1/tickets/{code}/contact", contact)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def _settled(conn: psycopg.Connection[Any], schema: str) -> int:
    """Notices attempted at least once whose outcome event is published (-1 while the outbox
    holds unpublished events)."""
    row = conn.execute(SQL("SELECT count(*) FROM {}.deliveries WHERE attempts > 0"
                           " AND state <> 'sending'").format(Identifier(schema))).fetchone()
    unpublished = conn.execute(SQL("SELECT count(*) FROM {}.outbox WHERE NOT published")
                               .format(Identifier(schema))).fetchone()
    return int(row[0]) if row and unpublished and not unpublished[0] else -1


def _log_to(path: str) -> None:
    logs.configure("notifier", "INFO")  # JSON lines at INFO, as deployed
    for handler in logging.getLogger().handlers:
        handler.setStream(open(path, "a"))  # type: ignore[attr-defined]


async def cost(settings: ServiceSettings, messages: list, tickets: int, rate: float,
               spy: bool, contacts: str = "reachable") -> dict[str, Any]:
    from bench.service_cost import _publish, _Spy
    from services.notifier.adapters import store as store_module
    from services.notifier.adapters.contacts import IntakeContacts
    from services.notifier.adapters.gateways import OutboxGateway, SmsGateway, WeChatGateway
    from services.notifier.application.deliveries import Deliverer
    from services.notifier.bootstrap import intake_token, policy_of
    from services.notifier.entrypoints import loops
    from services.notifier.settings import NotifierSettings

    port = _free_port()
    notifier = NotifierSettings(**{**settings.model_dump(), "service": "notifier",
                                   "clock": "event", "notifier_gateway_timeout_s": 5.0,
                                   "notifier_intake_url": f"http://127.0.0.1:{port}"})
    topic = notifier.topic("citizen.notices")
    await ensure_topics(notifier, {topic: 6, notifier.lifecycle_topic: 12})
    sent = notices(messages)
    handled = sum(1 for _, v, _ in sent
                  if feedback_notices_pb2.CitizenNotice.FromString(v).kind in ROUTED)
    server = None
    if contacts == "reachable":
        server = multiprocessing.get_context("spawn").Process(target=_serve_contacts,
                                                              args=(port,), daemon=True)
        server.start()
        await _listening(port)
    _log_to("/tmp/notifier_cost.log")
    pool = ConnectionPool(notifier.pg_conninfo(), min_size=1, max_size=4, open=True)
    store_module.create_tables(pool, notifier.schema)
    store = store_module.Store(pool, notifier.schema)
    policy = policy_of(notifier)
    lookup = IntakeContacts(notifier.notifier_intake_url, intake_token(notifier), 5.0)
    deliverer = Deliverer(store=store, policy=policy, sms=SmsGateway(OutboxGateway("SMS"), "x"),
                          wechat=WeChatGateway(OutboxGateway("WeChat")),  # type: ignore[arg-type]
                          contacts=lookup)
    producer = make_producer(notifier)
    await producer.start()
    wakeups = loops.Wakeups()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(f(stop)) for f in (
        loops.take_notices(notifier, store, producer, wakeups),
        loops.deliver_due(store, deliverer, policy, notifier.notifier_poll_s,
                          notifier.notifier_concurrency, True, wakeups),
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
            # every handled notice attempted, its outcome published (delivered; with contacts
            # unreachable, an SMS failed and waits for its retry)
            while _settled(watch, notifier.schema) < handled:
                await asyncio.sleep(0.2)
                if time.monotonic() - wall0 > 1800:
                    raise TimeoutError("notifier")
            wall, cpu = time.monotonic() - wall0, cpu_seconds(os.getpid()) - cpu0
        child.join(30)
        attempts = watch.execute(SQL("SELECT coalesce(sum(attempts), 0) FROM {}.deliveries")
                                 .format(Identifier(notifier.schema))).fetchone()
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        await producer.stop()
        if hasattr(lookup, "aclose"):
            await lookup.aclose()
        watch.close()
        pool.close()
        if server is not None:
            server.terminate()
    return {"service": "notifier", "tickets": tickets, "notices": len(sent),
            "handled": handled, "attempts": int(attempts[0]) if attempts else 0,
            "contacts": contacts, "rate_tickets_per_s": rate, "seconds": round(wall, 1),
            "cpu_ms_per_ticket": round(cpu * 1000 / tickets, 2),
            "cpu_us_per_notice": round(cpu * 1e6 / max(1, handled)),
            "profile": recording.text()}
