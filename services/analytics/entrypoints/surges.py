"""The surge worker (突发预警): a faust-streaming app over `tickets.events`.

    python -m services.analytics.entrypoints.surges        # MINSHENG_* settings as analytics

Why faust here and not in the KPI fold: a surge is a live, windowed signal whose state may
live in Kafka and may be rebuilt from it; nothing about it must equal a rebuild from the
ledger to the ticket (docs/analytics.md). Two stages, each with its state in a
changelog-backed table (the changelog topics hold it; a restarted worker restores it):

1. `follow_tickets`, co-partitioned with `tickets.events` (keyed by ticket id): one row per
   ticket joins submission, acceptance and classification (domain/surge_tickets.py) and
   sends each accepted ticket once to `analytics.surges.counted`, keyed by county|subcategory.
   Duplicates merged into a case ask their primary's row (`analytics.surges.follow`, keyed by
   the primary's ticket id, same partition count, so the same partition and table shard).
2. `detect`: per county|subcategory the hopping-window counts and baseline
   (domain/surges.py); when a burst starts, a SurgeDetected event goes to `tickets.events`
   (producer analytics, subject "surge:<county>:<subcategory>:<window start>").

At least once: a replay after a crash recounts nothing (a window remembers its tickets'
codes) and re-publishes an alert with the same deterministic event id, which every consumer
(the analytics service's surge list, the audit ledger) applies once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAlreadyExistsError
from minsheng.v1 import analytics_events_pb2
from prometheus_client import Counter, generate_latest

from backbone import events
from backbone.kafka import (
    LIFECYCLE_PARTITIONS,
    base_topics,
    client_options,
    ensure_topics,
    faust_credentials,
    new_topic,
)
from backbone.runtime import reachable
from backbone.settings import load
from services.analytics.adapters.surge_transport import SurgeApp, patient_transport
from services.analytics.domain.surge_tickets import (
    FINISHED,
    HANDLED,
    Count,
    Follow,
    follow,
    step,
)
from services.analytics.domain.surges import SurgeAlert, SurgeRule, key_of, new_state, observe
from services.analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)

COUNTED = Counter("minsheng_surge_tickets_counted_total", "Accepted tickets counted in windows")
ALERTS = Counter("minsheng_surges_detected_total", "Surge alerts published")
COUNT_PARTITIONS = 6


def rule_of(settings: AnalyticsSettings) -> SurgeRule:
    return SurgeRule(window=timedelta(minutes=settings.surge_window_min),
                     hop=timedelta(minutes=settings.surge_hop_min),
                     baseline_days=settings.surge_baseline_days,
                     min_count=settings.surge_min_count, ratio=settings.surge_ratio,
                     chance=settings.surge_chance)


def alert_envelope(alert: SurgeAlert) -> Any:
    payload = analytics_events_pb2.SurgeDetected(
        county=alert.county, subcategory=alert.subcategory,
        window_start=alert.window_start.isoformat(), window_end=alert.window_end.isoformat(),
        count=alert.count, baseline=alert.baseline, threshold=alert.threshold,
        detected_at=alert.detected_at.isoformat(), ticket_codes=list(alert.tickets))
    return events.make_envelope(
        payload=payload, event_id=events.event_id_for(alert.subject, 1),
        ticket_id=alert.subject, ticket_code=alert.subject, producer="analytics",
        occurred_at=alert.detected_at)


def unhandled(lifecycle_topic: str) -> Callable[[Any], bool]:
    """Lifecycle messages no stage handles, by the envelope's type header: acked where they
    are read, never an event in faust's streams (adapters/surge_transport.py)."""
    wanted = frozenset(HANDLED)

    def skip(message: Any) -> bool:
        return (message.topic == lifecycle_topic
                and events.header(message.headers, "event_type") not in wanted)

    return skip


def make_app(settings: AnalyticsSettings) -> faust.App:
    """The faust app (built when called, never at import)."""
    rule = rule_of(settings)
    app = SurgeApp(
        settings.group("analytics-surges"), broker=f"kafka://{settings.kafka_bootstrap}",
        transport=patient_transport(settings.surges_fetch_min_bytes,
                                    settings.surges_fetch_wait_ms,
                                    skip=unhandled(settings.lifecycle_topic)),
        broker_credentials=faust_credentials(settings),
        store="memory://", datadir=settings.surges_datadir, web_enabled=True,
        web_port=settings.surges_http_port, web_bind=settings.http_host,
        web_host=settings.http_host, topic_allow_declare=True,
        topic_replication_factor=settings.kafka_replication_factor,
        consumer_auto_offset_reset="earliest", table_standby_replicas=0,
        producer_linger=settings.surges_producer_linger_ms / 1000,
        broker_session_timeout=settings.surges_session_timeout_s)
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
           "value_serializer": "raw"}
    source = app.topic(settings.lifecycle_topic, **raw)
    follow_topic, counted_topic = own_topics(settings)
    follows = app.topic(follow_topic, partitions=LIFECYCLE_PARTITIONS, **raw)
    counted = app.topic(counted_topic, partitions=COUNT_PARTITIONS, **raw)
    # keys: ticket id / county|subcategory as text; values: JSON rows (app's serializers)
    tickets = app.Table("surge-tickets", default=dict, partitions=LIFECYCLE_PARTITIONS,
                        key_type=str)
    keys = app.Table("surge-keys", default=dict, partitions=COUNT_PARTITIONS, key_type=str)

    async def send(items: list[Count | Follow]) -> None:
        for item in items:
            if isinstance(item, Follow):
                await follows.send(key=item.primary_ticket_id.encode(),
                                   value=json.dumps(item.as_dict()).encode())
            else:
                await counted.send(key=key_of(item.county, item.subcategory).encode(),
                                   value=json.dumps(item.as_dict()).encode())

    @app.agent(source)
    async def follow_tickets(stream: Any) -> None:
        async for event in stream.events():
            if events.header(event.message.headers, "event_type") not in HANDLED:
                continue  # the transport skips these already; kept for any other transport
            try:
                decoded = events.decode(event.value)
            except events.EnvelopeError as exc:
                log.warning("surges: skipped an unusable event: %s", exc)
                continue
            if decoded.event_type in FINISHED:
                if decoded.ticket_id in tickets:
                    del tickets[decoded.ticket_id]
                continue
            row = dict(tickets[decoded.ticket_id] or {})
            out = step(row, decoded.event_type, decoded.payload,
                       code=decoded.envelope.ticket_code, at=decoded.occurred_at)
            tickets[decoded.ticket_id] = row  # reassigned: faust logs a changed value, not a mutation
            await send(list(out))

    @app.agent(follows)
    async def follow_cases(stream: Any) -> None:
        async for value in stream:
            wanted = Follow.from_dict(json.loads(value))
            row = dict(tickets[wanted.primary_ticket_id] or {})
            out = follow(row, wanted)
            tickets[wanted.primary_ticket_id] = row
            await send(list(out))

    @app.agent(counted)
    async def detect(stream: Any) -> None:
        async for value in stream:
            c = Count.from_dict(json.loads(value))
            key = key_of(c.county, c.subcategory)
            state = dict(keys[key] or new_state())
            alert = observe(rule, state, county=c.county, subcategory=c.subcategory, at=c.at,
                            ticket=c.code)
            keys[key] = state
            COUNTED.inc()
            if alert is None:
                continue
            env = alert_envelope(alert)
            await source.send(key=alert.subject.encode(), value=env.SerializeToString(),
                              headers=events.kafka_headers(env))
            ALERTS.inc()
            log.info("surge: %s %s, %d tickets in %s (baseline %.2f)", alert.county,
                     alert.subcategory, alert.count, alert.window_start, alert.baseline)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "service": "analytics-surges"})

    kafka_ready = KafkaCheck(settings)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """Ready when the brokers answer and the consumer holds its partitions, with the
        services' `checks` (backbone/http.py): faust's state alone said ready while Kafka was
        down (the worker then counts and alerts nothing)."""
        checks, ready = {}, True
        for name, check in (("kafka_ready", kafka_ready), ("consumer", consumer_ready(app))):
            try:
                good, detail = await check()
            except Exception as exc:
                good, detail = False, f"{type(exc).__name__}: {exc}"
            checks[name] = detail
            ready = ready and good
        return web.json({"ready": ready, "checks": checks}, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; plain text is Prometheus' format
        return web.text(generate_latest().decode(), content_type="text/plain")

    return app


class KafkaCheck:
    """Whether the brokers answer, as the services' `Infrastructure.kafka_ready` asks: a
    metadata request, on a client of the web server's own loop (faust's consumer and
    producer live in threads and loops of their own), made on first use and kept."""

    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.client: AIOKafkaClient | None = None

    async def __call__(self) -> tuple[bool, str]:
        if self.client is None:
            client = AIOKafkaClient(**client_options(self.settings))  # type: ignore[arg-type]
            try:
                await asyncio.wait_for(client.bootstrap(), timeout=3)
            except BaseException:
                await client.close()
                raise
            self.client = client
        ok = await asyncio.wait_for(self.client.force_metadata_update(), timeout=3)
        if not ok or not self.client.cluster.brokers():
            return False, "no kafka broker reachable"
        return True, "kafka ok"


def consumer_ready(app: faust.App) -> Callable[[], Any]:
    async def check() -> tuple[bool, str]:
        if app.consumer is None:
            return False, "consumer not started"
        if app.rebalancing is not False:
            return False, "rebalancing"
        return True, "consumer ok"

    return check


def own_topics(settings: AnalyticsSettings) -> dict[str, int]:
    """The worker's own topics (the tables' changelogs faust declares itself)."""
    return {settings.topic("analytics.surges.follow"): LIFECYCLE_PARTITIONS,
            settings.topic("analytics.surges.counted"): COUNT_PARTITIONS}


async def ensure_changelogs(settings: AnalyticsSettings, app: faust.App) -> None:
    """The tables' changelog topics, compacted, with the partitions of their sources (made
    here: faust would otherwise meet a topic it has not finished declaring)."""
    wanted = {table.changelog_topic.get_topic_name(): table.partitions
              for table in app.tables.values()}
    admin = AIOKafkaAdminClient(**client_options(settings))  # type: ignore[arg-type]
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [new_topic(settings, name, n) for name, n in wanted.items()
                   if name not in existing]
        for topic in missing:
            topic.topic_configs["cleanup.policy"] = "compact"
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()
    await ensure_topics(settings, wanted)  # waits until their partitions have leaders


def main() -> None:
    settings = load(AnalyticsSettings)
    app = make_app(settings)

    async def prepare() -> None:
        await ensure_topics(settings, base_topics(settings) | own_topics(settings))
        await ensure_changelogs(settings, app)

    asyncio.run(reachable(settings, f"Kafka at {settings.kafka_bootstrap}", prepare))
    level = {"warning": "warn", "critical": "crit"}.get(settings.log_level.lower(),
                                                        settings.log_level.lower())
    # -q: no banner table on stdout (the log is JSON lines; QuietWorker makes faust's so)
    sys.argv = [sys.argv[0], "-q", "worker", "-l", level]
    app.main()


if __name__ == "__main__":
    main()
