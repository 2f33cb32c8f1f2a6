"""Which ticket an adapter's request id made: one row, written by the ticket's transaction.

The row's primary key is the idempotency key's id (`SubmissionKey.create_id`), so a second
ticket for the same request id cannot commit: its transaction fails on the key (an
IntegrityError, as the SubmissionKey aggregate's first version did) and the caller answers
with the ticket the row names. A row, not an aggregate: the key has no behaviour and nobody
reads its history; as an aggregate it was an event row, a context row and a notification per
submission that the relay and the projector read and skipped. Keys recorded before (as
`SubmissionKey` aggregates) stay readable: `Submissions.existing` falls back to them.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import Statement, autocommit


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.submission_keys ("
                         " key_id uuid PRIMARY KEY, ticket_code text NOT NULL)")
                     .format(Identifier(schema)))


class SubmissionKeys:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        s = Identifier(schema)
        # no ON CONFLICT: a second ticket for one request id must fail its transaction
        self._record = SQL(SQL("INSERT INTO {}.submission_keys (key_id, ticket_code)"
                               " VALUES (%s, %s)").format(s).as_string())
        self._find = SQL("SELECT ticket_code FROM {}.submission_keys WHERE key_id = %s"
                         ).format(s)

    def record(self, key_id: uuid.UUID, ticket_code: str) -> Statement:
        """The key's row, for the ticket's own transaction."""
        return Statement(self._record, (key_id, ticket_code), lock=f"submission_keys:{key_id}")

    def ticket_code(self, key_id: uuid.UUID) -> str | None:
        """The code of the ticket this key made, if its row is committed."""
        with autocommit(self.pool) as conn:
            row: Any = conn.execute(self._find, (key_id,)).fetchone()
        return row[0] if row else None
