"""Attachments stored once by content hash, as bytea in intake's schema.

The same photo sent by two citizens (or retried by an adapter) is one row: the insert is
`ON CONFLICT DO NOTHING` on the SHA-256. Events only ever carry the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from services.intake.domain.attachments import Attachment


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.attachments ("
                         " sha256 text PRIMARY KEY, media_type text NOT NULL, kind text NOT NULL,"
                         " size bigint NOT NULL, content bytea NOT NULL,"
                         " stored_at timestamptz NOT NULL DEFAULT now())").format(Identifier(schema)))


@dataclass(frozen=True)
class StoredAttachment:
    sha256: str
    media_type: str
    kind: str
    size: int


class AttachmentStore:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.table = SQL("{}.attachments").format(Identifier(schema))

    def put(self, attachment: Attachment, content: bytes) -> bool:
        """Store the content once; True when it was new."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                SQL("INSERT INTO {} (sha256, media_type, kind, size, content)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING").format(self.table),
                (attachment.sha256, attachment.mime, attachment.kind, attachment.size, content))
            return cur.rowcount == 1

    def describe(self, hashes: list[str]) -> dict[str, StoredAttachment]:
        """What is stored of these hashes (one round trip; unknown hashes are absent)."""
        if not hashes:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(
                SQL("SELECT sha256, media_type, kind, size FROM {} WHERE sha256 = ANY(%s)")
                .format(self.table), (hashes,)).fetchall()
        return {r[0]: StoredAttachment(r[0], r[1], r[2], int(r[3])) for r in rows}

    def content(self, sha256: str) -> tuple[StoredAttachment, bytes] | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                SQL("SELECT sha256, media_type, kind, size, content FROM {} WHERE sha256 = %s")
                .format(self.table), (sha256,)).fetchone()
        if row is None:
            return None
        return StoredAttachment(row[0], row[1], row[2], int(row[3])), bytes(row[4])
