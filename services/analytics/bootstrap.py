"""Wires analytics: settings -> infrastructure -> facts consumer, live state, reports, HTTP.
No I/O at import."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import partial
from pathlib import Path

from backbone.clock import Clock
from backbone.consumer import IdempotentConsumer, gather
from backbone.http import create_app
from backbone.relay import OutboxRelay
from backbone.runtime import Loop, Service, connect
from backbone.store import application_env
from backbone.wakeup import CommitNews
from services.analytics.adapters import fact_store, surge_store
from services.analytics.adapters.basemap import load_basemap
from services.analytics.adapters.registry import load_names, load_place_names
from services.analytics.application import facts_version
from services.analytics.application.hot_topics import HotTopics
from services.analytics.application.live import LiveState
from services.analytics.application.rebuild import ledger_history
from services.analytics.application.reports import AnalyticsApplication, Reports
from services.analytics.domain.fold import LiveKpis, Retention
from services.analytics.domain.text import hot_topic_segmenter
from services.analytics.entrypoints import consumer, http_api, pages, publications
from services.analytics.settings import AnalyticsSettings

log = logging.getLogger(__name__)


def auto_publisher(reports: Reports, live: LiveState, clock: Clock, every_s: float):
    """A loop that publishes each month once the clock (wall, or event-time watermark) has
    passed its end plus the grace."""

    async def publish_months(stop: asyncio.Event) -> None:
        while not stop.is_set():
            if live.loaded:
                try:
                    await asyncio.to_thread(reports.publish_due, clock.now())
                except Exception:
                    log.exception("automatic publication failed; will retry")
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                pass

    return publish_months


async def build(settings: AnalyticsSettings) -> Service:  # type: ignore[override]
    infra = await connect(settings)
    app = AnalyticsApplication(env=application_env(settings))
    fact_store.create_tables(infra.pool, settings.schema)
    surge_store.create_table(infra.pool, settings.schema)
    # facts made by an older version's normalisers are rebuilt from the ledger first
    # (application/facts_version.py), before the live state loads them and the consumer runs
    await asyncio.to_thread(facts_version.bring_up_to_date, infra.pool, settings.schema,
                            consumer.CONSUMER, partial(ledger_history, settings),
                            wait_s=settings.startup_wait_s)
    clock = Clock(settings.clock)
    registry = Path(settings.registry_dir) if settings.registry_dir else None
    names = load_names(registry)
    # hot terms leave out the city's place names: dispatch's gazetteer and landmark file
    segmenter = hot_topic_segmenter(load_place_names(registry, settings.dispatch_places_extra))
    kpis = LiveKpis(tickets_kept=settings.analytics_tickets_kept,
                    retention=Retention(days=settings.analytics_days_kept,
                                        weeks=settings.analytics_weeks_kept,
                                        months=settings.analytics_months_kept,
                                        cached_buckets=settings.analytics_old_buckets_cached),
                    period_facts=partial(fact_store.period_tickets, infra.pool, settings.schema))
    channel = fact_store.facts_channel(settings.schema)
    live = LiveState(kpis, fact_store.FactTail(infra.pool, settings.schema,
                                               settings.fact_grace_s), clock,
                     news=CommitNews(settings, channel=channel))
    reports = Reports(app=app, live=kpis, names=names, min_volume=settings.ranking_min_volume,
                      publish_after=timedelta(hours=settings.publish_after_hours))
    facts = IdempotentConsumer(name=consumer.CONSUMER, settings=settings, pool=infra.pool,
                               topics=[settings.lifecycle_topic],
                               handlers=consumer.handlers(settings.schema),
                               producer=infra.producer, notify_channel=channel,
                               gather=gather(settings.facts_gather_ms))
    relay = OutboxRelay(settings=settings, app=app, pool=infra.pool,
                        translate=publications.translate_for(settings.lifecycle_topic))
    http = create_app(settings=settings, title="Minsheng analytics",
                      description="亮晒比: KPIs, monthly rankings, hot topics, dashboard.",
                      readiness=[infra.pg_ready, infra.kafka_ready, live.ready])
    window = partial(fact_store.submitted_in, infra.pool, settings.schema)
    http.include_router(http_api.router(live=kpis, reports=reports,
                                        hot=HotTopics(window, names, segmenter),
                                        window=window,
                                        names=names, clock=clock,
                                        basemap=load_basemap(
                                            tile_url=settings.map_tile_url,
                                            outline_file=settings.map_outline_file,
                                            attribution=settings.map_tile_attribution),
                                        surges=partial(surge_store.recent, infra.pool,
                                                       settings.schema)))
    http.include_router(pages.router(reports))
    http.state.kpis = kpis  # for diagnostics and tests: the live state
    loops: list[Loop] = [facts.run, live.run, relay.run]
    if settings.auto_publish:
        loops.append(auto_publisher(reports, live, clock, settings.publish_check_s))
    return Service(settings=settings, infra=infra, http=http, loops=loops, on_stop=[app.close])
