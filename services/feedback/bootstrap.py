"""Wires feedback: settings -> infrastructure -> application -> HTTP, consumers, relay and
timer. No I/O at import."""

from __future__ import annotations

from backbone import auth
from backbone.clock import Clock
from backbone.consumer import IdempotentConsumer, gather
from backbone.group_commit import GroupCommitter
from backbone.http import create_app
from backbone.ownership import PartitionOwnership
from backbone.rate_limits import SharedRateLimits
from backbone.relay import OutboxRelay
from backbone.runtime import Service, connect
from backbone.store import application_env
from backbone.wakeup import Nudge
from services.feedback.adapters import own_log, read_models
from services.feedback.adapters.registry import load_registry
from services.feedback.application import handlers as handler_tables
from services.feedback.application.answers import AnswerComposer
from services.feedback.application.app import FeedbackApplication
from services.feedback.application.following import Following
from services.feedback.application.judging import Judging
from services.feedback.application.state_projection import PROJECTED, projector
from services.feedback.application.upstream import Upstream
from services.feedback.domain.answer import load_answer_templates
from services.feedback.domain.callbacks import load_callback_rules
from services.feedback.domain.hall import load_hall_rules
from services.feedback.domain.policy import load_feedback_policy
from services.feedback.entrypoints import (
    errors,
    fast_rating,
    http_following,
    http_hall,
    http_judging,
    publications,
    timers,
)
from services.feedback.entrypoints.hall_consumer import HallProjector
from services.feedback.settings import FeedbackSettings, rating_link_issuer


async def build(settings: FeedbackSettings) -> Service:  # type: ignore[override]
    infra = await connect(settings)
    app = FeedbackApplication(env=application_env(settings))
    read_models.create_tables(infra.pool, settings.schema)
    clock = Clock(settings.clock)
    policy = load_feedback_policy()
    registry = load_registry(settings.unit_registry_path, settings.taxonomy_path)
    hall_rules = load_hall_rules()
    link_issuer = rating_link_issuer(settings)
    if link_issuer.kid not in auth.verifier_for(settings).keys:
        raise SystemExit(f"the rating-link key {link_issuer.kid!r} is not in "
                         "MINSHENG_TOKEN_PUBLIC_KEYS: no rating link could be checked")
    committer = GroupCommitter(app, service=settings.service)
    queries = read_models.Queries(infra.pool, settings.schema)

    publisher = publications.Publisher(
        app=app, lifecycle_topic=settings.lifecycle_topic,
        notices_topic=settings.topic("citizen.notices"),
        composer=AnswerComposer(templates=load_answer_templates(), registry=registry,
                                link_issuer=link_issuer,
                                rating_url_base=settings.rating_url_base))
    # commands act first on the record as the relay last folded it (their saves are checked
    # against its version): the citizen rates a reply the relay has just published
    judging = Judging(app=app, committer=committer, queries=queries,
                      links=auth.verifier_for(settings), link_issuer=link_issuer,
                      callback_rules=load_callback_rules(), recent=publisher.states.copy_of)
    following = Following(app=app, committer=committer, queries=queries, policy=policy)
    relay = OutboxRelay(settings=settings, app=app, pool=infra.pool,
                        translate=publisher.translate)
    # the records the batch opens or answers write their feedback_state rows with it; the
    # records and case links a batch looks up for the first time are asked for at once
    events_table: str = app.recorder.events_table_name  # type: ignore[attr-defined]
    upstream = Upstream(policy, schema=settings.schema,
                        stored=read_models.stored_ids(infra.pool, settings.schema, events_table))
    decisions = IdempotentConsumer(
        name="feedback-decisions", settings=settings, pool=infra.pool,
        topics=[settings.lifecycle_topic], handlers=handler_tables.decisions(upstream, clock.observe),
        producer=infra.producer, app=app, gather=gather(settings.decisions_gather_ms,
                                                          settings.decisions_gather_bytes))
    hall = IdempotentConsumer(
        name="feedback-hall", settings=settings, pool=infra.pool,
        topics=[settings.lifecycle_topic], producer=infra.producer,
        gather=gather(settings.hall_gather_ms, 256 * 1024),
        handlers=HallProjector(schema=settings.schema, clock=clock, rules=hall_rules,
                               registry=registry).handlers())
    # feedback_state and follows are written with the aggregates they come from; what the
    # own-log projection they came from before had not projected yet, once after an upgrade
    own_log.finish(app=app, pool=infra.pool, schema=settings.schema,
                   apply=projector(app, settings.schema), wanted=PROJECTED)

    async def consumers_ready() -> tuple[bool, str]:
        ok = decisions.ready and hall.ready
        return ok, "consumers running" if ok else "consumers not running"

    http = create_app(settings=settings, title="Minsheng feedback",
                      description="群众说了算: answers, ratings, callbacks, reopen, the hall.",
                      readiness=[infra.pg_ready, infra.kafka_ready, consumers_ready])
    errors.install(http)
    limits = SharedRateLimits(infra.pool, settings.schema)
    link_ratings = http_judging.LinkRatings(judging, clock, limits,
                                            settings.rating_link_requests_per_minute)
    http.include_router(http_judging.router(judging, clock, link_ratings))
    # every full ticket ends in a rating by link: served without FastAPI's layers when well
    # formed (anything else goes on to the route above, and gets its answer)
    fast_rating.install(http, body_type=http_judging.LinkRating, rate=link_ratings.rate)
    http.include_router(http_hall.router(queries, hall_rules, limits,
                                         settings.hall_requests_per_minute))
    http.include_router(http_following.router(following, queries, clock,
                                              units=frozenset(registry.unit_names)))
    # the unrated timer wakes when a reply may open a window or consumed events move the clock
    windows = Nudge()
    for source in (decisions.after_apply, hall.after_apply):
        source.append(windows.set)
    return Service(settings=settings, infra=infra, http=http,
                   loops=[relay.run, decisions.run, hall.run,
                          timers.unrated_timer(judging, clock, settings.unrated_check_interval_s,
                                               PartitionOwnership.of(decisions,
                                                                     settings.lifecycle_topic),
                                               nudge=windows)],
                   on_stop=[committer.close, app.close])
