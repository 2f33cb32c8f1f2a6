"""Dispatch's reads on the event loop: what a command needs before it acts, in one round trip.

A department system's sign-for used to cost a worker thread and four reads, each a pool
checkout and a round trip: its request id's key (a "not found" probe almost always), the
ticket by code or id, the unit's assignment of it (the authorisation), and the aggregate's
events. Here one statement answers all of them, on an async connection, so a command needs
no thread at all (its save waits on the group commit with `save_async`). The read model and
the events are written in one transaction (adapters.recorder), so one snapshot sees them
agree; a command that then loses a race is re-run on fresh state as before.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from backbone.store import Statement
from services.dispatch.adapters.readmodel import ASSIGNMENT_SELECT, by_ref
from services.dispatch.application.projection import OPEN_STATUSES

# the aggregates whose changes touch assignments (eventsourcing topics: module:Class.Event)
_DISPATCH_TOPICS = ("TicketDispatch.", "DispatchRecord.")


@dataclass(frozen=True)
class RequestKey:
    """A department system's request id, as first answered: a retry gets `result` back.
    A row of `dispatch_request_keys` (was a `UnitRequest` aggregate: a stored event and its
    context row, read and decoded by the relay for nothing, twice a ticket; the keys stored
    that way are still found and replayed)."""

    unit: str
    request_id: str
    method: str
    ticket_id: str
    result: dict[str, Any]


@dataclass(frozen=True)
class Loaded:
    """The aggregates a command reads: its ticket's dispatch (None: no such ticket, or not
    one this unit was ever assigned) and its request id's key (None: a first request)."""

    dispatch: Any | None
    key: Any | None


def _copy(aggregate: Any) -> Any:
    """An aggregate that shares no mutable container with `aggregate` (its methods append to
    its lists and sets in place), without deepcopy's cost: values inside those containers
    are never changed in place."""
    twin = object.__new__(type(aggregate))
    twin.__dict__.update({k: (copy.copy(v) if type(v) in _CONTAINERS else v)
                          for k, v in aggregate.__dict__.items()})
    return twin


_CONTAINERS = (list, set, dict)


class LoopReads:
    held_max = 1000

    def __init__(self, pool: AsyncConnectionPool, schema: str, events_table: str,
                 mapper: Mapper[Any]) -> None:
        self.pool = pool
        try:  # where `offer` hands its copies over (built on the loop; else the first load)
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self.mapper = mapper
        self._schema, self._events = Identifier(schema), Identifier(events_table)
        self._sql: dict[tuple[bool, bool, bool], bytes] = {}
        self._held: OrderedDict[uuid.UUID, Any] = OrderedDict()  # id -> dispatch, oldest first
        self._ids: dict[tuple[str, str], uuid.UUID] = {}  # ("code"|"id", value) -> id
        # copies the consumer's thread offered, not yet held (`offer`, `_keep_offered`)
        self._offered: deque[Any] = deque(maxlen=self.held_max)
        touches = " OR ".join(f"position('{t}' in topic) > 0" for t in _DISPATCH_TOPICS)
        self._changes_sql = SQL(
            "WITH n AS (SELECT notification_id, originator_id, topic FROM {s}.{e}"
            " WHERE notification_id > %s ORDER BY notification_id LIMIT %s),"
            " h AS (SELECT max(notification_id) AS last_id, count(*) AS notes FROM n)"
            " SELECT h.last_id, h.notes, r.* FROM h LEFT JOIN ("
            + ASSIGNMENT_SELECT + " WHERE a.dispatch_id IN (SELECT originator_id FROM n WHERE "
            + touches + ")) r ON true").format(s=self._schema, e=self._events).as_bytes(None)
        self._last_sql = SQL("SELECT max(notification_id) FROM {s}.{e}").format(
            s=self._schema, e=self._events).as_bytes(None)
        # A request id kept as a UnitRequest's events (before the keys were rows) makes the
        # insert write its key twice: the primary key refuses it (IntegrityError), so a
        # command saved without a read (commands.Commands._on_held) reads and replays it.
        self._key_sql = SQL("INSERT INTO {s}.dispatch_request_keys (key_id, unit, request_id,"
                            " method, ticket_id, result) VALUES (%s, %s, %s, %s, %s, %s)"
                            " UNION ALL (SELECT e.originator_id, '', '', '', '', '{{}}'::jsonb"
                            " FROM {s}.{e} e WHERE e.originator_id = %s LIMIT 1)"
                            ).format(s=self._schema, e=self._events).as_bytes(None)

    def _load_sql(self, code: bool, ticket_id: bool, unit: bool) -> bytes:
        """Events of the key (if any) and of the ticket's dispatch (if the unit has, or had,
        an assignment of it), composed once per shape."""
        shape = (code, ticket_id, unit)
        if shape not in self._sql:
            where, _ = by_ref(code="x" if code else "", ticket_id="x" if ticket_id else "")
            authorised = (" WHERE EXISTS (SELECT 1 FROM {s}.dispatch_assignments a"
                          " WHERE a.dispatch_id = t.dispatch_id AND a.unit = %s)" if unit else "")
            self._sql[shape] = SQL(
                "WITH t AS (SELECT dispatch_id FROM {s}.dispatch_tickets WHERE " + where
                + " LIMIT 1), d AS (SELECT t.dispatch_id FROM t" + authorised + ")"
                " SELECT e.originator_id, e.originator_version, e.topic, e.state"
                " FROM {s}.{e} e WHERE e.originator_id = %s"
                # the key as a row (version -1), or as a UnitRequest's event above (before)
                " UNION ALL SELECT k.key_id, -1, k.method, convert_to(json_build_object("
                "'unit', k.unit, 'request_id', k.request_id, 'ticket_id', k.ticket_id,"
                " 'result', k.result)::text, 'UTF8') FROM {s}.dispatch_request_keys k"
                " WHERE k.key_id = %s"
                # the dispatch found (version 0: no event), then its events after the
                # version this process holds of it (none held: all of them)
                " UNION ALL SELECT d.dispatch_id, 0, NULL, NULL FROM d"
                " UNION ALL SELECT e.originator_id, e.originator_version, e.topic, e.state"
                " FROM {s}.{e} e JOIN d ON e.originator_id = d.dispatch_id"
                " WHERE e.originator_version > CASE WHEN d.dispatch_id = %s::uuid"
                " THEN %s::int ELSE 0 END"
                " ORDER BY 1, 2").format(s=self._schema, e=self._events).as_bytes(None)
        return self._sql[shape]

    async def load(self, *, code: str, ticket_id: str, unit: str = "",
                   key_id: uuid.UUID | None = None) -> Loaded:
        """The key and the dispatch, as the store has them now. A dispatch this process
        holds (`keep`) is taken out (no other command works on it meanwhile) and brought up
        to date with the events after its version, read in the same statement: it costs no
        read of its own, and another replica's or the consumer's change is never missed."""
        self._loop = asyncio.get_running_loop()
        _, params = by_ref(code=code, ticket_id=ticket_id)
        sql = self._load_sql(bool(code), bool(ticket_id), bool(unit))
        held = self._take(code, ticket_id)
        async with self.pool.connection() as conn, conn.cursor(binary=True) as cur:
            await cur.execute(sql, [*params, *([unit] if unit else []), key_id, key_id,
                                    held.id if held is not None else None,
                                    held.version if held is not None else 0])
            rows = await cur.fetchall()
        key: list[StoredEvent] = []
        dispatch: list[StoredEvent] = []
        found = None
        row_key: RequestKey | None = None
        for oid, version, topic, state in rows:
            if version == 0:
                found = oid
            elif version == -1:
                row_key = RequestKey(method=topic, **json.loads(bytes(state)))
            else:
                (key if oid == key_id else dispatch).append(
                    StoredEvent(oid, version, topic, bytes(state)))
        loaded = row_key if row_key is not None else self._project(key)
        if found is None:  # no such ticket, or not this unit's: what is held stays current
            if held is not None:
                self.keep(held)
            return Loaded(dispatch=None, key=loaded)
        if held is not None and held.id == found:
            current = self._project(dispatch, held)
        else:
            if held is not None:
                self.keep(held)
            current = self._project(dispatch)
        if loaded is not None and current is not None:  # a replay: nothing acts on it
            self.keep(current)
        return Loaded(dispatch=current, key=loaded)

    def key_statement(self, key_id: uuid.UUID, key: RequestKey) -> Statement:
        """The request key's row, written in the transaction of the change it made (a racing
        retry's clash on the key is an IntegrityError: it reads again and is replayed)."""
        return Statement(self._key_sql, (key_id, key.unit, key.request_id, key.method,
                                         key.ticket_id, Jsonb(key.result), key_id))

    # --- the dispatches this process's commands saved last (kept current by `load`) ---

    def offer(self, dispatches: list[Any]) -> None:
        """From any thread: ticket dispatches as just committed by the consumer; a copy of
        each is held for the next command on it (a unit's sign-for, a dispatcher's assign),
        which then decodes only the events after it (usually none). Before the first
        command (no loop known yet) nothing is held.

        The copies wait in a deque (its appends are thread-safe) until the loop next looks
        at what it holds (`_take`): no wake-up of the loop per consumer batch (a callback
        handed over with `call_soon_threadsafe` was a write to the loop's self-pipe, an extra
        turn of the loop and a read of the pipe for every batch, to file a copy that only a
        later command reads). Beyond `held_max` waiting, the oldest are let go (as `keep`
        lets the oldest held go): a lost hand-over only costs that command a read."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        copies = [_copy(d) for d in dispatches]
        self._offered.extend(copies)

    def _keep_offered(self) -> None:
        """On the loop: hold the dispatches the consumer offered meanwhile, in the order
        they were committed, never over a newer one a command kept."""
        offered = self._offered
        while offered:  # only the loop takes from it
            d = offered.popleft()
            held = self._held.get(d.id)
            if held is None or held.version < d.version:
                self.keep(d)

    def keep(self, dispatch: Any) -> None:
        """Hold a dispatch as committed (after a command's save), for the next command on
        it; the oldest are let go beyond `held_max`."""
        held = self._held
        held.pop(dispatch.id, None)
        held[dispatch.id] = dispatch
        self._ids[("code", dispatch.ticket_code)] = dispatch.id
        self._ids[("id", dispatch.ticket_id)] = dispatch.id
        while len(held) > self.held_max:
            _, gone = held.popitem(last=False)
            self._ids.pop(("code", gone.ticket_code), None)
            self._ids.pop(("id", gone.ticket_id), None)

    def take(self, *, code: str, ticket_id: str) -> Any | None:
        """The held dispatch named by the code and/or id, taken out (a command works on it
        alone; `keep` holds it again once saved), or None."""
        return self._take(code, ticket_id)

    def _take(self, code: str, ticket_id: str) -> Any | None:
        """The held dispatch named by the code and/or id (both given: both must name it)."""
        if self._offered:
            self._keep_offered()
        ids = {self._ids.get((k, v)) for k, v in (("code", code), ("id", ticket_id)) if v}
        if len(ids) != 1:
            return None
        dispatch_id = ids.pop()
        held = self._held.pop(dispatch_id, None) if dispatch_id is not None else None
        if held is not None:  # `keep` names it again when it comes back
            self._ids.pop(("code", held.ticket_code), None)
            self._ids.pop(("id", held.ticket_id), None)
        return held

    def _project(self, stored: list[StoredEvent], aggregate: Any = None) -> Any | None:
        """The aggregate of its events (eventsourcing's own projection, without its
        `isinstance` check against a runtime Protocol per event), from `aggregate` on."""
        for s in stored:
            event: Any = self.mapper.to_domain_event(s)
            aggregate = event.mutate(aggregate)
        return aggregate

    # --- a unit's assignments (ListAssignments, StreamAssignments' open ones) ---

    async def assignments(self, unit: str, *, statuses: Sequence[str], limit: int,
                          after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
        """A unit's assignments in (assigned_at, ticket_id) order, after a keyset position."""
        query = ASSIGNMENT_SELECT + " WHERE a.unit = %s AND a.status = ANY(%s)"
        params: list[Any] = [unit, list(statuses)]
        if after is not None:
            query += " AND (a.assigned_at, a.ticket_id) > (%s, %s)"
            params.extend(after)
        query += " ORDER BY a.assigned_at, a.ticket_id LIMIT %s"
        params.append(limit)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(SQL(query).format(s=self._schema), params)
            return list(await cur.fetchall())

    async def open_assignments(self, unit: str, limit: int = 10000) -> list[dict[str, Any]]:
        return await self.assignments(unit, statuses=sorted(OPEN_STATUSES), limit=limit)

    # --- the console's queues (the desk polls them every half second) ---

    async def queue(self, queue: str | None, *, limit: int) -> tuple[dict[str, int],
                                                                      list[dict[str, Any]]]:
        """(count of every queue, the oldest tickets of one queue or of all): one connection,
        two statements in one pipeline."""
        rows_sql = SQL("SELECT * FROM {}.dispatch_tickets WHERE queue IS NOT NULL"
                       + (" AND queue = %s" if queue else "") + " ORDER BY queued_at LIMIT %s"
                       ).format(self._schema)
        counts_sql = SQL("SELECT queue, count(*) AS n FROM {}.dispatch_tickets"
                         " WHERE queue IS NOT NULL GROUP BY queue").format(self._schema)
        async with self.pool.connection() as conn:
            async with conn.pipeline():
                counts = await conn.cursor(row_factory=dict_row).execute(counts_sql)
                rows = await conn.cursor(row_factory=dict_row).execute(
                    rows_sql, [queue, limit] if queue else [limit])
            return ({r["queue"]: r["n"] for r in await counts.fetchall()},
                    list(await rows.fetchall()))

    # --- the assignment feed (entrypoints.feed) ---

    async def last_notification(self) -> int:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(self._last_sql)).fetchone()
        return int(row[0] or 0) if row else 0

    async def changes(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int, int]:
        """(the assignment rows of the tickets whose dispatch changed in the next `limit`
        notifications after `after`, the last of those notifications' ids, how many there
        were): one statement, one snapshot (was the notifications with their events' state,
        then the rows, from a worker thread)."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._changes_sql, (after, limit), prepare=True)
            found = await cur.fetchall()
        if not found or not found[0]["notes"]:
            return [], after, 0
        last, notes = found[0]["last_id"], found[0]["notes"]
        rows = []
        for row in found:
            if row["dispatch_id"] is not None:
                del row["last_id"], row["notes"]
                rows.append(row)
        return rows, last, notes
