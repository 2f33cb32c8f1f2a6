"""Wires audit: settings -> tables and key -> ledger consumer, checkpoint loop, HTTP, gRPC.
No I/O at import."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from backbone import auth
from backbone.consumer import IdempotentConsumer, gather
from backbone.http import create_app
from backbone.kafka import ensure_topics
from backbone.ownership import PartitionOwnership
from backbone.runtime import Infrastructure, Service, connect
from backbone.wakeup import CommitNews
from services.audit.adapters.access_log import AccessLog
from services.audit.adapters.checkpoint_store import CheckpointStore, StoredCheckpoint
from services.audit.adapters.keys import load_or_create_signer
from services.audit.adapters.ledger_store import LedgerReader
from services.audit.adapters.ledger_tables import create_tables, writer_conninfo
from services.audit.application.checkpointing import Checkpointer
from services.audit.application.histories import Histories
from services.audit.application.verification import Verification
from services.audit.domain.checkpoint import CheckpointSigner
from services.audit.entrypoints import grpc_api, http_api, ledger_consumer, ledger_export
from services.audit.settings import AuditSettings


@dataclass
class AuditParts:
    """The audit application without its process: the CLI and the tests use it too."""

    pool: ConnectionPool  # sessions act as the writer role: SELECT and INSERT only
    reader: LedgerReader
    checkpoints: CheckpointStore
    signer: CheckpointSigner
    checkpointer: Checkpointer
    access: AccessLog
    histories: Histories
    verification: Verification


def build_parts(settings: AuditSettings, *, pool_size: int | None = None) -> AuditParts:
    """Create the tables (idempotent), load the key, open the writer pool."""
    create_tables(settings.pg_conninfo(), settings.schema, settings.writer_role)
    signer = load_or_create_signer(name=settings.checkpoint_key_name,
                                   pem=settings.checkpoint_key, path=settings.key_path())
    pool = ConnectionPool(writer_conninfo(settings.pg_conninfo(), settings.writer_role),
                          min_size=1, max_size=pool_size or settings.pg_pool_size, open=True,
                          name=f"{settings.service}-writer")
    reader = LedgerReader(pool, settings.schema)
    checkpoints = CheckpointStore(pool, settings.schema)
    checkpointer = Checkpointer(reader=reader, store=checkpoints, signer=signer,
                                ledger_id=settings.ledger_id)
    access = AccessLog(pool, settings.schema)
    histories = Histories(reader=reader, checkpoints=checkpoints, checkpointer=checkpointer,
                          access=access, verifier=signer.verifier, ledger_id=settings.ledger_id)
    verification = Verification(reader=reader, checkpoints=checkpoints,
                                verifier=signer.verifier, ledger_id=settings.ledger_id)
    return AuditParts(pool, reader, checkpoints, signer, checkpointer, access, histories,
                      verification)


def _publisher(settings: AuditSettings, infra: Infrastructure):  # type: ignore[no-untyped-def]
    async def publish(cp: StoredCheckpoint) -> None:
        await infra.producer.send_and_wait(settings.checkpoint_topic, cp.note.encode(),
                                           key=settings.ledger_id.encode())

    return publish


def ledger_channel(schema: str) -> str:
    """The NOTIFY channel of the ledger consumer's commits (entries appended)."""
    return f"minsheng_ledger_{schema}"[:63]


async def build(settings: AuditSettings) -> Service:  # type: ignore[override]
    infra = await connect(settings)
    await ensure_topics(settings, {settings.checkpoint_topic: 1})
    parts = await asyncio.to_thread(build_parts, settings)
    consumer = IdempotentConsumer(
        name=ledger_consumer.CONSUMER, settings=settings, pool=parts.pool,
        topics=[settings.lifecycle_topic],
        handlers=ledger_consumer.EveryEventType(ledger_consumer.ledger_handler(settings.schema)),
        producer=infra.producer, decode=ledger_consumer.decode_for_ledger,
        notify_channel=ledger_channel(settings.schema),
        gather=gather(settings.ledger_gather_ms))
    ownership = PartitionOwnership.of(consumer, settings.lifecycle_topic)
    # the checkpoint loop wakes when entries are appended (by any replica), not every second
    news = CommitNews(settings, channel=ledger_channel(settings.schema))

    async def until_grown(stop: asyncio.Event) -> None:
        await news.wait(stop, fallback_s=30.0, poll_s=settings.checkpoint_interval_s)

    sign = parts.checkpointer.loop(settings.checkpoint_interval_s, _publisher(settings, infra),
                                   leader=lambda: ownership.owns_partition(0),
                                   until_grown=until_grown)

    async def sign_checkpoints(stop: asyncio.Event) -> None:
        await news.listen()  # before the first look, so no append goes unheard
        await sign(stop)

    http = create_app(settings=settings, title="Minsheng audit",
                      description="The append-only ledger of every ticket's history: replay, "
                                  "state at any moment, proofs and verification.",
                      readiness=[infra.pg_ready, infra.kafka_ready])
    http.include_router(http_api.router(
        histories=parts.histories, reader=parts.reader, checkpoints=parts.checkpoints,
        verification=parts.verification, access=parts.access, verifier=parts.signer.verifier,
        max_page=settings.max_page))
    http.include_router(ledger_export.router(pool=parts.pool, schema=settings.schema,
                                             access=parts.access))
    servicer = grpc_api.AuditServicer(parts.histories, auth.verifier_for(settings))
    return Service(
        settings=settings, infra=infra, http=http,
        loops=[consumer.run, sign_checkpoints],
        grpc_servicers=[grpc_api.add_to(servicer)], on_stop=[news.close, parts.pool.close])
