"""CPU per full ticket of one service's consumer, fed real lifecycles (`python -m
bench.consumer_cost --service NAME`; this module holds that mode).

The envelopes are whole tickets as the audit ledger recorded them in a platform run (about 16
lifecycle events a ticket), copied under fresh ticket and event ids as often as `--tickets`
asks, onto a throw-away topic prefix and PostgreSQL schema. A child process publishes them in
ledger order at `--rate` tickets/s (so batches are as small as the platform's are at that
rate); this process runs the service's own consumer (built as its bootstrap builds it) and
counts its CPU (user + system, every thread) from the first publication until the consumer's
stored positions reach the last message. `--profile`: py-spy on this process meanwhile.

Services (SERVICES): workbench (its ticket list), intake-lifecycle (intake's read side of
other services' facts), dispatch, sla, feedback-decisions (aggregate mode, their own
application on the throw-away schema), intake-projector (intake's own log: read model and 并单; fed by
saving real submissions' Ticket aggregates instead of Kafka), analytics-surges (the faust
worker, run as its own process: its CPU from /proc).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.consumer import gather, routing_gather
from backbone.kafka import drop_topics, ensure_topics, make_producer
from backbone.settings import ServiceSettings
from backbone.store import ensure_database
from bench import profile
from bench.idle_backbone import cpu_seconds

LEDGER_DSN = "host=127.0.0.1 port=55432 user=postgres dbname=minsheng"
_NS = uuid.UUID("6d1f0f5e-3b0a-4f51-9d0e-0c4b7f1e2a33")


# -- the recorded lifecycles ------------------------------------------------------------------
def recorded(dsn: str = "") -> list[bytes]:
    """Every envelope of the audit ledger of a platform run, in ledger order."""
    with psycopg.connect(dsn or LEDGER_DSN, autocommit=True) as conn:
        rows = conn.execute("SELECT event FROM audit.ledger WHERE ticket_id NOT LIKE 'surge:%'"
                            " ORDER BY ledger_seq").fetchall()
    if not rows:
        raise SystemExit("the audit ledger is empty: run the platform (make bench) first")
    return [bytes(r[0]) for r in rows]


def copies(raw: list[bytes], tickets: int) -> tuple[list[tuple[bytes, bytes, list]], int]:
    """The recorded envelopes again and again under fresh ids until `tickets` tickets:
    (key, value, headers) in ledger order, and how many tickets that is."""
    decoded = [events.decode(r).envelope for r in raw]
    per_copy = len({e.ticket_id for e in decoded})
    out: list[tuple[bytes, bytes, list]] = []
    n = 0
    for k in range(max(1, -(-tickets // per_copy))):
        run = uuid.uuid4().hex[:6]
        for env in decoded:
            copy = type(env)()
            copy.CopyFrom(env)
            copy.ticket_id = str(uuid.uuid5(_NS, f"{run}:{env.ticket_id}"))
            copy.event_id = str(uuid.uuid5(_NS, f"{run}:{env.event_id}"))
            copy.ticket_code = f"{env.ticket_code[:-1]}{k % 10}" if k else env.ticket_code
            out.append((copy.ticket_id.encode(), copy.SerializeToString(),
                        events.kafka_headers(copy)))
        n += per_copy
    return out, n


def _publish(settings: dict[str, Any], topic: str, messages: list, per_s: float) -> None:
    async def go() -> None:
        producer = make_producer(ServiceSettings(**settings))
        await producer.start()
        start = time.monotonic()
        try:
            for i, (key, value, headers) in enumerate(messages):
                if per_s > 0:
                    due = start + i / per_s
                    if due > time.monotonic():
                        await producer.flush()
                        await asyncio.sleep(due - time.monotonic())
                await producer.send(topic, value, key=key, headers=headers)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


# -- the services' consumers ------------------------------------------------------------------
def _gather(settings: Any, field: str) -> Any:
    """The service's gather as its bootstrap makes it (`backbone.consumer.gather`)."""
    return gather(getattr(settings, field))


def _workbench(settings: ServiceSettings, pool: ConnectionPool) -> tuple[str, Any, Any]:
    from services.workbench.adapters import readmodel
    from services.workbench.entrypoints import consumer
    from services.workbench.settings import WorkbenchSettings

    readmodel.create_tables(pool, settings.schema)
    return consumer.CONSUMER, consumer.handlers(settings.schema), _gather(
        WorkbenchSettings(environment="development"), "list_gather_ms")


def _intake_lifecycle(settings: ServiceSettings, pool: ConnectionPool
                      ) -> tuple[str, Any, Any]:
    from services.intake.adapters import ticket_index
    from services.intake.application import handlers
    from services.intake.settings import IntakeSettings

    ticket_index.create_table(pool, settings.schema)
    return "intake-lifecycle", handlers.lifecycle(ticket_index.TicketIndex(
        pool, settings.schema)), _gather(IntakeSettings(environment="development"),
                                         "read_side_gather_ms")


def _dispatch(settings: ServiceSettings, pool: ConnectionPool) -> tuple[str, Any, Any, Any]:
    from datetime import timedelta

    from backbone.clock import Clock
    from backbone.store import application_env
    from services.dispatch.application.app import DispatchApplication
    from services.dispatch.application.routing import Router
    from services.dispatch.application.units import UnitBook
    from services.dispatch.application.upstream import UpstreamFacts
    from services.dispatch.bootstrap import RECORDER
    from services.dispatch.domain.lifecycle import DispatchPolicy
    from services.dispatch.entrypoints import consumer

    app = DispatchApplication(env={**application_env(settings),
                                   "APPLICATION_RECORDER_TOPIC": RECORDER})
    units = UnitBook(app)
    units.load()
    router = Router.build(units=units, routing_version=2, taught=[])
    facts = UpstreamFacts(router=router, clock=Clock("wall"), policy=DispatchPolicy(
        sign_for_within=timedelta(hours=2), bounce_back_within=timedelta(hours=24)),
        reopen_to_same_unit=True)
    return "dispatch-lifecycle", consumer.handlers(facts), routing_gather(settings), {"app": app}


def _sla(settings: ServiceSettings, pool: ConnectionPool) -> tuple[str, Any, Any, Any]:
    import threading

    from services.sla.application.handlers import handlers
    from services.sla.application.upstream import Upstream
    from services.sla.bootstrap import build_application
    from services.sla.domain.calendar import WorkingCalendar
    from services.sla.entrypoints.lifecycle import CONSUMER_NAME, SlaConsumer
    from services.sla.settings import SlaSettings

    sla = SlaSettings(**{**settings.model_dump(), "service": "sla"})
    app = build_application(sla, WorkingCalendar())
    upstream = Upstream(rules=app.rules, pool=pool, schema=settings.schema,
                        extension_auto_approve_days=sla.extension_auto_approve_days)
    return CONSUMER_NAME, handlers(upstream), gather(sla.sla_gather_ms), {
        "app": app, "cls": lambda **kw: SlaConsumer(lock=threading.Lock(), **kw)}


def _feedback_decisions(settings: ServiceSettings, pool: ConnectionPool
                        ) -> tuple[str, Any, Any, Any]:
    from backbone.store import application_env
    from services.feedback.adapters import read_models
    from services.feedback.application import handlers as handler_tables
    from services.feedback.application.app import FeedbackApplication
    from services.feedback.application.upstream import Upstream
    from services.feedback.domain.policy import load_feedback_policy
    from services.feedback.settings import FeedbackSettings

    app = FeedbackApplication(env=application_env(settings))
    read_models.create_tables(pool, settings.schema)
    # as feedback's bootstrap makes it: feedback_state rows written with the batch, first
    # sightings asked once per batch; gathers as there (not on the submission -> assignment path)
    events_table: str = app.recorder.events_table_name  # type: ignore[attr-defined]
    upstream = Upstream(load_feedback_policy(), schema=settings.schema,
                        stored=read_models.stored_ids(pool, settings.schema, events_table))
    return "feedback-decisions", handler_tables.decisions(upstream), \
        gather(FeedbackSettings(environment="development").decisions_gather_ms,
               FeedbackSettings(environment="development").decisions_gather_bytes), \
        {"app": app}


def _intake_merge_refusals(settings: ServiceSettings, pool: ConnectionPool
                           ) -> tuple[str, Any, Any, Any]:
    """Intake's undo of the merges dispatch refused (aggregate mode): on a recorded ledger,
    which holds no refusal, what reading the whole lifecycle topic to skip it costs."""
    from services.intake.application import merge_refusals
    from services.intake.bootstrap import build_application
    from services.intake.settings import IntakeSettings

    app = build_application(IntakeSettings(environment="development", pg_schema=settings.schema,
                                           topic_prefix=settings.topic_prefix))
    return merge_refusals.CONSUMER, merge_refusals.handlers(app), _gather(
        IntakeSettings(environment="development"), "read_side_gather_ms"), {"app": app}


# each: (consumer name, handlers, gather[, {"app": aggregate mode's application, "cls": the
# consumer's class}]) as the service's bootstrap makes them
CONSUMERS: dict[str, Callable[[ServiceSettings, ConnectionPool], tuple[Any, ...]]] = {
    "workbench": _workbench, "intake-lifecycle": _intake_lifecycle, "dispatch": _dispatch,
    "sla": _sla, "feedback-decisions": _feedback_decisions,
    "intake-merge-refusals": _intake_merge_refusals}


# -- the consumers nobody waits on (they gather their fetches) ---------------------------------
def _audit(settings: ServiceSettings, pool: ConnectionPool) -> tuple[str, Any, Any, Any]:
    from services.audit.adapters.ledger_tables import create_tables
    from services.audit.entrypoints import ledger_consumer
    from services.audit.settings import AuditSettings

    create_tables(settings.pg_conninfo(), settings.schema, "")
    return ledger_consumer.CONSUMER, ledger_consumer.EveryEventType(
        ledger_consumer.ledger_handler(settings.schema)), _gather(AuditSettings(
            environment="development"), "ledger_gather_ms"), {
        "decode": ledger_consumer.decode_for_ledger,
        "notify_channel": f"minsheng_ledger_{settings.schema}"[:63]}


def _analytics(settings: ServiceSettings, pool: ConnectionPool) -> tuple[str, Any, Any, Any]:
    from services.analytics.adapters import fact_store, surge_store
    from services.analytics.entrypoints import consumer
    from services.analytics.settings import AnalyticsSettings

    fact_store.create_tables(pool, settings.schema)
    surge_store.create_table(pool, settings.schema)
    return consumer.CONSUMER, consumer.handlers(settings.schema), _gather(AnalyticsSettings(
        environment="development"), "facts_gather_ms"), {
        "notify_channel": fact_store.facts_channel(settings.schema)}


def _feedback_hall(settings: ServiceSettings, pool: ConnectionPool
                   ) -> tuple[str, Any, Any, Any]:
    from backbone.clock import Clock
    from services.feedback.adapters import read_models
    from services.feedback.adapters.registry import load_registry
    from services.feedback.domain.hall import load_hall_rules
    from services.feedback.entrypoints.hall_consumer import HallProjector
    from services.feedback.settings import FeedbackSettings

    feedback = FeedbackSettings(environment="development")
    read_models.create_tables(pool, settings.schema)
    return "feedback-hall", HallProjector(
        schema=settings.schema, clock=Clock(feedback.clock), rules=load_hall_rules(),
        registry=load_registry(feedback.unit_registry_path, feedback.taxonomy_path)
    ).handlers(), _gather(feedback, "hall_gather_ms"), {}


CONSUMERS.update({"audit": _audit, "analytics": _analytics, "feedback-hall": _feedback_hall})


class _Spy:
    def __init__(self, on: bool, title: str, pid: int = 0):
        self.on, self.title = on, title
        self.folder = Path(tempfile.mkdtemp(prefix="service_cost_"))
        self.recorder = profile.Recorder({title: pid or os.getpid()}, self.folder)

    def __enter__(self) -> _Spy:
        if self.on:
            self.recorder.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self.recorder.__exit__(*exc)

    def text(self) -> str:
        if not self.on:
            return ""
        return profile.render(self.recorder.summaries(), f"# {self.title}") + self.recorder.error


def _positions(conn: psycopg.Connection[Any], schema: str, name: str) -> int:
    row = conn.execute(SQL("SELECT coalesce(sum(next_offset), 0) FROM {}.consumer_positions"
                           " WHERE consumer = %s").format(Identifier(schema)), (name,)).fetchone()
    return int(row[0]) if row else 0


async def _consumer_cost(service: str, settings: ServiceSettings, messages: list, tickets: int,
                         rate: float, spy: bool) -> dict[str, Any]:
    from backbone.consumer import IdempotentConsumer

    await ensure_topics(settings, {settings.lifecycle_topic: 12, settings.dead_letter_topic: 1})
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    name, handlers, gather, *more = CONSUMERS[service](settings, pool)
    extra = dict(more[0]) if more else {}
    make = extra.pop("cls", IdempotentConsumer)
    producer = make_producer(settings)
    await producer.start()
    consumer = make(name=name, settings=settings, pool=pool,
                    topics=[settings.lifecycle_topic], handlers=handlers,
                    producer=producer, **({"gather": gather} if gather else {}), **extra)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    while not (consumer.ready and consumer.consumer and consumer.consumer.assignment()):
        await asyncio.sleep(0.05)
    per_s = rate * len(messages) / tickets if rate > 0 else 0.0
    child = multiprocessing.get_context("spawn").Process(
        target=_publish, args=(settings.model_dump(), settings.lifecycle_topic, messages, per_s))
    watch = psycopg.connect(settings.pg_conninfo(), autocommit=True)
    try:
        with _Spy(spy, service) as recording:
            # the publisher's spawn pickles every message in this process (6 % of the sla
            # consumer's samples): started first, outside the measured CPU; it needs a second
            # to import and connect before its first message arrives
            child.start()
            cpu0, wall0 = cpu_seconds(os.getpid()), time.monotonic()
            while _positions(watch, settings.schema, name) < len(messages):
                await asyncio.sleep(0.2)
                if time.monotonic() - wall0 > 1800:
                    raise TimeoutError(service)
            wall, cpu = time.monotonic() - wall0, cpu_seconds(os.getpid()) - cpu0
        child.join(30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await producer.stop()
        watch.close()
        pool.close()
    return {"service": service, "tickets": tickets, "messages": len(messages),
            "rate_tickets_per_s": rate, "seconds": round(wall, 1),
            "cpu_ms_per_ticket": round(cpu * 1000 / tickets, 2),
            "cpu_us_per_message": round(cpu * 1e6 / len(messages)), "profile": recording.text()}


# -- intake's projector: fed by intake's own log ----------------------------------------------
def _projector_cost(settings: ServiceSettings, raw: list[bytes], tickets: int,
                    rate: float, spy: bool) -> dict[str, Any]:
    from services.intake.adapters import ticket_index
    from services.intake.application.projector import TicketProjector
    from services.intake.bootstrap import build_application
    from services.intake.settings import IntakeSettings

    intake = IntakeSettings(**{**settings.model_dump(), "service": "intake"})
    app = build_application(intake)
    pool = ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4, open=True)
    ticket_index.create_table(pool, settings.schema)
    index = ticket_index.TicketIndex(pool, settings.schema)
    projector = TicketProjector(app=app, index=index, schema=settings.schema)
    submitted = _submissions(raw, tickets)
    per_round = max(1, round(rate * 0.05)) if rate > 0 else len(submitted)
    cpu = 0.0
    wall0 = time.monotonic()
    try:
        with _Spy(spy, "intake-projector") as recording:
            for start in range(0, len(submitted), per_round):
                app.save(*[a for t in submitted[start:start + per_round] for a in t])
                t0 = time.process_time()
                while projector.run_once():
                    pass
                cpu += time.process_time() - t0
        wall = time.monotonic() - wall0
    finally:
        pool.close()
        app.close()
    return {"service": "intake-projector", "tickets": len(submitted),
            "rate_tickets_per_s": rate, "tickets_per_round": per_round,
            "seconds": round(wall, 1), "cpu_ms_per_ticket": round(cpu * 1000 / len(submitted), 2),
            "profile": recording.text()}


def _submissions(raw: list[bytes], tickets: int) -> list[list[Any]]:
    """Ticket aggregates (submitted, then accepted or rejected as recorded) from the ledger's
    TicketSubmitted envelopes, with fresh codes: what intake's POST path saves."""
    from services.intake.domain.ticket import Ticket

    subs = [d for d in map(events.decode, raw) if d.event_type == "TicketSubmitted"]
    out = []
    for n in range(tickets):
        d = subs[n % len(subs)]
        p = d.payload
        place = None
        if p.place.county or p.place.has_point:
            place = {"lat": p.place.point.lat if p.place.has_point else None,
                     "lon": p.place.point.lon if p.place.has_point else None,
                     "address_masked": p.place.address_masked or None}
        at = d.occurred_at
        code = f"FY-{at:%y%m%d}-{n + 1:05d}-{'ABCDEFGHJK'[n % 10]}"
        ticket = Ticket(code=_valid(code), channel=p.channel, masked_text=p.text_masked,
                        masked_title=p.title_masked or None, category_hint=p.category_hint or None,
                        place=place, citizen=p.citizen_pseudonym or None, masked_contact=None,
                        requester_kind=p.requester_kind or "citizen", attachment_refs=[],
                        idempotency_key=uuid.uuid4().hex, timestamp=at,
                        adapter_id=p.adapter_id or "bench", external_ref="")
        ticket.accept(flags=[], at=at)
        out.append([ticket])
    return out


def _valid(code: str) -> str:
    from services.intake.domain.ticket_code import issue_code

    region, day, seq = code.split("-")[0], code.split("-")[1], int(code.split("-")[2])
    from datetime import date

    return issue_code(region, date(2000 + int(day[:2]), int(day[2:4]), int(day[4:])), seq)


# -- the surge worker (faust): its own process --------------------------------------------------
async def _surges_cost(settings: ServiceSettings, messages: list, tickets: int, rate: float,
                       spy: bool) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from backbone.kafka import client_options

    await ensure_topics(settings, {settings.lifecycle_topic: 12, settings.dead_letter_topic: 1})
    env = {**os.environ, "MINSHENG_ANALYTICS_ROLE": "surges",
           "MINSHENG_TOPIC_PREFIX": settings.topic_prefix, "MINSHENG_PG_SCHEMA": settings.schema,
           "MINSHENG_SURGES_HTTP_PORT": str(18000 + os.getpid() % 1000),
           "MINSHENG_SURGES_DATADIR": tempfile.mkdtemp(prefix="surges_"),
           "MINSHENG_ENVIRONMENT": "development", "MINSHENG_LOG_LEVEL": "INFO",  # as deployed
           "PYTHONPATH": ".:proto"}
    worker = subprocess.Popen([sys.executable, "-m", "services.analytics"], env=env,
                              stdout=subprocess.DEVNULL, stderr=open("/tmp/surges_cost.log", "wb"))
    group = settings.group("analytics-surges")
    watch = AIOKafkaConsumer(**client_options(settings), group_id=None)  # type: ignore[arg-type]
    await watch.start()
    tps = [TopicPartition(settings.lifecycle_topic, p) for p in range(12)]
    try:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(**client_options(settings))  # type: ignore[arg-type]
        await admin.start()

        async def committed() -> int:
            offsets = await admin.list_consumer_group_offsets(group)
            return sum(o.offset for tp, o in offsets.items()
                       if tp.topic == settings.lifecycle_topic and o.offset > 0)

        # ready: the group has committed a position (faust commits on its interval)
        await _produce_now(settings, messages[:16])
        t0 = time.monotonic()
        while await committed() < 16:
            await asyncio.sleep(0.5)
            if time.monotonic() - t0 > 180:
                raise TimeoutError("the surge worker did not start (/tmp/surges_cost.log)")
        rest = messages[16:]
        per_s = rate * len(rest) / tickets if rate > 0 else 0.0
        child = multiprocessing.get_context("spawn").Process(
            target=_publish, args=(settings.model_dump(), settings.lifecycle_topic, rest, per_s))
        with _Spy(spy, "analytics-surges", worker.pid) as recording:
            cpu0, wall0 = cpu_seconds(worker.pid), time.monotonic()
            child.start()
            while await committed() < len(messages):
                await asyncio.sleep(0.5)
                if time.monotonic() - wall0 > 1800:
                    raise TimeoutError("surges")
            wall, cpu = time.monotonic() - wall0, cpu_seconds(worker.pid) - cpu0
        child.join(30)
        ends = await watch.end_offsets(tps)
        await admin.close()
    finally:
        worker.terminate()
        worker.wait(30)
        await watch.stop()
    return {"service": "analytics-surges", "tickets": tickets, "messages": sum(ends.values()),
            "rate_tickets_per_s": rate, "seconds": round(wall, 1),
            "cpu_ms_per_ticket": round(cpu * 1000 / tickets, 2), "profile": recording.text()}


async def _produce_now(settings: ServiceSettings, messages: list) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send(settings.lifecycle_topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


SERVICES = (*CONSUMERS, "intake-projector", "analytics-surges", "notifier")


def run(service: str, *, tickets: int, rate: float, profile: bool = False,
        ledger_dsn: str = "", notifier_contacts: str = "reachable") -> dict[str, Any]:
    if service not in SERVICES:
        raise SystemExit(f"--service: one of {', '.join(SERVICES)}")
    unique = uuid.uuid4().hex[:8]
    settings = ServiceSettings(service="bench", environment="development",
                               pg_schema=f"sc_{unique}", topic_prefix=f"sc{unique}.")
    ensure_database(settings)
    raw = recorded(ledger_dsn)
    try:
        if service == "intake-projector":
            return _projector_cost(settings, raw, tickets, rate, profile)
        messages, n = copies(raw, tickets)
        if service == "analytics-surges":
            return asyncio.run(_surges_cost(settings, messages, n, rate, profile))
        if service == "notifier":  # bench/notifier_cost.py: its notices, not the lifecycle
            from bench import notifier_cost

            return asyncio.run(notifier_cost.cost(settings, messages, n, rate, profile,
                                                  notifier_contacts))
        return asyncio.run(_consumer_cost(service, settings, messages, n, rate, profile))
    finally:
        with psycopg.connect(settings.pg_conninfo(), autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                Identifier(settings.schema)))
        asyncio.run(drop_topics(settings))
