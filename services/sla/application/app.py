"""The SLA application: clocks and supervision orders in eventsourcing, read rows alongside.

``save`` derives each changed aggregate's read row (its state and the next instant something
is owed) and hands the rows to ``SlaRecorder``, which writes them in the transaction of the
events. So the timer index can never miss a deadline that a committed event set.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application

from backbone.store import EventContext
from services.sla.adapters.readmodel import ClockRow, OrderRow
from services.sla.domain.calendar import WorkingCalendar
from services.sla.domain.clock import TicketClock
from services.sla.domain.due import first_due
from services.sla.domain.policy import SlaPolicy
from services.sla.domain.supervision import SupervisionOrder, escalation_due

FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
RECORDER_TOPIC = "services.sla.adapters.recorder:SlaRecorder"


@dataclass
class Rules:
    """What every decision needs besides the aggregates: the policy and the calendar."""

    policy: SlaPolicy
    calendar: WorkingCalendar


def clock_next_due(clock: TicketClock) -> dt.datetime | None:
    return first_due(clock, FAR_FUTURE)


def clock_row(clock: TicketClock, ticket_code: str) -> ClockRow:
    pending = clock.pending_extension
    return ClockRow(
        clock_id=clock.id, ticket_id=clock.ticket_id, ticket_code=ticket_code,
        clock_no=clock.clock_number, grade=clock.grade, status=clock.status, unit=clock.unit,
        parent_unit=clock.parent_unit, accepted_at=clock.accepted_at, due_at=clock.due_at,
        explanation_due_at=clock.explanation_due_at, sign_for_due_at=clock.sign_for_due_at,
        signed_for=clock.signed_for, provisional=clock.provisional,
        extension_pending=pending["working_days"] if pending else None,
        next_due_at=clock_next_due(clock), last_event_at=clock.modified_on,
        # (getattr: an aggregate restored from a snapshot taken before the attribute existed)
        explained_at=getattr(clock, "explained_at", None),
        explained_late=clock.explained_late if getattr(clock, "explained_at", None) else None,
    )


def order_row(order: SupervisionOrder, ticket_code: str, policy: SlaPolicy) -> OrderRow:
    answer = order.answer or {}
    return OrderRow(
        order_id=order.id, ticket_id=order.ticket_id, ticket_code=ticket_code,
        order_key=order.order_key, unit=order.unit, kind=order.kind, status=order.status,
        level=order.level, addressees=list(order.addressees), issued_by=order.issued_by,
        reason=order.reason, issued_at=order.created_on, answer_due_at=order.answer_due_at,
        provisional=order.provisional, answer_unit=answer.get("unit"),
        answer_text=answer.get("text"), next_due_at=escalation_due(order, policy, FAR_FUTURE),
        last_event_at=order.modified_on,
    )


class SlaApplication(Application):
    name = "sla"

    def __init__(self, *, rules: Rules, env: dict[str, str]):
        super().__init__(env={**env, "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC})
        self.rules = rules

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        contexts: dict[Any, EventContext] = kwargs.get("contexts") or {}
        default: EventContext | None = kwargs.get("context")
        changed = [o for o in objs if o is not None and getattr(o, "pending_events", None)]
        clocks, orders = [], []
        for obj in changed:
            ctx = contexts.get(obj.id, default)
            code = ctx.ticket_code if ctx else ""
            if isinstance(obj, TicketClock):
                clocks.append(clock_row(obj, code))
            elif isinstance(obj, SupervisionOrder):
                orders.append(order_row(obj, code, self.rules.policy))
        events = in_time_order(changed)
        if self.snapshots is not None:
            return super().save(*events, read_rows=(clocks, orders), **kwargs)
        # What Application.save does with these events, less ProcessingEvent.collect_events'
        # `isinstance` checks of each against runtime Protocols (7 % of the SLA consumer's
        # CPU) and a Recording per event that only its stock, empty `_notify` reads
        stored = self.events.mapper.to_stored_event
        self.events.recorder.insert_events([stored(e) for e in events], tracking=None,
                                           read_rows=(clocks, orders), **kwargs)
        return []


def in_time_order(aggregates: list[Any]) -> list[Any]:
    """The aggregates' new events, merged by business time.

    The notification log (and so the lifecycle topic) then carries a ticket's SLA events in
    the order they happened, not in the order of the aggregates in a save: a replay whose
    saves are cut differently publishes the same sequence. Ties follow ``fire_ticket``: the
    clock before its supervision orders, orders by key, each aggregate by version.
    """
    keyed = []
    for aggregate in aggregates:
        if isinstance(aggregate, TicketClock):
            rank, name = 0, f"{aggregate.clock_number:06d}"
        else:
            rank, name = 1, str(getattr(aggregate, "order_key", aggregate.id))
        for e in aggregate.collect_events():
            keyed.append(((e.timestamp, rank, name, e.originator_version), e))
    keyed.sort(key=lambda k: k[0])
    return [e for _, e in keyed]
