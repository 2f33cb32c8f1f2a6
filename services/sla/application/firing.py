"""Firing what a ticket owes, in the order of its scheduled instants.

Both the timer loop and every incoming command go through ``fire_ticket(bound)``: it fires,
one instant at a time, the earliest item due by ``bound`` among the ticket's clock and its
open supervision orders (warnings, overdue, sign-for / explanation overdue, escalations), and
issues the automatic order a missed deadline calls for. Because each item carries its own
scheduled instant and the ticket's items are merged by instant, the ticket's SLA events are
the same whether they were fired by a timer tick, by the next upstream event, or after a
restart: a replayed month gives identical events.
"""

from __future__ import annotations

import datetime as dt
import logging
from itertools import islice
from typing import Any

from backbone.consumer import UnitOfWork
from services.sla.application.app import Rules
from services.sla.domain.calendar import SHANGHAI
from services.sla.domain.clock import TicketClock
from services.sla.domain.due import OVERDUE_KIND, fire_due, first_due
from services.sla.domain.supervision import (
    ON_OVERDUE,
    SupervisionOrder,
    escalation_due,
    overdue_order_key,
)

log = logging.getLogger(__name__)

MASTER_PLATFORM = "city"  # holds a ticket no unit holds (after a bounce-back)
SYSTEM = "sla"


def of_ticket(uow: UnitOfWork, ticket_id: str) -> list[Any]:
    """The unit of work's aggregates of one ticket, in the order they joined it.

    Both `TicketBook.stamp` (after every event) and `open_orders` looked at every aggregate of
    the batch for the ticket's: events x aggregates a batch, and batches hold a few hundred
    events since the 300 ms gather. An index by ticket is kept beside the unit of work (in
    its __dict__, as `sla_absent` is) and extended with the aggregates that joined since it
    was last read (`uow.aggregates` only grows, in insertion order); the aggregate is looked
    up by id when used, so one replaced under the same id is the current one."""
    aggregates = uow.aggregates
    index = uow.__dict__.get("sla_by_ticket")
    if index is None or index[0] > len(aggregates):
        index = uow.__dict__["sla_by_ticket"] = [0, {}]
    if index[0] < len(aggregates):
        by_ticket = index[1]
        for aggregate_id, aggregate in islice(aggregates.items(), index[0], None):
            by_ticket.setdefault(getattr(aggregate, "ticket_id", None), []).append(aggregate_id)
        index[0] = len(aggregates)
    found = (aggregates.get(i) for i in index[1].get(ticket_id, ()))
    return [a for a in found if a is not None]


class TicketBook:
    """A ticket's aggregates as one unit of work sees them (loaded once, absent remembered)."""

    def __init__(self, uow: UnitOfWork, order_ids: list[Any], clock_count: int | None = None):
        """`clock_count`: how many clocks of the ticket are committed (0: none), as the read
        model (written in the transaction of the clocks' events) says; then no load probes for
        a clock that does not exist. None: not known, probe."""
        self.uow = uow
        self.order_ids = order_ids
        self.clock_count = clock_count

    def clocks(self, ticket_id: str) -> list[TicketClock]:
        found: list[TicketClock] = []
        number = 1
        if self.clock_count is not None:
            while True:
                clock_id = TicketClock.create_id(ticket_id, number)
                # committed: loaded (or as this unit of work left it); later: new in it
                clock = (self.uow.get(clock_id) if number <= self.clock_count
                         else self.uow.aggregates.get(clock_id))
                if clock is None:
                    return found
                found.append(clock)
                number += 1
        absent: set[Any] = self.uow.__dict__.setdefault("sla_absent", set())
        while True:
            clock_id = TicketClock.create_id(ticket_id, number)
            clock = None if clock_id in absent else self.uow.get(clock_id)
            if clock is None:
                absent.add(clock_id)
                return found
            found.append(clock)
            number += 1

    def current_clock(self, ticket_id: str) -> TicketClock | None:
        clocks = self.clocks(ticket_id)
        return clocks[-1] if clocks else None

    def add(self, aggregate: Any) -> None:
        self.uow.__dict__.setdefault("sla_absent", set()).discard(aggregate.id)
        self.uow.add(aggregate)

    def stamp(self, ticket_id: str) -> None:
        """Gives the ticket's new events the unit of work's current context (ticket, trace,
        causation); without it, a loaded aggregate would get the batch's last context."""
        for aggregate in of_ticket(self.uow, ticket_id):
            if aggregate.pending_events:
                self.uow.add(aggregate)

    def open_orders(self, ticket_id: str) -> list[SupervisionOrder]:
        """Orders not closed: those committed (ids given) and those new in this unit of work."""
        orders: dict[Any, SupervisionOrder] = {}
        for order_id in self.order_ids:
            order = self.uow.get(order_id)
            if order is not None:
                orders[order.id] = order
        for aggregate in of_ticket(self.uow, ticket_id):
            if isinstance(aggregate, SupervisionOrder):
                orders[aggregate.id] = aggregate
        return sorted((o for o in orders.values() if o.status != "closed"),
                      key=lambda o: (o.created_on, o.order_key))


def _escalation_parent(order: SupervisionOrder, clock: TicketClock | None) -> str | None:
    if clock is not None and clock.unit == order.unit:
        return clock.parent_unit
    return None


def _issue_overdue_order(rules: Rules, book: TicketBook, clock: TicketClock,
                         due_at: dt.datetime, at: dt.datetime) -> SupervisionOrder | None:
    key = overdue_order_key(clock.clock_number, due_at)
    if book.uow.get(SupervisionOrder.create_id(clock.ticket_id, key)) is not None:
        return None  # one automatic order per missed deadline
    local = due_at.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    order = SupervisionOrder.issue(
        rules.policy, rules.calendar, ticket_id=clock.ticket_id, order_key=key,
        unit=clock.unit or MASTER_PLATFORM, kind=ON_OVERDUE, issued_by=SYSTEM,
        reason=f"逾期未答复：答复期限 {local} 已过（第 {clock.clock_number} 号时钟）", at=at,
    )
    book.add(order)
    return order


def _owed(rules: Rules, clock: TicketClock | None, orders: list[SupervisionOrder],
          bound: dt.datetime) -> list[tuple[dt.datetime, int, str, Any]]:
    """What the ticket owes by ``bound``: (instant, clock before orders, order key, target)."""
    candidates: list[tuple[dt.datetime, int, str, Any]] = []
    if clock is not None:
        owed = first_due(clock, bound)
        if owed is not None:
            candidates.append((owed, 0, "", clock))
    for order in orders:
        instant = escalation_due(order, rules.policy, bound)
        if instant is not None:
            candidates.append((instant, 1, order.order_key, order))
    return candidates


def first_owed(rules: Rules, book: TicketBook, ticket_id: str,
               bound: dt.datetime) -> dt.datetime | None:
    """The earliest instant the ticket owes something by ``bound`` (None: nothing)."""
    candidates = _owed(rules, book.current_clock(ticket_id), book.open_orders(ticket_id), bound)
    return min(c[0] for c in candidates) if candidates else None


def fire_ticket(rules: Rules, book: TicketBook, ticket_id: str, bound: dt.datetime) -> int:
    """Fires everything the ticket owes by ``bound``, earliest first; returns how many."""
    clock = book.current_clock(ticket_id)
    orders = book.open_orders(ticket_id)
    fired = 0
    while True:
        candidates = _owed(rules, clock, orders, bound)
        if not candidates:
            return fired
        at, _, _, target = min(candidates, key=lambda c: c[:3])
        if isinstance(target, TicketClock):
            for item in fire_due(target, at):
                fired += 1
                if item.kind == OVERDUE_KIND:
                    issued = _issue_overdue_order(rules, book, target, item.due_at, item.at)
                    if issued is not None:
                        orders.append(issued)
                        fired += 1
        else:
            target.escalate(rules.policy, rules.calendar,
                            parent_unit=_escalation_parent(target, clock), at=at)
            fired += 1
