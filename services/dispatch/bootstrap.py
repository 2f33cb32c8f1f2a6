"""Wires dispatch: settings -> infrastructure -> application -> consumer, relay, gRPC, HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool

from backbone.clock import Clock
from backbone.consumer import IdempotentConsumer, routing_gather
from backbone.group_commit import GroupCommitter
from backbone.http import create_app
from backbone.kafka import COMPACTED, ensure_topics
from backbone.relay import OutboxRelay
from backbone.runtime import Service, connect
from backbone.store import application_env
from services.dispatch.adapters.calendar_feed import ScheduleFeed
from services.dispatch.adapters.loop_reads import LoopReads
from services.dispatch.adapters.readmodel import ReadModel
from services.dispatch.application.app import DispatchApplication
from services.dispatch.application.commands import Commands
from services.dispatch.application.routing import Router, TaughtLabel
from services.dispatch.application.sign_for import SignForRule
from services.dispatch.application.units import UnitBook
from services.dispatch.application.upstream import UpstreamFacts
from services.dispatch.domain.classifier import Label
from services.dispatch.domain.lifecycle import DispatchPolicy
from services.dispatch.entrypoints import consumer, fast_queues, http_api
from services.dispatch.entrypoints.feed import AssignmentFeed
from services.dispatch.entrypoints.grpc_api import DepartmentApi
from services.dispatch.entrypoints.publications import Publisher
from services.dispatch.settings import DispatchSettings
from services.sla.application.schedules import CALENDAR_PARTITIONS, calendar_topic

RECORDER = "services.dispatch.adapters.recorder:DispatchRecorder"
UNIT_TOPIC_PARTITIONS = 1  # a unit's assignments are few; one partition keeps the broker light


def build_application(settings: DispatchSettings) -> DispatchApplication:
    return DispatchApplication(env={**application_env(settings),
                                    "APPLICATION_RECORDER_TOPIC": RECORDER})


def sla_sign_for_rule() -> SignForRule:
    """The sign-for deadline as sla sets it, warns on and escalates on (its policy and working
    calendar, docs/sla.md): a unit is told, and its sign-for marked late by, the deadline it is
    held to. Was `assigned + MINSHENG_SIGN_FOR_WITHIN_HOURS` (2 h) whatever the urgency, while
    sla counted a general matter's to the end of the next working day. Its calendar: the
    schedules sla ships, then those loaded into sla (`ScheduleFeed` follows them)."""
    return SignForRule()


async def follow_schedules(settings: DispatchSettings, rule: SignForRule,
                           producer: Any = None) -> ScheduleFeed:
    """The feed of sla's official schedules into `rule` (its topic made, compacted, if sla
    has not made it yet)."""
    await ensure_topics(settings, {calendar_topic(settings): CALENDAR_PARTITIONS},
                        configs=COMPACTED)
    return ScheduleFeed(settings, rule, producer)


def taught_labels(readmodel: ReadModel) -> list[TaughtLabel]:
    return [TaughtLabel(text=r["text_masked"], address=r["address_masked"],
                        label=Label(subcategory=r["subcategory"], request_type=r["request_type"],
                                    urgency=r["urgency"]))
            for r in readmodel.labels()]


def extra_places(settings: DispatchSettings) -> list[dict[str, Any]]:
    """The operators' landmark file, when one is configured (a missing file stops the start:
    a typo there must not silently drop every landmark)."""
    if not settings.dispatch_places_extra:
        return []
    return [json.loads(Path(settings.dispatch_places_extra).read_text("utf-8"))]


def extra_responsibilities(settings: DispatchSettings) -> list[dict[str, Any]]:
    """The city's own 权责清单 file, when one is configured (missing or malformed: no start)."""
    if not settings.dispatch_responsibilities_extra:
        return []
    return [json.loads(Path(settings.dispatch_responsibilities_extra).read_text("utf-8"))]


async def create_unit_topics(settings: DispatchSettings, relay: OutboxRelay,
                             units: UnitBook) -> None:
    """Every active unit's `assignments.<unit>` topic exists from the start, so a department
    system can subscribe before its first assignment, and the relay never has to create a
    topic on the hot path (a unit registered later still gets its topic on first use)."""
    topics = {settings.assignment_topic(u.code): UNIT_TOPIC_PARTITIONS
              for u in units.registry.active()}
    await ensure_topics(settings, topics)
    relay.known_topics |= set(topics)


async def build(settings: DispatchSettings) -> Service:  # type: ignore[override]
    infra = await connect(settings)
    app = await asyncio.to_thread(build_application, settings)
    readmodel = ReadModel(infra.pool, settings.schema)
    loop_pool = AsyncConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4,
                                    kwargs={"autocommit": True}, open=False,
                                    name=f"{settings.service}-loop")
    await loop_pool.open(wait=True, timeout=30)
    recorder: Any = app.recorder  # a PostgreSQL recorder (the settings say so)
    reads = LoopReads(loop_pool, settings.schema, recorder.events_table_name, app.mapper)
    app.on_consumer_saved = reads.offer
    units = UnitBook(app)
    await asyncio.to_thread(units.load)
    router = await asyncio.to_thread(
        lambda: Router.build(units=units, routing_version=settings.routing_version,
                             taught=taught_labels(readmodel),
                             extra_places=extra_places(settings),
                             extra_responsibilities=extra_responsibilities(settings)))
    clock = Clock(settings.clock)
    sign_for = sla_sign_for_rule()
    schedules = await follow_schedules(settings, sign_for, infra.producer)
    policy = DispatchPolicy(sign_for_within=timedelta(hours=settings.sign_for_within_hours),
                            bounce_back_within=timedelta(hours=settings.bounce_back_within_hours),
                            sign_for_counted=sign_for)
    committer = GroupCommitter(app, service=settings.service)
    commands = Commands(app=app, committer=committer, readmodel=readmodel, reads=reads,
                        units=units, router=router, policy=policy,
                        auto_accept_replies=settings.auto_accept_replies)
    facts = UpstreamFacts(router=router, clock=clock, policy=policy,
                          reopen_to_same_unit=settings.reopen_to_same_unit)
    lifecycle = IdempotentConsumer(name="dispatch-lifecycle", settings=settings, pool=infra.pool,
                                   topics=[settings.lifecycle_topic],
                                   handlers=consumer.handlers(facts), producer=infra.producer,
                                   app=app, gather=routing_gather(settings))
    relay = OutboxRelay(settings=settings, app=app, pool=infra.pool,
                        translate=Publisher(settings, app, units).translate)
    await create_unit_topics(settings, relay, units)
    feed = AssignmentFeed(app, reads, gather_s=settings.feed_gather_ms / 1000)
    department = DepartmentApi(settings=settings, commands=commands, reads=reads,
                               feed=feed, clock=clock, units=units)

    async def consumer_ready() -> tuple[bool, str]:
        return lifecycle.ready, "consumer " + ("running" if lifecycle.ready else "starting")

    async def calendar_ready() -> tuple[bool, str]:
        # not before the official schedules sla holds are read: a restart would otherwise
        # tell sign-for deadlines from the shipped files for a moment
        return schedules.ready, ("official schedules read" if schedules.ready
                                 else "reading the official schedules (calendar.schedules)")

    http = create_app(settings=settings, title="Minsheng dispatch",
                      description="分级分类、派单、签收、退单、统筹协调、答复审核: the 1+8+N "
                                  "dispatch of every accepted request.",
                      readiness=[infra.pg_ready, infra.kafka_ready, consumer_ready,
                                 calendar_ready])
    http.include_router(http_api.router(commands=commands, units=units, routing=router,
                                        clock=clock))
    http.include_router(http_api.console_router())
    fast_queues.install(http, reads)  # the desk's poll, in front of the framework
    return Service(settings=settings, infra=infra, http=http,
                   loops=[lifecycle.run, relay.run, feed.run, schedules.run],
                   grpc_servicers=[department.add_to],
                   on_stop=[committer.close, app.close, loop_pool.close])
