"""From a changed `TicketDispatch` to the rows of the read model (pure: no I/O).

Two tables: one row per ticket (the dispatchers' queues and lookups by code) and one row per
(ticket, unit) that ever held or co-handled it (each unit's ledger, 台账: what the department
systems list and stream). Rows are computed from the aggregate's state AFTER the change, plus
its pending events for the units that just lost it (bounced back, transferred, withdrawn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.dispatch.domain.lifecycle import HELD_BY_UNIT, DispatchState
from services.dispatch.domain.ticket_dispatch import TicketDispatch

# A unit still has something to do (or to watch, as a co-handling unit).
OPEN_STATUSES = frozenset({"assigned", "signed_for", "in_progress", "replied", "co_handling"})
ALL_STATUSES = OPEN_STATUSES | {
    "reply_accepted", "closed", "bounced_back", "transferred", "withdrawn", "reassigned",
    "reopened",
}
QUEUES = ("unrouted", "bounced_back", "disputed", "awaiting_review")

TICKET_COLUMNS = (
    "dispatch_id", "ticket_id", "ticket_code", "state", "owner", "queue", "queue_reason",
    "suggested_unit", "confidence", "category", "subcategory", "request_type", "urgency",
    "classified_by", "channel", "title_masked", "text_masked", "address_masked", "county",
    "subdistrict", "assignee", "lead_unit", "co_units", "assignment_no", "case_id",
    "primary_ticket_id", "primary_code", "reply_masked", "reply_outcome", "bounce_backs",
    "last_bounced_by", "reopen_count", "pending_transfer", "updated_at", "version",
    "queued_at",
)
UNIT_COLUMNS = (
    "dispatch_id", "unit", "ticket_id", "ticket_code", "role", "status", "assignment_no",
    "assigned_at", "sign_for_due_at", "bounce_back_due_at", "updated_at",
)
# Events after which units that no longer appear in the ticket's state have lost it.
_HAND_OVERS = {"Assigned", "Coordinated", "Transferred", "Reopened", "MergedIntoCase",
               "BouncedBack"}


@dataclass(frozen=True)
class ReadModelChange:
    ticket: dict[str, Any]
    release_open_as: str | None = None  # status for every unit row still open, first
    unit_statuses: list[dict[str, Any]] = field(default_factory=list)  # then these
    unit_rows: list[dict[str, Any]] = field(default_factory=list)  # then these upserts
    labels: list[dict[str, Any]] = field(default_factory=list)  # dispatchers' classifications
    # Dispatchers' routing decisions (assign, transfer, coordinate): which unit a person chose
    # for this text; `tools.recognition export-labels` turns them into training labels.
    routing_labels: list[dict[str, Any]] = field(default_factory=list)


def queue_of(d: TicketDispatch) -> str | None:
    """Which dispatchers' queue the ticket waits in, or None when no person is needed."""
    if d.following is not None:
        return None
    if d.pending_transfer is not None:
        return "disputed"
    if d.state is DispatchState.AWAITING_DISPATCH:
        return "unrouted"
    if d.state is DispatchState.AWAITING_PLATFORM_DECISION:
        # A second "not ours" is a jurisdiction dispute (the Fuyang case): 统筹协调 needed.
        return "disputed" if d.bounce_backs >= 2 else "bounced_back"
    if d.state is DispatchState.REPLIED:
        return "awaiting_review"
    return None


def event_time(event: Any) -> datetime:
    """The business time of a dispatch event (its `at`), else when it was recorded."""
    return getattr(event, "at", None) or getattr(event, "opened_at", None) or event.timestamp


def ticket_row(d: TicketDispatch, updated_at: datetime) -> dict[str, Any]:
    c = d.classification or {}
    q = d.queued or {}
    req = d.request or {}
    place = req.get("place") or {}
    f = d.following or {}
    queue = queue_of(d)
    return {
        "dispatch_id": d.id, "ticket_id": d.ticket_id, "ticket_code": d.ticket_code,
        "state": d.state.value, "owner": d.owner, "queue": queue,
        "queue_reason": d.awaiting_reason, "suggested_unit": q.get("suggested_unit"),
        "confidence": q.get("confidence", c.get("confidence")),
        "category": c.get("category"), "subcategory": c.get("subcategory"),
        "request_type": c.get("request_type"), "urgency": c.get("urgency"),
        "classified_by": c.get("source"), "channel": req.get("channel"),
        "title_masked": req.get("title_masked"), "text_masked": req.get("text_masked"),
        "address_masked": place.get("address_masked"), "county": place.get("county"),
        "subdistrict": place.get("subdistrict"), "assignee": d.assignee,
        "lead_unit": d.lead_unit, "co_units": list(d.co_units),
        "assignment_no": d.assignment_no, "case_id": f.get("case_id"),
        "primary_ticket_id": f.get("primary_ticket_id"), "primary_code": f.get("primary_code"),
        "reply_masked": d.reply_text, "reply_outcome": d.reply_outcome,
        "bounce_backs": d.bounce_backs, "last_bounced_by": d.last_bounced_by,
        "reopen_count": d.reopen_count,
        "pending_transfer": _jsonable(d.pending_transfer), "updated_at": updated_at,
        "version": d.version,
        # the queues' order (= updated_at while queued); NULL out of a queue, so that the
        # queue index holds no column an ordinary save changes (its updates stay HOT)
        "queued_at": updated_at if queue is not None else None,
    }


def _jsonable(v: dict[str, Any] | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {k: (x.isoformat() if isinstance(x, datetime) else x) for k, x in v.items()}


def _holder_status(d: TicketDispatch) -> str | None:
    if d.state in HELD_BY_UNIT:
        return d.state.value
    if d.state in (DispatchState.REPLY_ACCEPTED, DispatchState.CLOSED) and d.assignee:
        return d.state.value
    return None


def holders(d: TicketDispatch) -> list[str]:
    """The units whose assignment rows a save of `d` in this state writes (`unit_rows`): the
    holder and the co-handling units; so each of them has a row once `d` is committed."""
    if _holder_status(d) is None or d.assignee is None or d.assigned_at is None:
        return []
    return [d.assignee, *d.co_units]


def unit_rows(d: TicketDispatch, updated_at: datetime) -> list[dict[str, Any]]:
    status = _holder_status(d)
    if status is None or d.assignee is None or d.assigned_at is None:
        return []
    base = {"dispatch_id": d.id, "ticket_id": d.ticket_id, "ticket_code": d.ticket_code,
            "assignment_no": d.assignment_no, "assigned_at": d.assigned_at,
            "updated_at": updated_at}
    may_bounce = d.assignee not in d.no_bounce_units
    rows = [{**base, "unit": d.assignee, "role": "lead", "status": status,
             "sign_for_due_at": d.sign_for_deadline,
             "bounce_back_due_at": d.bounce_back_deadline if may_bounce else None}]
    closed = d.state in (DispatchState.REPLY_ACCEPTED, DispatchState.CLOSED)
    for unit in d.co_units:
        rows.append({**base, "unit": unit, "role": "co_handling",
                     "status": "closed" if closed else "co_handling",
                     "sign_for_due_at": None, "bounce_back_due_at": None})
    return rows


def _released(event_name: str, e: Any) -> dict[str, Any] | None:
    if event_name == "BouncedBack":
        return {"unit": e.unit, "status": "bounced_back"}
    if event_name == "Transferred" and e.from_unit:
        return {"unit": e.from_unit, "status": "transferred"}
    return None


def change_for(d: TicketDispatch, pending: list[Any]) -> ReadModelChange:
    """The read-model change of one save of `d` (its pending events, its state after them)."""
    names = [type(e).__name__ for e in pending]
    updated_at = event_time(pending[-1]) if pending else d.modified_on
    release = None
    if _HAND_OVERS.intersection(names):
        release = "reopened" if "Reopened" in names else (
            "withdrawn" if "MergedIntoCase" in names else "reassigned")
    statuses = [s for s in (_released(n, e) for n, e in zip(names, pending, strict=True)) if s]
    labels = []
    req = d.request or {}
    for n, e in zip(names, pending, strict=True):
        if n == "Classified" and e.source == "dispatcher":
            labels.append({
                "text_masked": " ".join(x for x in (req.get("title_masked"),
                                                    req.get("text_masked")) if x),
                "address_masked": (req.get("place") or {}).get("address_masked") or "",
                "category": e.category, "subcategory": e.subcategory,
                "request_type": e.request_type, "urgency": e.urgency, "by": e.by,
                "at": updated_at})
    routed = []
    for n, e in zip(names, pending, strict=True):
        unit = _chosen_by_a_person(n, e)
        if unit:
            routed.append({
                "text_masked": " ".join(x for x in (req.get("title_masked"),
                                                    req.get("text_masked")) if x),
                "address_masked": (req.get("place") or {}).get("address_masked") or "",
                "unit": unit, "suggested": (d.classification or {}).get("subcategory") or "",
                "by": e.by, "at": updated_at})
    return ReadModelChange(ticket=ticket_row(d, updated_at), release_open_as=release,
                           unit_statuses=statuses, unit_rows=unit_rows(d, updated_at),
                           labels=labels, routing_labels=routed)


_NOT_A_PERSON = frozenset({"router", "reopen", "auto", "system"})


def _chosen_by_a_person(event_name: str, e: Any) -> str | None:
    """The unit a dispatcher chose in this event, or None (the router's or a unit's own act)."""
    if getattr(e, "by", None) in _NOT_A_PERSON:
        return None
    if event_name == "Assigned":
        return str(e.unit)
    if event_name == "Transferred":
        return str(e.to_unit)
    if event_name == "Coordinated":
        return str(e.lead_unit)
    return None
