"""A ledger written straight into a fresh PostgreSQL schema through the service's own append
path (no Kafka), with signed checkpoints: the subject of the tamper tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from services.audit.adapters.ledger_store import Message, append
from services.audit.bootstrap import AuditParts, build_parts
from services.audit.settings import AuditSettings
from tests.integration.audit.lifecycle import new_ticket, ticket_lifecycle


@dataclass
class StoredLedger:
    settings: AuditSettings
    parts: AuditParts
    size: int

    def superuser(self) -> psycopg.Connection[Any]:
        """A connection that bypasses the triggers: what an attacker with DBA rights has."""
        conn = psycopg.connect(self.settings.pg_conninfo(), autocommit=True)
        for table in ("ledger", "merkle_node", "checkpoints"):
            conn.execute(f'ALTER TABLE "{self.settings.schema}".{table} DISABLE TRIGGER USER')
        return conn

    def close(self) -> None:
        self.parts.pool.close()


def build_ledger(infra, unique: str, key_dir: Path, *, tickets: int = 8,
                 checkpoint_at: tuple[int, ...] = (20, 50, 80)) -> StoredLedger:
    settings = AuditSettings(environment="test", pg_dbname=infra.pg_dbname,
                             pg_schema=f"audit_{unique}", topic_prefix=f"t{unique}.",
                             checkpoint_key_file=str(key_dir / "checkpoint.pem"))
    from backbone.store import ensure_database

    ensure_database(settings)
    parts = build_parts(settings, pool_size=2)
    lifecycles = [ticket_lifecycle(*new_ticket()) for _ in range(tickets)]
    envs = [env for step in range(10) for env in (lc[step] for lc in lifecycles)]
    offsets: dict[int, int] = {}
    for i, env in enumerate(envs):
        partition = hash(env.ticket_id) % 4
        offsets[partition] = offsets.get(partition, -1) + 1
        with parts.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            append(cur, settings.schema, Message(
                topic=settings.lifecycle_topic, partition=partition, offset=offsets[partition],
                raw=env.SerializeToString(), event_id=env.event_id, ticket_id=env.ticket_id,
                ticket_code=env.ticket_code, event_type=env.event_type, producer=env.producer,
                occurred_at=env.occurred_at.ToDatetime()))
        if i + 1 in checkpoint_at:
            assert parts.checkpointer.sign_if_grown() is not None
    return StoredLedger(settings, parts, len(envs))
