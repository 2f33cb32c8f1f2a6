"""The identity service's tables in its own PostgreSQL schema: accounts, failed-login state,
issued sessions and the revocation list every verifier reads (backbone.auth.PgRevocations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from services.identity.domain.accounts import StaffAccount
from services.identity.domain.lockout import Failures, LockoutPolicy, after_failure

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.accounts (
  username text PRIMARY KEY, display_name text NOT NULL, role text NOT NULL,
  unit text NOT NULL DEFAULT '', password_hash text NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {s}.login_failures (
  username text PRIMARY KEY, count int NOT NULL, window_start timestamptz NOT NULL,
  locked_until timestamptz);
CREATE TABLE IF NOT EXISTS {s}.sessions (
  jti text PRIMARY KEY, username text NOT NULL, issued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_user ON {s}.sessions (username, expires_at);
CREATE TABLE IF NOT EXISTS {s}.revoked_tokens (
  jti text PRIMARY KEY, username text NOT NULL, expires_at timestamptz NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now(), reason text NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS revoked_by_expiry ON {s}.revoked_tokens (expires_at);
"""


def create_tables(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        for statement in filter(str.strip, TABLES.split(";")):
            conn.execute(SQL(statement).format(s=Identifier(schema)))  # type: ignore[arg-type]


class IdentityStore:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.s = Identifier(schema)

    def _q(self, text: str) -> SQL:
        return SQL(text).format(s=self.s)  # type: ignore[return-value]

    # --- accounts ---

    def add(self, account: StaffAccount, password_hash: str) -> bool:
        """False when the username is taken."""
        with self.pool.connection() as conn:
            row = conn.execute(self._q(
                "INSERT INTO {s}.accounts (username, display_name, role, unit, password_hash)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING 1"),
                (account.username, account.display_name, account.role, account.unit,
                 password_hash)).fetchone()
        return row is not None

    def get(self, username: str) -> tuple[StaffAccount, str] | None:
        """The account and its password hash."""
        with self.pool.connection() as conn:
            row = conn.execute(self._q(
                "SELECT username, display_name, role, unit, disabled, password_hash"
                " FROM {s}.accounts WHERE username = %s"), (username,)).fetchone()
        if row is None:
            return None
        return StaffAccount(*row[:5]), row[5]

    def all(self) -> list[dict[str, Any]]:
        # dict rows from a cursor of its own: set on the connection, they outlived this read
        # in the pool, and the next user of the connection got dicts for tuples
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(self._q(
                "SELECT username, display_name, role, unit, disabled, created_at, updated_at"
                " FROM {s}.accounts ORDER BY username")).fetchall()

    def set_hash(self, username: str, password_hash: str) -> bool:
        with self.pool.connection() as conn:
            cur = conn.execute(self._q(
                "UPDATE {s}.accounts SET password_hash = %s, updated_at = now()"
                " WHERE username = %s"), (password_hash, username))
            return cur.rowcount == 1

    def set_disabled(self, username: str, disabled: bool) -> bool:
        with self.pool.connection() as conn:
            cur = conn.execute(self._q(
                "UPDATE {s}.accounts SET disabled = %s, updated_at = now() WHERE username = %s"),
                (disabled, username))
            return cur.rowcount == 1

    # --- failed logins (one row per username, locked in the transaction: replicas agree) ---

    def lock_state(self, username: str) -> Failures | None:
        with self.pool.connection() as conn:
            row = conn.execute(self._q(
                "SELECT count, window_start, locked_until FROM {s}.login_failures"
                " WHERE username = %s"), (username,)).fetchone()
        return Failures(*row) if row else None

    def record_failure(self, username: str, policy: LockoutPolicy, now: datetime) -> Failures:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(self._q(
                "INSERT INTO {s}.login_failures (username, count, window_start)"
                " VALUES (%s, 0, %s) ON CONFLICT (username) DO NOTHING"), (username, now))
            row = conn.execute(self._q(
                "SELECT count, window_start, locked_until FROM {s}.login_failures"
                " WHERE username = %s FOR UPDATE"), (username,)).fetchone()
            before = Failures(*row) if row and row[0] else None
            after = after_failure(policy, before, now)
            conn.execute(self._q(
                "UPDATE {s}.login_failures SET count = %s, window_start = %s, locked_until = %s"
                " WHERE username = %s"),
                (after.count, after.window_start, after.locked_until, username))
        return after

    def clear_failures(self, username: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(self._q("DELETE FROM {s}.login_failures WHERE username = %s"),
                         (username,))

    # --- sessions and revocation ---

    def record_session(self, jti: str, username: str, issued_at: datetime,
                       expires_at: datetime) -> None:
        with self.pool.connection() as conn:
            conn.execute(self._q(
                "INSERT INTO {s}.sessions (jti, username, issued_at, expires_at)"
                " VALUES (%s, %s, %s, %s)"), (jti, username, issued_at, expires_at))

    def revoke(self, jti: str, username: str, expires_at: datetime, reason: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(self._q(
                "INSERT INTO {s}.revoked_tokens (jti, username, expires_at, reason)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (jti) DO NOTHING"),
                (jti, username, expires_at, reason))

    def revoke_sessions_of(self, username: str, reason: str) -> list[str]:
        """Revoke every unexpired session of a user; returns their jtis."""
        with self.pool.connection() as conn:
            rows = conn.execute(self._q(
                "INSERT INTO {s}.revoked_tokens (jti, username, expires_at, reason)"
                " SELECT jti, username, expires_at, %s FROM {s}.sessions"
                " WHERE username = %s AND expires_at > now()"
                " ON CONFLICT (jti) DO NOTHING RETURNING jti"), (reason, username)).fetchall()
        return [r[0] for r in rows]

    def revoked(self) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            rows = conn.execute(self._q(
                "SELECT jti, expires_at FROM {s}.revoked_tokens WHERE expires_at > now()"
                " ORDER BY revoked_at")).fetchall()
        return [{"jti": r[0], "expires_at": r[1].isoformat()} for r in rows]

    def forget_expired(self) -> int:
        """Expired sessions and revocations need no keeping: the token is dead anyway."""
        with self.pool.connection() as conn:
            a = conn.execute(self._q("DELETE FROM {s}.revoked_tokens WHERE expires_at < now()"))
            b = conn.execute(self._q("DELETE FROM {s}.sessions WHERE expires_at < now()"))
            return a.rowcount + b.rowcount
