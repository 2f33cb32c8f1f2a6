"""What a submission must read before it is decided, for all requests at once.

Each identified submission needs three facts from PostgreSQL: a token from its citizen's rate
bucket (a write: the bucket is shared by every replica), the citizen's answered tickets (已答复)
and, for a citizen this process has not seen, whether a key is stored for them; and a request
that finds its process's lease of the adapter's tokens spent (adapters/rate_limits.py) needs a
new lease. Read per request in a worker thread, that was up to four round trips and a thread
hop a request. Here they are read on the event loop, on one connection of their own, for every
request waiting at that moment: one round trip of one statement (over arrays) per batch, as
the group commit does for writes. The adapters' leases are taken first in that statement, and
only a request that got its adapter's token takes its citizen's (both or neither, as the
throttle does). A request waits for the read in flight; the next read takes every request
queued meanwhile. The same citizen twice in one batch waits for the next one (its second token
must see the first one taken).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg
from psycopg.sql import SQL, Identifier

from services.intake.adapters.attachment_store import (
    StoredAttachment,
    usable_found,
    usable_parameters,
    usable_statement,
)
from services.intake.adapters.rate_limits import lease_rows_sql
from services.intake.adapters.ticket_index import answered_of_citizen_sql
from services.intake.domain.citizen import WrappedKey

log = logging.getLogger(__name__)
APPLICATION_NAME = "intake-submission-reads"  # how its connection shows in pg_stat_activity


@dataclass(frozen=True)
class CitizenFacts:
    """What one submission's decision needs to know of its citizen (and its adapter)."""

    granted: bool  # a token of the citizen's bucket was taken (no citizen: True)
    retry_after_s: float
    answered: list[dict[str, Any]] = field(default_factory=list)  # ticket_index rows
    key: WrappedKey | None = None  # the citizen's stored key, when one was looked for
    key_looked_up: bool = False
    adapter_refused: bool = False  # its adapter's lease had no token for it (retry_after_s)


class AdapterLeases(Protocol):
    """The throttle whose leases of adapters' tokens the batched read takes
    (adapters/rate_limits.SharedSubmissionThrottle)."""

    block: int
    adapters: Any  # .capacity, .rate

    def lease_until(self) -> float: ...

    def leased(self, adapter_id: str, *, granted: int, used: int, refused_for_s: float,
               until: float) -> None: ...


@dataclass
class _Ask:
    citizen: str | None
    since: datetime
    until: datetime
    want_key: bool
    adapter: str | None  # the adapter whose token it needs from a new lease
    done: asyncio.Future[CitizenFacts]


class SubmissionReads:
    def __init__(self, conninfo: str, schema: str, *, citizen_capacity: float,
                 citizen_rate: float, answered_window: timedelta,
                 leases: AdapterLeases | None = None):
        self.conninfo, self.schema, self.window = conninfo, schema, answered_window
        self.capacity, self.rate = float(citizen_capacity), float(citizen_rate)
        self.leases = leases  # None: the caller takes its adapter's tokens itself
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._queue: list[_Ask] = []
        self._reading = False
        # a decided submission's attachments (`usable`): their own connection and batches
        self._files_conn: psycopg.AsyncConnection[Any] | None = None
        self._files_queue: list[tuple[list[str], str, asyncio.Future[Any]]] = []
        self._files_reading = False
        s = Identifier(schema)
        # what AttachmentStore.usable reads, for every waiting submission in one statement
        self._usable = usable_statement(schema)
        # one statement: the adapters' leases (a CTE), then the citizens' tokens of the
        # requests their adapter admitted (a CTE), and per request its citizen's answered
        # tickets (as JSON, when admitted) and, when asked for, the citizen's stored key
        answered = (" CASE WHEN l.granted > 0 THEN (SELECT json_agg(a) FROM ("
                    + answered_of_citizen_sql() + ") AS a) END, k.master_key_id, k.nonce,"
                    " k.ciphertext")
        keys = " LEFT JOIN {s}.citizen_keys AS k ON u.want_key AND k.citizen = u.citizen"
        self._query = SQL(
            "WITH ad AS (" + lease_rows_sql(
                "unnest(%(akeys)s::text[], %(awants)s::int[]) AS w(k, n)", key="w.k",
                want="w.n", cap="acap", rate="arate") + "),"
            " u AS (SELECT * FROM unnest(%(citizens)s::text[], %(los)s::timestamptz[],"
            " %(his)s::timestamptz[], %(want_key)s::boolean[], %(akey)s::text[],"
            " %(rank)s::int[]) WITH ORDINALITY AS u(citizen, lo, hi, want_key, akey, rank, n)),"
            " admitted AS (SELECT u.citizen FROM u LEFT JOIN ad ON ad.key = u.akey"
            " WHERE u.citizen IS NOT NULL AND (u.akey IS NULL OR u.rank <= ad.granted)),"
            " lease AS (" + lease_rows_sql("admitted", key="'c:' || admitted.citizen",
                                           want="1") + ")"
            " SELECT u.n, ad.granted, ad.tokens, l.granted, l.tokens," + answered
            + " FROM u LEFT JOIN ad ON ad.key = u.akey"
            " LEFT JOIN lease AS l ON l.key = 'c:' || u.citizen" + keys
        ).format(s=s).as_string()  # composed once: psycopg then caches its conversion
        # the same for a batch where no request needs a new lease (most of them under load):
        # no adapters' part, five array parameters fewer to convert and send
        self._citizens_only = SQL(
            "WITH u AS (SELECT * FROM unnest(%(citizens)s::text[], %(los)s::timestamptz[],"
            " %(his)s::timestamptz[], %(want_key)s::boolean[]) WITH ORDINALITY"
            " AS u(citizen, lo, hi, want_key, n)),"
            " lease AS (" + lease_rows_sql("u", key="'c:' || u.citizen", want="1") + ")"
            " SELECT u.n, NULL, NULL, l.granted, l.tokens," + answered
            + " FROM u LEFT JOIN lease AS l ON l.key = 'c:' || u.citizen" + keys
        ).format(s=s).as_string()

    async def of(self, citizen: str | None, *, now: datetime, want_key: bool,
                 adapter: str | None = None) -> CitizenFacts:
        """A token of the citizen's bucket, their answered tickets in the 已答复 window before
        ``now`` and (``want_key``) their stored key, read with every request waiting;
        ``adapter``: first its adapter's token, from a new lease (see `leases`)."""
        if adapter is not None and self.leases is None:
            raise ValueError("no leases of adapters' tokens wired to this read")
        if citizen is None and adapter is None:
            return CitizenFacts(True, 0.0)  # nothing to take or read
        done: asyncio.Future[CitizenFacts] = asyncio.get_running_loop().create_future()
        self._queue.append(_Ask(citizen, now - self.window, now, want_key, adapter, done))
        if not self._reading:
            self._reading = True
            asyncio.get_running_loop().create_task(self._drain())
        return await done

    async def usable(self, hashes: list[str], owner: str) -> dict[str, StoredAttachment]:
        """`Attachments.usable` on the event loop (no worker thread for a submission that
        carries files): the hashes a new ticket of ``owner`` may carry (an upload copy is
        there, or ``owner`` has a copy), read with every such submission waiting."""
        if not hashes:
            return {}
        done: asyncio.Future[dict[str, StoredAttachment]] = \
            asyncio.get_running_loop().create_future()
        self._files_queue.append((hashes, owner, done))
        if not self._files_reading:
            self._files_reading = True
            asyncio.get_running_loop().create_task(self._drain_files())
        return await done

    async def _drain_files(self) -> None:
        try:
            while self._files_queue:
                batch, self._files_queue = self._files_queue, []
                try:
                    if self._files_conn is None or self._files_conn.closed:
                        self._files_conn = await psycopg.AsyncConnection.connect(
                            self.conninfo, autocommit=True, application_name=APPLICATION_NAME)
                    cur = self._files_conn.cursor()
                    await cur.execute(self._usable, usable_parameters(
                        [(hashes, owner) for hashes, owner, _ in batch]))
                    found = usable_found(await cur.fetchall(), len(batch))
                    for (_, _, done), usable in zip(batch, found, strict=True):
                        if not done.done():
                            done.set_result(usable)
                except Exception as exc:  # out of reach: these submissions fail (503)
                    conn, self._files_conn = self._files_conn, None
                    if conn is not None:
                        with suppress(Exception):
                            await conn.close()
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
        finally:
            self._files_reading = False

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._files_conn is not None:
            await self._files_conn.close()
            self._files_conn = None

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[_Ask] = []
                later: list[_Ask] = []
                seen: set[str | None] = set()
                for ask in self._queue:
                    (later if ask.citizen is not None and ask.citizen in seen
                     else batch).append(ask)
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
        asking: dict[str, int] = {}  # adapter -> its requests in this batch needing a token
        ranks: list[int | None] = []
        for a in batch:
            if a.adapter is None:
                ranks.append(None)
            else:
                asking[a.adapter] = ranks_of = asking.get(a.adapter, 0) + 1
                ranks.append(ranks_of)
        leases = self.leases
        block = leases.block if leases is not None else 1
        until = leases.lease_until() if leases is not None and asking else 0.0
        arate = float(leases.adapters.rate) if leases is not None else 1.0
        params: dict[str, Any] = {
            "cap": self.capacity, "rate": self.rate, "citizens": [a.citizen for a in batch],
            "los": [a.since for a in batch], "his": [a.until for a in batch],
            "want_key": [a.want_key for a in batch]}
        if asking:
            params.update(
                akeys=[f"a:{k}" for k in asking], awants=[max(block, n) for n in asking.values()],
                acap=float(leases.adapters.capacity) if leases is not None else 0.0, arate=arate,
                akey=[None if a.adapter is None else f"a:{a.adapter}" for a in batch], rank=ranks)
        conn = await self._connection()
        cur = conn.cursor()
        await cur.execute(self._query if asking else self._citizens_only, params)
        found = {row[0]: row for row in await cur.fetchall()}
        granted: dict[str, tuple[int, float]] = {}  # adapter -> (tokens granted, left)
        for n, (a, rank) in enumerate(zip(batch, ranks, strict=True), start=1):
            row = found.get(n)
            if a.adapter is not None:
                got, left = (int(row[1]), float(row[2])) if row and row[1] is not None \
                    else (0, 0.0)
                granted[a.adapter] = (got, left)
                if rank is None or rank > got:
                    _settle(a, CitizenFacts(False, max(0.0, (1 - left) / arate),
                                            adapter_refused=True))
                    continue
            if a.citizen is None:
                _settle(a, CitizenFacts(True, 0.0))
                continue
            got, tokens = (int(row[3]), float(row[4])) if row and row[3] is not None \
                else (0, 0.0)
            wait = 0.0 if got else max(0.0, (1 - tokens) / self.rate)
            key = WrappedKey(row[6], bytes(row[7]), bytes(row[8])) \
                if row and row[8] is not None else None
            _settle(a, CitizenFacts(bool(got), wait, _answered(row[5] if row else None), key,
                                    a.want_key))
        if leases is not None:
            for adapter, (got, left) in granted.items():
                used = min(got, asking[adapter])
                leases.leased(adapter, granted=got, used=used, until=until,
                              refused_for_s=(max(0.0, (1 - left) / arate)
                                             if used < asking[adapter] else 0.0))


def _settle(ask: _Ask, facts: CitizenFacts) -> None:
    if not ask.done.done():
        ask.done.set_result(facts)


def _answered(found: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The answered tickets as the index's rows (json_agg gives their times as text)."""
    return [{**r, "answered_at": datetime.fromisoformat(r["answered_at"])} for r in found or ()]
