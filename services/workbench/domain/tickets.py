"""A ticket as the list shows it: a pure fold of the lifecycle events (no I/O).

The events carry masked text only (intake masks before publishing), so the row holds no
personal data: no pseudonym and no contact are ever copied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from services.workbench.domain.search import bigrams


@dataclass(frozen=True)
class TicketRow:
    ticket_id: str
    code: str = ""
    channel: str = ""
    county: str = ""
    subdistrict: str = ""
    address_masked: str = ""
    title_masked: str = ""
    text_masked: str = ""
    category: str = ""
    subcategory: str = ""
    request_type: str = ""
    urgency: str = ""
    unit: str = ""                      # the lead unit now
    co_units: tuple[str, ...] = ()
    units: tuple[str, ...] = ()         # every unit that ever held it: who may see it
    status: str = "submitted"
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    due_at: datetime | None = None
    overdue: bool = False
    rating: str = ""
    reopen_count: int = 0
    case_id: str = ""
    primary_code: str = ""
    reply_masked: str = ""

    @property
    def search_grams(self) -> list[str]:
        return bigrams(" ".join((self.title_masked, self.text_masked, self.address_masked)))


_FIELDS = frozenset(f.name for f in fields(TicketRow))

NEEDS_LONGER = "needs_longer"  # an accepted interim answer: the ticket stays with its unit


def replace(row: TicketRow, **changes: Any) -> TicketRow:
    """`dataclasses.replace` for a row: a copy with ``changes``. The fold makes one for most
    lifecycle events, and the library's (the fields walked, `__init__`'s 25 frozen
    assignments) was 5 us each, 14 % of the workbench's CPU under load (py-spy, session 13);
    this copies the instance's dict (~0.9 us). A row has no `__post_init__` to skip."""
    if not _FIELDS.issuperset(changes):
        raise TypeError(f"TicketRow has no field {sorted(set(changes) - _FIELDS)}")
    new = object.__new__(TicketRow)
    state = new.__dict__
    state.update(row.__dict__)
    state.update(changes)
    return new


def _with_unit(row: TicketRow, *units: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*row.units, *(u for u in units if u))))


def _ts(message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    return getattr(message, name).ToDatetime(tzinfo=UTC)


def _submitted(row: TicketRow, p: Any) -> TicketRow:
    return replace(row, channel=p.channel, title_masked=p.title_masked,
                   text_masked=p.text_masked, county=p.place.county or row.county,
                   subdistrict=p.place.subdistrict or row.subdistrict,
                   address_masked=p.place.address_masked or row.address_masked,
                   category=row.category or p.category_hint)


def _assigned(row: TicketRow, p: Any) -> TicketRow:
    classified = dict(category=p.category or row.category,
                      subcategory=p.subcategory or row.subcategory,
                      request_type=p.request_type or row.request_type,
                      urgency=p.urgency or row.urgency, county=p.county or row.county,
                      subdistrict=p.subdistrict or row.subdistrict,
                      channel=row.channel or p.channel,
                      title_masked=row.title_masked or p.title_masked,
                      text_masked=row.text_masked or p.text_masked)
    if p.role == "co_handling":
        return replace(row, units=_with_unit(row, p.unit),
                       co_units=tuple(dict.fromkeys((*row.co_units, p.unit))), **classified)
    return replace(row, unit=p.unit, units=_with_unit(row, p.unit), status="assigned",
                   **classified)


def _queued(row: TicketRow, p: Any) -> TicketRow:
    return replace(row, status="queued", category=p.category or row.category,
                   subcategory=p.subcategory or row.subcategory,
                   request_type=p.request_type or row.request_type,
                   urgency=p.urgency or row.urgency, county=p.county or row.county)


def _lead_step(status: str) -> Callable[[TicketRow, Any], TicketRow]:
    """A unit's step changes the ticket's status only when the lead unit takes it."""
    def step(row: TicketRow, p: Any) -> TicketRow:
        return replace(row, status=status) if p.unit in ("", row.unit) else row
    return step


def _replied(row: TicketRow, p: Any) -> TicketRow:
    if p.unit not in ("", row.unit):
        return row
    return replace(row, status="replied", reply_masked=p.reply_masked)


def _reviewed(row: TicketRow, p: Any) -> TicketRow:
    if not p.accepted:
        return replace(row, status="reply_returned")
    if getattr(p, "interim", False) or getattr(p, "outcome", "") == NEEDS_LONGER:  # works on
        return replace(row, status=NEEDS_LONGER) if p.unit in ("", row.unit) else row
    return row


def _notified(row: TicketRow, p: Any) -> TicketRow:
    """已回复市民, unless the notice only said it needs longer (the answer is still owed)."""
    return row if getattr(p, "outcome", "") == NEEDS_LONGER else replace(row, status="notified")


def _transferred(row: TicketRow, p: Any) -> TicketRow:
    return replace(row, unit=p.to_unit, units=_with_unit(row, p.to_unit), status="assigned")


def _coordinated(row: TicketRow, p: Any) -> TicketRow:
    return replace(row, unit=p.lead_unit, co_units=tuple(p.co_units),
                   units=_with_unit(row, p.lead_unit, *p.co_units))


def _due(name: str = "due_at") -> Callable[[TicketRow, Any], TicketRow]:
    def set_due(row: TicketRow, p: Any) -> TicketRow:
        if p.unit not in ("", row.unit):
            return row
        return replace(row, due_at=_ts(p, name) or row.due_at)
    return set_due


def _deadline_set(row: TicketRow, p: Any) -> TicketRow:
    if p.unit not in ("", row.unit):
        return row
    return replace(row, due_at=_ts(p, "due_at") or row.due_at, overdue=False)


def _missed(row: TicketRow, p: Any) -> TicketRow:
    return replace(row, overdue=True) if p.unit in ("", row.unit) else row


def _reopened(row: TicketRow, p: Any) -> TicketRow:
    return replace(row, status="reopened", reopen_count=p.reopen_count, rating="")


def _merged(row: TicketRow, p: Any) -> TicketRow:
    return replace(row, case_id=p.case_id, primary_code=p.primary_code)


Fold = Callable[[TicketRow, Any], TicketRow]

FOLDS: dict[str, Fold] = {
    "TicketSubmitted": _submitted,
    "TicketAccepted": lambda r, p: replace(r, status="accepted") if r.status == "submitted"
    else r,
    "TicketRejected": lambda r, p: replace(r, status="rejected"),
    "TicketAnsweredOnSpot": lambda r, p: replace(r, status="answered_on_spot",
                                                 reply_masked=p.answer_masked, unit="city",
                                                 units=_with_unit(r, "city")),
    "TicketMergedIntoCase": _merged,
    "TicketUnmergedFromCase": lambda r, p: replace(r, case_id="", primary_code=""),
    "TicketQueuedForDispatcher": _queued,
    "TicketAssigned": _assigned,
    "AssignmentSignedFor": _lead_step("signed_for"),
    "AssignmentBouncedBack": _lead_step("bounced_back"),
    "AssignmentTransferred": _transferred,
    "CoordinationDecided": _coordinated,
    "AssignmentReplied": _replied,
    "ReplyReviewed": _reviewed,
    "DispatchClosed": _lead_step("dispatch_closed"),
    "AssignmentWithdrawn": lambda r, p: replace(r, status="merged") if p.case_id else r,
    "DeadlineSet": _deadline_set,
    "DeadlineExtended": _due(),
    "DeadlineRecomputed": _due(),
    "ClockResumed": _due(),
    "DeadlineMissed": _missed,
    "CitizenNotified": _notified,
    "TicketRated": lambda r, p: replace(r, rating=p.rating),
    "TicketMarkedUnrated": lambda r, p: replace(r, rating="unrated"),
    "TicketReopened": _reopened,
    "TicketClosed": lambda r, p: replace(r, status="closed", rating=p.rating or r.rating),
}


def fold(row: TicketRow | None, *, ticket_id: str, code: str, event_type: str, payload: Any,
         occurred_at: datetime) -> TicketRow:
    """The row after one event (a row first seen mid-history starts empty)."""
    current = row or TicketRow(ticket_id=ticket_id, submitted_at=occurred_at)
    if event_type == "TicketSubmitted":
        current = replace(current, submitted_at=occurred_at)
    changed = FOLDS[event_type](current, payload)
    return replace(changed, code=changed.code or code, updated_at=occurred_at)
