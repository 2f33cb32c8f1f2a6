"""Wires intake: settings -> infrastructure -> application -> HTTP, relay. No I/O at import."""

from __future__ import annotations

from eventsourcing.application import Application

from backbone.group_commit import GroupCommitter
from backbone.http import create_app
from backbone.relay import OutboxRelay
from backbone.runtime import Service, connect
from backbone.store import application_env
from services.intake.adapters import codes
from services.intake.application.submissions import IntakeApplication, Submissions
from services.intake.domain.validation import load_acceptance_rules, load_city_boundary
from services.intake.entrypoints import http_api, publications
from services.intake.settings import IntakeSettings


def build_application(settings: IntakeSettings) -> Application:
    return IntakeApplication(env=application_env(settings))


async def build(settings: IntakeSettings) -> Service:  # type: ignore[override]
    infra = await connect(settings)
    app = build_application(settings)
    codes.create_table(infra.pool, settings.schema)
    committer = GroupCommitter(app, service=settings.service)
    submissions = Submissions(
        app=app, committer=committer, codes=codes.CodeSequence(infra.pool, settings.schema,
                                                               settings.code_block),
        rules=load_acceptance_rules(), city=load_city_boundary(), region=settings.region,
        pepper=settings.pseudonym_pepper.encode())
    relay = OutboxRelay(settings=settings, app=app, pool=infra.pool,
                        translate=publications.translate_for(settings.lifecycle_topic),
                        producer=infra.producer)
    http = create_app(settings=settings, title="Minsheng intake",
                      description="一网尽收: every channel into one net, one code per request.",
                      readiness=[infra.pg_ready, infra.kafka_ready])
    http.include_router(http_api.router(submissions))
    return Service(settings=settings, infra=infra, http=http, loops=[relay.run],
                   on_stop=[committer.close, app.close])
