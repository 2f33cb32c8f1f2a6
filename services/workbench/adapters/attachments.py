"""Reply attachments (现场照片、办结材料), stored once by content hash in the workbench's schema.

Dispatch's Reply carries text only; the reply names each file by its hash, and the ticket page
serves the file to the staff and the units that may see the ticket.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import filetype
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.http import ClientError

ALLOWED = {"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"}


class AttachmentStore:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.s = Identifier(schema)

    def create_tables(self) -> None:
        with self.pool.connection() as conn:
            conn.execute(SQL(
                "CREATE TABLE IF NOT EXISTS {}.attachments (sha256 text NOT NULL,"
                " code text NOT NULL, unit text NOT NULL, name text NOT NULL,"
                " media_type text NOT NULL, size int NOT NULL, content bytea NOT NULL,"
                " stored_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (sha256, code))"
            ).format(self.s))

    @staticmethod
    def checked(name: str, content: bytes) -> dict[str, Any]:
        """What a file would be kept as (hash, safe name, media type by its bytes, size), or
        ClientError when it is not a picture or a PDF: judged before anything is sent, kept
        by `put` only once the reply naming it was taken."""
        kind = filetype.guess(content)
        if kind is None or kind.mime not in ALLOWED:
            raise ClientError(f"附件 {name[:60]} 不是图片或 PDF")
        return {"sha256": hashlib.sha256(content).hexdigest(),
                "name": name.replace("/", "_").replace("\\", "_")[:120],
                "media_type": kind.mime, "size": len(content)}

    async def put(self, *, code: str, unit: str, file: dict[str, Any],
                  content: bytes) -> dict[str, Any]:
        """Keep `content` as `checked` described it (`file`), for the ticket `code`."""

        def insert() -> None:
            with self.pool.connection() as conn:
                conn.execute(SQL("INSERT INTO {}.attachments (sha256, code, unit, name,"
                                 " media_type, size, content) VALUES (%s,%s,%s,%s,%s,%s,%s)"
                                 " ON CONFLICT DO NOTHING").format(self.s),
                             (file["sha256"], code, unit, file["name"], file["media_type"],
                              file["size"], content))

        await asyncio.to_thread(insert)
        return file

    def get(self, code: str, sha256: str) -> tuple[str, str, bytes] | None:
        with self.pool.connection() as conn:
            found = conn.execute(SQL("SELECT name, media_type, content FROM {}.attachments"
                                     " WHERE code = %s AND sha256 LIKE %s LIMIT 1"
                                     ).format(self.s), (code, sha256 + "%")).fetchone()
        return (found[0], found[1], bytes(found[2])) if found else None
