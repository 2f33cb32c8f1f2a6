"""The supervisors' and dispatchers' commands, and the timer's round (the service layer).

Every command reads get -> fire what was owed before its time -> decide -> save (on the wall
clock no further than the ticket's lifecycle partition is read: application/gate.py). Commands,
timer rounds and the consumer's batches take one lock in this process: they touch the same
aggregates, and serialising them here turns optimistic-concurrency conflicts (which the
consumer would have to retry) into a short wait. Supervisors' commands are few, so they are
saved one per transaction, not group-committed.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import uuid
from collections.abc import Callable, Collection
from typing import Any

from psycopg_pool import ConnectionPool

from backbone.consumer import AggregateCache, UnitOfWork
from backbone.http import ClientError, ConflictError, NotFoundError
from backbone.privacy import echo, mask_personal_data
from backbone.store import EventContext, autocommit
from services.sla.adapters import readmodel
from services.sla.application.app import Rules, SlaApplication
from services.sla.application.firing import TicketBook, fire_ticket
from services.sla.application.gate import CommandGate, Ends, fire_owed
from services.sla.domain.clock import SETTLED, ClockError, TicketClock
from services.sla.domain.supervision import MANUAL, SupervisionError, SupervisionOrder


class CommandError(ClientError):
    """A command the domain refused; the detail says why (409)."""

    status = 409
    code = "refused"


class Desk:
    def __init__(self, *, app: SlaApplication, pool: ConnectionPool, schema: str,
                 lock: threading.Lock, cache: AggregateCache | None = None,
                 units: Collection[str] | None = None):
        self.app = app
        # the registry's active unit codes, which an order may be addressed to (None: any)
        self.units = units
        self.rules: Rules = app.rules
        self.pool = pool
        self.schema = schema
        self.lock = lock
        # the lifecycle consumer's aggregate cache (bootstrap), for the timer rounds
        # (`fire_due`): None, every round loads its tickets from the store
        self.cache = cache
        # wall clock: commands fire their ticket's owed items no further than its partition
        # is read (application/gate.py); None (event clock): up to the command's time
        self.gate: CommandGate | None = None

    # -- plumbing --------------------------------------------------------------------------
    def _ticket_code(self, ticket_id: str) -> str:
        with self.pool.connection() as conn:
            row = conn.execute(
                f'SELECT ticket_code FROM "{self.schema}".sla_clocks WHERE ticket_id = %s'
                " AND ticket_code <> '' LIMIT 1", (ticket_id,)).fetchone()
        return row[0] if row else ""

    def _book(self, uow: UnitOfWork, ticket_id: str) -> TicketBook:
        with self.pool.connection() as conn:
            return TicketBook(uow, readmodel.open_order_ids(conn, self.schema, ticket_id))

    def _run(self, ticket_id: str, at: dt.datetime, actor: EventContext,
             step: Callable[[TicketBook, dt.datetime], Any], ends: Ends | None = None,
             gated: bool = True) -> Any:
        """Runs one command on a ticket at ``at`` (after firing what was owed), saves it.

        With the gate (wall clock) what was owed fires no further than the ticket's
        partition is read: ``ends``, the lifecycle partitions' end offsets, asked for only
        when the ticket owes something by ``at`` (gate.EndsNeeded: ask, run again); a
        refusal (gate.FactsPendingError) saves nothing."""
        with self.lock:
            uow = UnitOfWork(self.app)
            uow.context = EventContext(
                ticket_id=ticket_id, ticket_code=self._ticket_code(ticket_id),
                trace_id=actor.trace_id, actor_role=actor.actor_role, actor_id=actor.actor_id,
                actor_unit=actor.actor_unit)
            book = self._book(uow, ticket_id)
            bound = (functools.partial(self.gate.bound, ticket_id, at, ends)
                     if gated and self.gate is not None else None)
            try:
                fire_owed(self.rules, book, ticket_id, at, bound)
                result = step(book, at)
            except (ClockError, SupervisionError) as exc:
                raise CommandError(str(exc)) from exc
            uow.save(None)
            return result

    def _clock(self, book: TicketBook, ticket_id: str) -> TicketClock:
        clock = book.current_clock(ticket_id)
        if clock is None:
            raise NotFoundError(f"no SLA clock for ticket {echo(ticket_id)}")
        return clock

    def _order(self, order_id: str) -> tuple[str, uuid.UUID]:
        try:
            oid = uuid.UUID(order_id)
        except ValueError as exc:
            raise ClientError(f"{echo(order_id)} is not a supervision order id") from exc
        with self.pool.connection() as conn:
            row = conn.execute(f'SELECT ticket_id FROM "{self.schema}".sla_orders'
                               " WHERE order_id = %s", (oid,)).fetchone()
        if row is None:
            raise NotFoundError(f"no supervision order {echo(order_id)}")
        return row[0], oid

    @staticmethod
    def _loaded(book: TicketBook, order_id: uuid.UUID) -> SupervisionOrder:
        order = book.uow.get(order_id)
        if order is None:
            raise NotFoundError(f"no supervision order {order_id}")
        return order  # type: ignore[no-any-return]

    @staticmethod
    def _at(book: TicketBook, aggregate: Any, at: dt.datetime) -> dt.datetime:
        if at < aggregate.modified_on:
            raise CommandError(f"{at.isoformat()} is before the last event "
                               f"({aggregate.modified_on.isoformat()})")
        return at

    # -- commands ------------------------------------------------------------------------------
    def pause(self, *, ticket_id: str, reason: str, at: dt.datetime, actor: EventContext,
              ends: Ends | None = None) -> None:
        def step(book: TicketBook, at: dt.datetime) -> None:
            self._clock(book, ticket_id).pause(reason=mask_personal_data(reason), at=at)
        self._run(ticket_id, at, actor, step, ends)

    def resume(self, *, ticket_id: str, at: dt.datetime, actor: EventContext,
               ends: Ends | None = None) -> None:
        def step(book: TicketBook, at: dt.datetime) -> None:
            self._clock(book, ticket_id).resume(self.rules.policy, self.rules.calendar, at=at)
        self._run(ticket_id, at, actor, step, ends)

    def decide_extension(self, *, ticket_id: str, approve: bool, working_days: int | None,
                         reason: str, at: dt.datetime, actor: EventContext,
                         ends: Ends | None = None) -> None:
        def step(book: TicketBook, at: dt.datetime) -> None:
            clock = self._clock(book, ticket_id)
            if approve:
                clock.approve_extension(self.rules.policy, self.rules.calendar,
                                        approved_by=actor.actor_id, at=at,
                                        working_days=working_days)
            else:
                clock.refuse_extension(reason=mask_personal_data(reason),
                                       refused_by=actor.actor_id, at=at)
        self._run(ticket_id, at, actor, step, ends)

    def issue_order(self, *, ticket_id: str, unit: str | None, reason: str, request_id: str,
                    at: dt.datetime, actor: EventContext, ends: Ends | None = None) -> str:
        key = f"manual:{request_id}"
        if unit is not None and self.units is not None and unit not in self.units:
            # an order to no unit would be answered by nobody, and its events would wait
            # for a topic that does not exist
            raise ClientError(f"unit {echo(unit)} is not an active unit of the registry")

        def step(book: TicketBook, at: dt.datetime) -> str:
            clock = book.current_clock(ticket_id)
            if clock is None:  # a ticket sla never saw (or a mistyped id): nothing to supervise
                raise NotFoundError(f"no SLA clock for ticket {echo(ticket_id)}")
            if clock.ticket_closed:  # the close closed every order; a new one would escalate
                raise CommandError("the ticket is closed (办结): there is nothing to supervise")
            to_unit = unit or (clock.unit if clock is not None else None)
            if not to_unit:
                raise ClientError("the ticket is held by no unit: name the unit to supervise")
            existing = book.uow.get(SupervisionOrder.create_id(ticket_id, key))
            if existing is not None:
                return str(existing.id)  # a retried request
            order = SupervisionOrder.issue(
                self.rules.policy, self.rules.calendar, ticket_id=ticket_id, order_key=key,
                unit=to_unit, kind=MANUAL, issued_by=actor.actor_id,
                reason=mask_personal_data(reason), at=at)
            book.add(order)
            return str(order.id)
        return self._run(ticket_id, at, actor, step, ends)

    def answer_order(self, *, order_id: str, unit: str, text: str, at: dt.datetime,
                     actor: EventContext, ends: Ends | None = None) -> None:
        ticket_id, oid = self._order(order_id)

        def step(book: TicketBook, at: dt.datetime) -> None:
            order = self._loaded(book, oid)
            order.answer_order(unit=unit, text=mask_personal_data(text),
                               at=self._at(book, order, at))
        self._run(ticket_id, at, actor, step, ends)

    def close_order(self, *, order_id: str, note: str, at: dt.datetime,
                    actor: EventContext, ends: Ends | None = None) -> None:
        ticket_id, oid = self._order(order_id)

        def step(book: TicketBook, at: dt.datetime) -> None:
            order = self._loaded(book, oid)
            order.close(closed_by=actor.actor_id, note=mask_personal_data(note),
                        at=self._at(book, order, at))
        self._run(ticket_id, at, actor, step, ends)

    def order_addressees(self, order_id: str) -> list[str]:
        _, oid = self._order(order_id)
        with self.pool.connection() as conn:
            row = conn.execute(f'SELECT addressees FROM "{self.schema}".sla_orders'
                               " WHERE order_id = %s", (oid,)).fetchone()
        return list(row[0]) if row else []

    # -- timers --------------------------------------------------------------------------------
    def fire_due(self, clock: Callable[[], dt.datetime | None], limit: int,
                 owns: Callable[[str], bool] | None = None) -> int:
        """One timer round: fires what is due by ``clock()`` (asked under the lock) for up to
        ``limit`` tickets; returns how many items fired. ``owns``: with several replicas, only
        the tickets whose partition this replica holds (backbone/ownership.py); the others'
        are theirs, so a wider window is read to find ``limit`` of ours."""
        with self.lock:
            now = clock()
            if now is None:
                return 0
            with autocommit(self.pool) as conn:
                tickets = readmodel.due_tickets(conn, self.schema, now,
                                                limit if owns is None else limit * 8)
            if owns is not None:
                tickets = [t for t in tickets if owns(t[0])][:limit]
            if not tickets:
                return 0
            uow = UnitOfWork(self.app, self._cache())
            # every due ticket's clock count and open orders in one round trip (as the
            # consumer's batches read them): was a query per ticket, and a load probing for
            # the clock after its last one (each a round trip to the event store)
            with autocommit(self.pool) as conn:
                known = readmodel.tickets_state(conn, self.schema, [t for t, _ in tickets])
            fired = 0
            for ticket_id, code in tickets:
                uow.context = EventContext(ticket_id=ticket_id, ticket_code=code,
                                           actor_role="system", actor_id="sla")
                clock_count, order_ids = known.get(ticket_id, (0, []))
                book = TicketBook(uow, order_ids, clock_count)
                fired += fire_ticket(self.rules, book, ticket_id, now)
                book.stamp(ticket_id)
            uow.save(None)
            return fired

    def _cache(self) -> AggregateCache | None:
        """The consumer's cache for a timer round, once its guard is installed (the consumer's
        first batch): the round reads its clocks and orders from it as a batch does, and its
        save checks (the cache's guard, in the round's transaction) that none changed since,
        and puts what it saved back: timers fire on the tickets in flight, and each round
        loaded every due ticket from the store, then evicted it from the cache (the save of
        another writer), so that the consumer's next fact of the ticket loaded it again
        (a third of the process's CPU at 1024 tickets in flight). Taken under the service
        lock, as the consumer's batches are; a round that fails leaves the cache untrusted
        (`begin`), so the next batch or round clears it."""
        cache = self.cache
        if cache is None or cache.guard_function is None:
            return None
        cache.begin()
        return cache

    # -- recomputation on a new official schedule ------------------------------------------------
    def recompute_provisional(self, *, at: dt.datetime, actor: EventContext) -> int:
        """Recounts every running provisional clock on the calendar as it is now."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f'SELECT ticket_id FROM "{self.schema}".sla_clocks WHERE provisional'
                " AND status NOT IN ('met', 'replied_late', 'stopped') ORDER BY ticket_id"
            ).fetchall()
        changed = 0
        for (ticket_id,) in rows:
            def step(book: TicketBook, at: dt.datetime, ticket_id: str = ticket_id) -> bool:
                clock = book.current_clock(ticket_id)
                if clock is None or clock.status in SETTLED:
                    return False
                return clock.recompute(self.rules.policy, self.rules.calendar,
                                       at=max(at, clock.modified_on))
            try:
                # (not gated: see docs/sla.md, Caveats)
                changed += bool(self._run(ticket_id, at, actor, step, gated=False))
            except (CommandError, ConflictError):
                continue  # the clock moved on meanwhile; it is no longer provisional
        return changed
