"""What an identified submission must read before it is decided, for all requests at once.

Each identified submission needs three facts from PostgreSQL: a token from its citizen's rate
bucket (a write: the bucket is shared by every replica), the citizen's answered tickets (已答复)
and, for a citizen this process has not seen, whether a key is stored for them. Read per
request in a worker thread, that was three round trips and a thread hop a request. Here they
are read on the event loop, on one connection of their own, for every request waiting at that
moment: one round trip of one statement (over arrays) per batch, as the group commit does
for writes. A request waits for the read in flight; the next read takes
every request queued meanwhile. The same citizen twice in one batch waits for the next one
(its second token must see the first one taken).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from services.intake.adapters.rate_limits import lease_many_sql
from services.intake.adapters.ticket_index import answered_of_citizen_sql
from services.intake.domain.citizen import WrappedKey

log = logging.getLogger(__name__)
APPLICATION_NAME = "intake-submission-reads"  # how its connection shows in pg_stat_activity


@dataclass(frozen=True)
class CitizenFacts:
    """What one submission's decision needs to know of its citizen."""

    granted: bool  # a token of the citizen's bucket was taken
    retry_after_s: float
    answered: list[dict[str, Any]] = field(default_factory=list)  # ticket_index rows
    key: WrappedKey | None = None  # the citizen's stored key, when one was looked for
    key_looked_up: bool = False


@dataclass
class _Ask:
    citizen: str
    since: datetime
    until: datetime
    want_key: bool
    done: asyncio.Future[CitizenFacts]


class SubmissionReads:
    def __init__(self, conninfo: str, schema: str, *, citizen_capacity: float,
                 citizen_rate: float, answered_window: timedelta):
        self.conninfo, self.schema, self.window = conninfo, schema, answered_window
        self.capacity, self.rate = float(citizen_capacity), float(citizen_rate)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._queue: list[_Ask] = []
        self._reading = False
        s = Identifier(schema)
        # one statement: the buckets' tokens taken (a CTE), and per citizen its answered
        # tickets (as JSON) and, when asked for, its stored key
        self._query = SQL(
            "WITH lease AS (" + lease_many_sql() + ")"
            " SELECT u.citizen, l.granted, l.tokens, (SELECT json_agg(a) FROM ("
            + answered_of_citizen_sql() + ") AS a), k.master_key_id, k.nonce, k.ciphertext"
            " FROM unnest(%(citizens)s::text[], %(los)s::timestamptz[], %(his)s::timestamptz[],"
            " %(want_key)s::boolean[]) AS u(citizen, lo, hi, want_key)"
            " JOIN lease AS l ON l.key = 'c:' || u.citizen"
            " LEFT JOIN {s}.citizen_keys AS k ON u.want_key AND k.citizen = u.citizen"
        ).format(s=s).as_string()  # composed once: psycopg then caches its conversion

    async def of(self, citizen: str, *, now: datetime, want_key: bool) -> CitizenFacts:
        """A token of the citizen's bucket, their answered tickets in the 已答复 window before
        ``now`` and (``want_key``) their stored key, read with every request waiting."""
        done: asyncio.Future[CitizenFacts] = asyncio.get_running_loop().create_future()
        self._queue.append(_Ask(citizen, now - self.window, now, want_key, done))
        if not self._reading:
            self._reading = True
            asyncio.get_running_loop().create_task(self._drain())
        return await done

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, later, seen = [], [], set()
                for ask in self._queue:
                    (later if ask.citizen in seen else batch).append(ask)
                    seen.add(ask.citizen)
                self._queue = later
                try:
                    await self._read(batch)
                except Exception as exc:  # the store is out of reach: these requests fail
                    await self._forget_connection()  # (503, retry); the next batch reconnects
                    for ask in batch:
                        if not ask.done.done():
                            ask.done.set_exception(exc)
        finally:
            self._reading = False

    async def _forget_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, application_name=APPLICATION_NAME)
        return self._conn

    async def _read(self, batch: list[_Ask]) -> None:
        conn = await self._connection()
        cur = conn.cursor()
        await cur.execute(self._query, {
            "keys": [f"c:{a.citizen}" for a in batch], "cap": self.capacity, "rate": self.rate,
            "citizens": [a.citizen for a in batch], "los": [a.since for a in batch],
            "his": [a.until for a in batch], "want_key": [a.want_key for a in batch]})
        found = {row[0]: row for row in await cur.fetchall()}
        for a in batch:
            row = found.get(a.citizen)
            got, tokens = (int(row[1]), float(row[2])) if row else (0, 0.0)
            wait = 0.0 if got else max(0.0, (1 - tokens) / self.rate)
            key = WrappedKey(row[4], bytes(row[5]), bytes(row[6])) \
                if row and row[6] is not None else None
            if not a.done.done():
                a.done.set_result(CitizenFacts(bool(got), wait, _answered(row[3] if row else None),
                                               key, a.want_key))


def _answered(found: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The answered tickets as the index's rows (json_agg gives their times as text)."""
    return [{**r, "answered_at": datetime.fromisoformat(r["answered_at"])} for r in found or ()]
