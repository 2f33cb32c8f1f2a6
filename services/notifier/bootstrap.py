"""Wires the notifier: settings -> PostgreSQL, Kafka -> notices in, deliveries, outcome
events out, HTTP. No I/O at import."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from backbone import auth
from backbone.http import create_app
from backbone.runtime import Service, connect
from services.notifier.adapters import store as store_module
from services.notifier.adapters.contacts import IntakeContacts
from services.notifier.adapters.gateways import (
    HttpGateway,
    OutboxGateway,
    SmsGateway,
    WeChatGateway,
)
from services.notifier.application.deliveries import Deliverer
from services.notifier.domain.delivery import RetryPolicy
from services.notifier.entrypoints import http_api, loops
from services.notifier.settings import NotifierSettings


def policy_of(settings: NotifierSettings) -> RetryPolicy:
    return RetryPolicy(first_delay=timedelta(seconds=settings.notifier_first_retry_s),
                       factor=settings.notifier_retry_factor,
                       max_delay=timedelta(seconds=settings.notifier_max_retry_s),
                       max_attempts=settings.notifier_max_attempts,
                       stale_after=timedelta(seconds=settings.notifier_stale_s))


def intake_token(settings: NotifierSettings):  # type: ignore[no-untyped-def]
    """The system token for intake's contact endpoint: the configured one, or (development
    and test) a short-lived one minted when needed."""
    if settings.notifier_intake_token:
        return lambda: settings.notifier_intake_token
    if settings.environment not in ("development", "test"):
        raise ValueError("MINSHENG_NOTIFIER_INTAKE_TOKEN must be set outside development")
    cached: dict[str, object] = {}

    def token() -> str:
        now = asyncio.get_running_loop().time()
        if not cached or now > float(cached["until"]):  # type: ignore[arg-type]
            cached["token"] = auth.mint(settings, sub="notifier", role="system", ttl_s=600,
                                        audience=["intake"])
            cached["until"] = now + 300
        return str(cached["token"])

    return token


async def build(settings: NotifierSettings) -> Service:  # type: ignore[override]
    def port(url: str, token: str, name: str) -> HttpGateway | OutboxGateway:
        if not url and settings.in_development:
            return OutboxGateway(name)
        return HttpGateway(url, token=token, timeout_s=settings.notifier_gateway_timeout_s,
                           name=name)

    infra = await connect(settings)
    await asyncio.to_thread(store_module.create_tables, infra.pool, settings.schema)
    store = store_module.Store(infra.pool, settings.schema)
    timeout = settings.notifier_gateway_timeout_s
    policy = policy_of(settings)
    sms_port = port(settings.notifier_sms_url, settings.notifier_sms_token, "SMS")
    wechat_port = port(settings.notifier_wechat_url, settings.notifier_wechat_token, "WeChat")
    contacts = IntakeContacts(settings.notifier_intake_url, intake_token(settings), timeout)
    deliverer = Deliverer(
        store=store, policy=policy, sms=SmsGateway(sms_port, settings.notifier_sms_sign),
        wechat=WeChatGateway(wechat_port), contacts=contacts)
    http = create_app(settings=settings, title="Minsheng notifier",
                      description="说了不白说: answers reach the citizen by SMS or WeChat, "
                                  "exactly once, retried, dead letters for staff.",
                      readiness=[infra.pg_ready, infra.kafka_ready])
    http.include_router(http_api.router(store))
    wakeups = loops.Wakeups()  # push, not poll (docs/notifier.md)
    return Service(settings=settings, infra=infra, http=http, loops=[
        loops.take_notices(settings, store, infra.producer, wakeups),
        loops.deliver_due(store, deliverer, policy, settings.notifier_poll_s,
                          settings.notifier_concurrency, settings.clock == "event", wakeups),
        loops.publish_outbox(settings, store, infra.producer, settings.notifier_poll_s,
                             wakeups)],
        on_stop=[c.aclose for c in (contacts, sms_port, wechat_port) if hasattr(c, "aclose")])
