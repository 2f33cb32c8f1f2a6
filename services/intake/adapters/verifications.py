"""One-time codes that prove a citizen holds a phone, keyed by the phone's pseudonym.

Only a salted hash of the code is stored; a code works once, for a few minutes, and a few
wrong guesses burn it.
"""

from __future__ import annotations

from datetime import datetime

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.citizen_verifications ("
                         " citizen text PRIMARY KEY, code_hash text NOT NULL,"
                         " expires_at timestamptz NOT NULL, attempts int NOT NULL DEFAULT 0,"
                         " issued_at timestamptz NOT NULL DEFAULT now())")
                     .format(Identifier(schema)))


class VerificationStore:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.table = SQL("{}.citizen_verifications").format(Identifier(schema))

    def issue(self, citizen: str, code_hash: str, expires_at: datetime) -> None:
        with self.pool.connection() as conn:
            conn.execute(SQL("INSERT INTO {} (citizen, code_hash, expires_at) VALUES (%s, %s, %s)"
                             " ON CONFLICT (citizen) DO UPDATE SET code_hash = EXCLUDED.code_hash,"
                             " expires_at = EXCLUDED.expires_at, attempts = 0, issued_at = now()")
                         .format(self.table), (citizen, code_hash, expires_at))

    def take(self, citizen: str) -> tuple[str, datetime, int] | None:
        """Count one attempt and return (hash, expiry, attempts before this one)."""
        with self.pool.connection() as conn:
            row = conn.execute(SQL("UPDATE {} SET attempts = attempts + 1 WHERE citizen = %s"
                                   " RETURNING code_hash, expires_at, attempts - 1")
                               .format(self.table), (citizen,)).fetchone()
        return (row[0], row[1], int(row[2])) if row else None

    def burn(self, citizen: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(SQL("DELETE FROM {} WHERE citizen = %s").format(self.table), (citizen,))
