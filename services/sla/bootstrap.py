"""Wires sla: settings -> infrastructure -> application -> consumer, timers, relay, HTTP.

No I/O at import.
"""

from __future__ import annotations

import asyncio
import threading

from backbone.clock import Clock
from backbone.http import create_app
from backbone.kafka import COMPACTED, ensure_topics
from backbone.ownership import PartitionOwnership
from backbone.relay import OutboxRelay
from backbone.runtime import Service, connect
from backbone.store import application_env
from services.dispatch.domain.units import load_unit_registry
from services.sla.application.app import Rules, SlaApplication
from services.sla.application.desk import Desk
from services.sla.application.gate import CommandGate
from services.sla.application.handlers import handlers
from services.sla.application.schedules import CALENDAR_PARTITIONS, Schedules, calendar_topic
from services.sla.application.upstream import Upstream
from services.sla.application.views import Views
from services.sla.domain.calendar import WorkingCalendar
from services.sla.domain.policy import load_policy
from services.sla.entrypoints import http_api, publications, web
from services.sla.entrypoints.lifecycle import CONSUMER_NAME, build_consumer
from services.sla.entrypoints.timers import TimerLoop, TimeSource
from services.sla.settings import SlaSettings


def build_application(settings: SlaSettings, calendar: WorkingCalendar) -> SlaApplication:
    rules = Rules(policy=load_policy(), calendar=calendar)
    # no pre-ping: it was a round trip before every save and load; a connection PostgreSQL
    # dropped fails its statement instead, and eventsourcing's recorder retries that on a new
    # connection (loads and saves both retry OperationalError; a save whose COMMIT did land
    # then meets its own events as a conflict, which the consumer resolves from the store)
    return SlaApplication(rules=rules, env={**application_env(settings),
                                            "POSTGRES_PRE_PING": "n"})


async def build(settings: SlaSettings) -> Service:  # type: ignore[override]
    infra = await connect(settings)
    calendar = WorkingCalendar()
    app = build_application(settings, calendar)  # creates the tables, read model included
    schema = settings.schema
    schedules = Schedules(calendar=calendar, pool=infra.pool, schema=schema, app=app)
    schedules.refresh()
    lock = threading.Lock()  # consumer batches, timer rounds and commands, one at a time
    # the 1+8+N registry's codes (dispatch's data, as feedback reads it): orders are addressed
    # to active units only, and unit topics exist only for registered ones
    registry = load_unit_registry()
    desk = Desk(app=app, pool=infra.pool, schema=schema, lock=lock,
                units=frozenset(u.code for u in registry.active()))
    upstream = Upstream(rules=app.rules, pool=infra.pool, schema=schema,
                        extension_auto_approve_days=settings.extension_auto_approve_days)
    consumer = build_consumer(settings=settings, infra=infra, app=app,
                              handlers=handlers(upstream), lock=lock)
    desk.cache = consumer.cache  # timer rounds read and leave the tickets in flight there
    time = TimeSource(settings, infra.pool, infra.producer)
    if settings.clock == "wall":  # commands fire no further than their ticket's facts are read
        desk.gate = CommandGate(pool=infra.pool, schema=schema, consumer=CONSUMER_NAME,
                                topic=settings.lifecycle_topic)
    timers = TimerLoop(settings=settings, desk=desk, schedules=schedules, time=time,
                       ownership=PartitionOwnership.of(consumer, settings.lifecycle_topic))
    consumer.after_apply.append(timers.wake)  # new clocks, a new watermark: look at once
    facts = publications.Facts(infra.pool, schema)
    relay = OutboxRelay(settings=settings, app=app, pool=infra.pool,
                        translate=publications.translate_for(
                            settings, facts, app.rules.policy.version,
                            unit_topics=settings.publish_unit_topics,
                            units=frozenset(u.code for u in registry)))
    # official schedules are published on their compacted topic (dispatch reads it whole):
    # made here as a table, not by the relay on first use (one partition, deleted by age)
    schedules_topic = calendar_topic(settings)
    await ensure_topics(settings, {schedules_topic: CALENDAR_PARTITIONS}, configs=COMPACTED)
    relay.known_topics.add(schedules_topic)
    await asyncio.to_thread(schedules.publish_stored)  # years stored before they were published

    async def consumer_ready() -> tuple[bool, str]:
        return consumer.ready, "consuming" if consumer.ready else "consumer not running"

    http = create_app(settings=settings, title="Minsheng sla",
                      description="办理时限: working-day deadlines, warnings, overdue and "
                                  "supervision orders (督办).",
                      readiness=[infra.pg_ready, infra.kafka_ready, consumer_ready])
    http.include_router(http_api.router(desk=desk, views=Views(pool=infra.pool, schema=schema,
                                                                calendar=calendar),
                                        schedules=schedules, time=time,
                                        clock=Clock(settings.clock)))
    http.include_router(web.router())
    return Service(settings=settings, infra=infra, http=http,
                   loops=[consumer.run, timers.run, relay.run],
                   on_stop=[time.close, app.close])
