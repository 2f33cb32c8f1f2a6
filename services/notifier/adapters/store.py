"""The notifier's PostgreSQL state: one row per notice (its id is the primary key: a notice
read twice is kept once), the consumer's offsets (written in the same transaction as the
rows they cover), and the outbox of outcome events (written in the same transaction as the
row's new state, published by `publish_outbox`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.store import autocommit
from services.notifier.domain.delivery import Decision, State

COLUMNS = ("notice_id", "ticket_id", "ticket_code", "channel", "kind", "route", "citizen",
           "subject", "body", "link", "reply_round")


def due_at(row: dict[str, Any], now: datetime, event_time: bool) -> datetime:
    return (row.get("composed_at") or now) if event_time else now


def create_tables(pool: ConnectionPool, schema: str) -> None:
    s = Identifier(schema)
    with pool.connection() as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
        conn.execute(SQL(
            "CREATE TABLE IF NOT EXISTS {}.deliveries ("
            " notice_id text PRIMARY KEY, ticket_id text NOT NULL, ticket_code text NOT NULL,"
            " channel text NOT NULL, kind text NOT NULL, route text NOT NULL,"
            " citizen text NOT NULL, subject text NOT NULL, body text NOT NULL,"
            " link text NOT NULL, reply_round int NOT NULL, state text NOT NULL,"
            " attempts int NOT NULL DEFAULT 0, next_at timestamptz NOT NULL,"
            " last_error text NOT NULL DEFAULT '', gateway_ref text NOT NULL DEFAULT '',"
            " updated_at timestamptz NOT NULL DEFAULT clock_timestamp())").format(s))
        # a failed attempt's retry waits its backoff by the wall clock whatever the clock of
        # business time (MINSHENG_CLOCK=event): a gateway or intake that is down stays down
        # for real seconds, and a simulated month's business times lie in the past, so a
        # retry due by them was due at once (six attempts of an SMS within 60 ms)
        conn.execute(SQL("ALTER TABLE {}.deliveries ADD COLUMN IF NOT EXISTS"
                         " not_before timestamptz").format(s))
        conn.execute(SQL("CREATE INDEX IF NOT EXISTS deliveries_due ON {}.deliveries"
                         " (next_at) WHERE state IN ('pending', 'sending')").format(s))
        conn.execute(SQL("CREATE INDEX IF NOT EXISTS deliveries_ticket ON {}.deliveries"
                         " (ticket_code)").format(s))
        conn.execute(SQL(
            "CREATE TABLE IF NOT EXISTS {}.offsets (topic text, partition int,"
            " next_offset bigint NOT NULL, PRIMARY KEY (topic, partition))").format(s))
        conn.execute(SQL(
            "CREATE TABLE IF NOT EXISTS {}.outbox (seq bigserial PRIMARY KEY,"
            " event_id text NOT NULL UNIQUE, ticket_id text NOT NULL, envelope bytea NOT NULL,"
            " published boolean NOT NULL DEFAULT false)").format(s))


@dataclass(frozen=True)
class Settlement:
    """An attempt's outcome: the row's new state and its outcome event (for the outbox)."""

    notice_id: str
    decision: Decision
    not_before: datetime | None  # a retry: not before this wall-clock time
    reason: str
    gateway_ref: str
    event_id: str
    ticket_id: str
    envelope: bytes


class Store:
    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool = pool
        self.s = Identifier(schema)
        # composed once: taking a batch of notices, and a delivery round's settlements
        self._take_sql = SQL(
            "INSERT INTO {}.deliveries (" + ", ".join(COLUMNS) + ", state, attempts, next_at,"
            " updated_at) SELECT * FROM unnest(" + ", ".join(
                ["%s::text[]"] * (len(COLUMNS) - 1)) + ", %s::int[], %s::text[], %s::int[],"
            " %s::timestamptz[], %s::timestamptz[]) ON CONFLICT (notice_id) DO NOTHING"
            " RETURNING *").format(self.s)
        self._offsets_sql = SQL(
            "INSERT INTO {}.offsets SELECT %s::text, * FROM unnest(%s::int[], %s::bigint[])"
            " ON CONFLICT (topic, partition) DO UPDATE SET next_offset ="
            " GREATEST({}.offsets.next_offset, EXCLUDED.next_offset)").format(self.s, self.s)
        self._settle_sql = SQL(
            "UPDATE {}.deliveries d SET state = v.state, next_at = COALESCE(v.next_at,"
            " d.next_at), not_before = v.not_before, last_error = v.reason,"
            " gateway_ref = v.ref, updated_at = clock_timestamp() FROM unnest(%s::text[],"
            " %s::text[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[])"
            " AS v(notice_id, state, next_at, not_before, reason, ref)"
            " WHERE d.notice_id = v.notice_id").format(self.s)
        self._outbox_sql = SQL(
            "INSERT INTO {}.outbox (event_id, ticket_id, envelope) SELECT * FROM"
            " unnest(%s::text[], %s::text[], %s::bytea[])"
            " ON CONFLICT (event_id) DO NOTHING RETURNING seq, ticket_id, envelope"
        ).format(self.s)
        self._next_due_sql = SQL(
            "SELECT LEAST((SELECT min(GREATEST(next_at, not_before)) FROM {}.deliveries"
            " WHERE state = 'pending'),"
            " (SELECT min(updated_at) + %s FROM {}.deliveries WHERE state = 'sending'))"
        ).format(self.s, self.s)

    def offsets(self, topic: str) -> dict[int, int]:
        with autocommit(self.pool) as conn:
            rows = conn.execute(SQL("SELECT partition, next_offset FROM {}.offsets"
                                    " WHERE topic = %s").format(self.s), (topic,)).fetchall()
        return {p: o for p, o in rows}

    def take_notices(self, rows: list[dict[str, Any]], topic: str, offsets: dict[int, int],
                     now: datetime, event_time: bool = False, claim: int = 0
                     ) -> list[dict[str, Any]]:
        """New notices and the offsets after them, in one transaction. A notice is due now,
        or under an event clock at its own business time (`composed_at`). Up to `claim` of
        the new ones that are due are taken as claimed at once (`sending`, attempt 1, as
        `claim_due` would mark them) and returned: the deliverer attempts them without a
        claim of its own. A notice read twice is kept once and never claimed again."""
        rows = list({r["notice_id"]: r for r in rows}.values())
        with self.pool.connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=dict_row) as cur:
            claimed: list[dict[str, Any]] = []
            if rows:
                due = [due_at(r, now, event_time) for r in rows]
                sending: list[bool] = []
                for d in due:  # the first `claim` of those due now
                    sending.append(d <= now and sum(sending) < claim)
                cur.execute(self._take_sql, (
                    *([r[c] for r in rows] for c in COLUMNS),
                    [State.SENDING.value if x else State.PENDING.value for x in sending],
                    [1 if x else 0 for x in sending], due, [now] * len(rows)))
                claimed = [r for r in cur.fetchall() if r["state"] == State.SENDING.value]
            if offsets:  # one statement for every partition of the batch
                cur.execute(self._offsets_sql, (topic, list(offsets), list(offsets.values())))
        return claimed

    def claim_due(self, now: datetime, stale_before: datetime, limit: int
                  ) -> list[dict[str, Any]]:
        """Due notices (and ones whose attempt's process died), marked sending, attempts+1
        (one statement: atomic alone, so no BEGIN and COMMIT around it)."""
        with autocommit(self.pool) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(SQL(
                "UPDATE {}.deliveries d SET state = 'sending', attempts = attempts + 1,"
                " updated_at = %s WHERE notice_id IN (SELECT notice_id FROM {}.deliveries"
                " WHERE (state = 'pending' AND next_at <= %s"
                " AND (not_before IS NULL OR not_before <= %s))"
                " OR (state = 'sending' AND updated_at < %s)"
                " ORDER BY next_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING d.*")
                .format(self.s, self.s), (now, now, now, stale_before, limit))
            return cur.fetchall()

    def next_due(self, stale_after: Any) -> datetime | None:
        """When the earliest notice becomes claimable (a pending one's `next_at` and
        `not_before`, or a sending one's attempt going stale); None when nothing waits."""
        with autocommit(self.pool) as conn:
            row = conn.execute(self._next_due_sql, (stale_after,)).fetchone()
        return row[0] if row else None

    def settle_all(self, settlements: list[Settlement], stale_after: Any
                   ) -> tuple[list[tuple[int, str, bytes]], datetime | None]:
        """A delivery round's outcomes and their events, in one transaction: one UPDATE and
        one INSERT for the round, however many attempts it made. Returns the outbox rows it
        wrote (seq, ticket id, envelope: the publisher sends them without reading them back)
        and, read in the same transaction, when the next notice is due (`next_due`): one
        thread hop and one commit for the round's whole bookkeeping."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            written: list[tuple[int, str, bytes]] = []
            if settlements:
                cur.execute(self._settle_sql, (
                    [x.notice_id for x in settlements],
                    [x.decision.state.value for x in settlements],
                    [x.decision.next_at for x in settlements],
                    [x.not_before for x in settlements], [x.reason for x in settlements],
                    [x.gateway_ref for x in settlements]))
                cur.execute(self._outbox_sql, (
                    [x.event_id for x in settlements], [x.ticket_id for x in settlements],
                    [x.envelope for x in settlements]))
                written = cur.fetchall()
            row = cur.execute(self._next_due_sql, (stale_after,)).fetchone()
        return written, row[0] if row else None

    def unpublished(self, limit: int) -> list[tuple[int, str, bytes]]:
        with autocommit(self.pool) as conn:
            return conn.execute(SQL("SELECT seq, ticket_id, envelope FROM {}.outbox"
                                    " WHERE NOT published ORDER BY seq LIMIT %s")
                                .format(self.s), (limit,)).fetchall()

    def mark_published(self, seqs: list[int]) -> None:
        with autocommit(self.pool) as conn:  # one statement: atomic without BEGIN and COMMIT
            conn.execute(SQL("UPDATE {}.outbox SET published = true WHERE seq = ANY(%s)")
                         .format(self.s), (seqs,))

    def of_ticket(self, code: str) -> list[dict[str, Any]]:
        return self._list(SQL("ticket_code = %s"), code)

    def dead(self, limit: int) -> list[dict[str, Any]]:
        return self._list(SQL("state = 'dead'"), None, limit)

    def resend(self, notice_id: str, now: datetime) -> bool:
        """Back from the dead letters: attempts start again."""
        with self.pool.connection() as conn:
            cur = conn.execute(SQL(
                "UPDATE {}.deliveries SET state = 'pending', attempts = 0, next_at = %s,"
                " not_before = NULL WHERE notice_id = %s AND state = 'dead'")
                .format(self.s), (now, notice_id))
            return cur.rowcount == 1

    def _list(self, where: Any, arg: Any, limit: int = 100) -> list[dict[str, Any]]:
        params = ([arg] if arg is not None else []) + [limit]
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(SQL(
                "SELECT notice_id, ticket_code, channel, kind, route, reply_round, state,"
                " attempts, next_at, last_error, gateway_ref, updated_at FROM {}.deliveries"
                " WHERE {} ORDER BY updated_at DESC LIMIT %s").format(self.s, where), params)
            return cur.fetchall()
