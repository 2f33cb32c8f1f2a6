"""Wires the workbench: settings -> infrastructure -> read model, consumer, upstream clients,
HTTP (API and pages). No I/O at import.

The workbench is a backend-for-frontend: the browser talks to it alone (same origin), and it
calls the other services server-side with the signed-in user's own token, so every rule is
still enforced by the service that owns it. Its only state of its own: the ticket list's read
model, the knowledge base, and reply attachments.
"""

from __future__ import annotations

import asyncio

from backbone.consumer import IdempotentConsumer, gather
from backbone.http import create_app
from backbone.runtime import Service, connect
from services.workbench.adapters import readmodel, upstream
from services.workbench.adapters.attachments import AttachmentStore
from services.workbench.adapters.knowledge_store import KnowledgeStore
from services.workbench.entrypoints import (
    consumer,
    http_desk,
    http_hotline,
    http_session,
    http_tickets,
    pages,
)
from services.workbench.entrypoints.deps import SessionAsBearer
from services.workbench.settings import WorkbenchSettings


def prepare_storage(pool, schema: str, seed: bool) -> tuple[KnowledgeStore, AttachmentStore]:
    readmodel.create_tables(pool, schema)
    knowledge = KnowledgeStore(pool, schema)
    knowledge.create_tables()
    if seed:
        knowledge.seed()
    attachments = AttachmentStore(pool, schema)
    attachments.create_tables()
    return knowledge, attachments


async def build(settings: WorkbenchSettings) -> Service:  # type: ignore[override]
    infra = await connect(settings)
    schema = settings.schema
    knowledge, attachments = await asyncio.to_thread(
        prepare_storage, infra.pool, schema, settings.seed_knowledge)
    services = upstream.connect(settings)
    tickets = IdempotentConsumer(name=consumer.CONSUMER, settings=settings, pool=infra.pool,
                                 topics=[settings.lifecycle_topic],
                                 handlers=consumer.handlers(schema, settings.list_rows_kept),
                                 producer=infra.producer,
                                 gather=gather(settings.list_gather_ms))

    async def consumer_ready() -> tuple[bool, str]:
        return tickets.ready, "consuming" if tickets.ready else "consumer not running"

    http = create_app(settings=settings, title="Minsheng workbench",
                      description="民声工作台: the staff's ticket list, unit desk, callbacks, "
                                  "hotline form and knowledge base (a backend-for-frontend).",
                      readiness=[infra.pg_ready, infra.kafka_ready, consumer_ready])
    http.add_middleware(SessionAsBearer, cookie_name=settings.session_cookie)
    http.include_router(http_session.router(services=services, settings=settings))
    http.include_router(http_tickets.router(pool=infra.pool, schema=schema, services=services,
                                            attachments=attachments,
                                            export_max_rows=settings.export_max_rows))
    http.include_router(http_desk.router(services=services, attachments=attachments))
    http.include_router(http_hotline.router(pool=infra.pool, schema=schema, services=services,
                                            knowledge=knowledge))
    http.include_router(pages.router())
    return Service(settings=settings, infra=infra, http=http, loops=[tickets.run],
                   on_stop=[services.close])
