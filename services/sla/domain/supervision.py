"""Supervision orders (督办): issued, answered by the unit, escalated when unanswered, closed.

An order is issued by a supervisor by hand, or automatically when a ticket clock is missed
(one automatic order per missed deadline: its key names the clock and the deadline, so a
redelivered Missed event cannot issue a second one). The unit must answer within the policy's
working days (same counting rule as replies); unanswered, it escalates to the unit's parent
and the supervision office (督查室), with a fresh answer window, up to the policy's cap.
Event timestamps are business time, as in ``clock.py``.
"""

from __future__ import annotations

import datetime as dt
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.sla.domain.calendar import WorkingCalendar
from services.sla.domain.policy import SlaPolicy, due_after

MANUAL, ON_OVERDUE, DEPUTY, OBSERVER = "manual", "overdue", "deputy", "observer"
KINDS = (MANUAL, ON_OVERDUE, DEPUTY, OBSERVER)
OPEN, ANSWERED, CLOSED = "open", "answered", "closed"
ONE_MICROSECOND = dt.timedelta(microseconds=1)


class SupervisionError(Exception):
    """Base of supervision errors; the message says why."""


class SupervisionClosedError(SupervisionError):
    """The order is closed; nothing more can happen to it."""


class SupervisionAlreadyAnsweredError(SupervisionError):
    """The order already has an answer."""


class NotAddressedError(SupervisionError):
    """The unit answering is not one the order is addressed to."""


class EscalationNotDueError(SupervisionError):
    """Escalating before the answer window has passed, or after an answer came."""


class EscalationCapError(SupervisionError):
    """The order has already been escalated as often as the policy allows."""


class SupervisionTimeError(SupervisionError):
    """A command dated before the order's last event."""


def overdue_order_key(clock_number: int, due_at: dt.datetime) -> str:
    """The key of the automatic order for one missed deadline of one clock."""
    return f"overdue:{clock_number}:{due_at.isoformat()}"


class SupervisionOrder(Aggregate):
    @staticmethod
    def create_id(ticket_id: str, order_key: str) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE_URL, f"minsheng:sla:supervision:{ticket_id}:{order_key}")

    @classmethod
    def issue(
        cls, policy: SlaPolicy, calendar: WorkingCalendar, *, ticket_id: str, order_key: str,
        unit: str, kind: str, issued_by: str, reason: str, at: dt.datetime,
    ) -> SupervisionOrder:
        """Issues an order to ``unit``: by a supervisor (``kind='manual'``), on overdue, or pushed
        by a people's-congress deputy or an observer (``deputy`` / ``observer``)."""
        if kind not in KINDS:
            raise SupervisionError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if not reason.strip():
            raise SupervisionError("a supervision order must say why it is issued")
        answer_due = due_after(calendar, at, policy.supervision_answer_working_days)
        return cls(
            ticket_id=ticket_id, order_key=order_key, unit=unit, kind=kind,
            issued_by=issued_by, reason=reason, answer_due_at=answer_due.due_at,
            provisional=answer_due.provisional, timestamp=at,
        )

    @event("Issued")
    def __init__(
        self, ticket_id: str, order_key: str, unit: str, kind: str, issued_by: str,
        reason: str, answer_due_at: dt.datetime, provisional: bool, timestamp: dt.datetime,
    ) -> None:
        self.ticket_id, self.order_key, self.unit, self.kind = ticket_id, order_key, unit, kind
        self.issued_by, self.reason = issued_by, reason
        self.answer_due_at, self.provisional = answer_due_at, provisional
        self.addressees: list[str] = [unit]
        self.level = 0
        self.status = OPEN
        self.answer: dict[str, str] | None = None

    def check_open(self, at: dt.datetime) -> None:
        if at < self.modified_on:
            raise SupervisionTimeError(
                f"{at.isoformat()} is before the order's last event {self.modified_on.isoformat()}"
            )
        if self.status == CLOSED:
            raise SupervisionClosedError(f"supervision order {self.order_key} is closed")

    def answer_order(self, *, unit: str, text: str, at: dt.datetime) -> None:
        """The unit (or a unit it was escalated to) answers the order."""
        self.check_open(at)
        if self.status == ANSWERED:
            raise SupervisionAlreadyAnsweredError(f"order {self.order_key} is already answered")
        if unit not in self.addressees:
            raise NotAddressedError(
                f"{unit} cannot answer: the order is addressed to {', '.join(self.addressees)}"
            )
        if not text.strip():
            raise SupervisionError("an answer must say something")
        self._answered(unit=unit, text=text, late=at > self.answer_due_at, timestamp=at)

    @event("Answered")
    def _answered(self, unit: str, text: str, late: bool, timestamp: dt.datetime) -> None:
        self.status = ANSWERED
        self.answer = {"unit": unit, "text": text}

    def escalate(
        self, policy: SlaPolicy, calendar: WorkingCalendar, *, parent_unit: str | None,
        at: dt.datetime,
    ) -> None:
        """Escalates an unanswered order to the unit's parent and the supervision office."""
        self.check_open(at)
        if self.status == ANSWERED:
            raise EscalationNotDueError(f"order {self.order_key} is answered; nothing to escalate")
        if at <= self.answer_due_at:
            raise EscalationNotDueError(
                f"the answer is due by {self.answer_due_at.isoformat()}; not yet late"
            )
        if self.level >= policy.supervision_max_escalations:
            raise EscalationCapError(
                f"already escalated {self.level} times (max {policy.supervision_max_escalations})"
            )
        to_units = [u for u in (parent_unit, policy.supervision_office) if u]
        answer_due = due_after(calendar, at, policy.supervision_answer_working_days)
        self._escalated(
            level=self.level + 1, to_units=to_units, answer_due_at=answer_due.due_at,
            provisional=answer_due.provisional, timestamp=at,
        )

    @event("Escalated")
    def _escalated(
        self, level: int, to_units: list[str], answer_due_at: dt.datetime, provisional: bool,
        timestamp: dt.datetime,
    ) -> None:
        self.level = level
        self.addressees.extend(u for u in to_units if u not in self.addressees)
        self.answer_due_at, self.provisional = answer_due_at, provisional

    def close(self, *, closed_by: str, note: str, at: dt.datetime) -> None:
        """The supervisor closes the order (answer accepted, or the ticket was settled)."""
        self.check_open(at)
        self._closed(closed_by=closed_by, note=note, answered=self.status == ANSWERED, timestamp=at)

    @event("Closed")
    def _closed(self, closed_by: str, note: str, answered: bool, timestamp: dt.datetime) -> None:
        self.status = CLOSED


def escalation_due(
    order: SupervisionOrder, policy: SlaPolicy, now: dt.datetime
) -> dt.datetime | None:
    """The instant the order falls due for escalation, if it has by ``now`` (pure)."""
    if order.status != OPEN or order.level >= policy.supervision_max_escalations:
        return None
    instant = order.answer_due_at + ONE_MICROSECOND
    return instant if instant <= now else None
