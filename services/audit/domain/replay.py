"""A ticket's state at any past moment, folded from its ordered history.

The fold is a table from event type to a :class:`FoldRule` (data, not code): which status the
event moves the ticket to, which payload fields it copies into the state, which it clears, and
whether it is something the citizen was told. A new event type is one more row; an event type
the table does not know passes through and is only counted, so replay of an old ledger never
breaks when services add events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

HistoryEvent = tuple[str, datetime, Mapping[str, Any]]  # (event_type, occurred_at, payload)


class ReplayError(ValueError):
    """The history cannot be replayed (e.g. events out of time order)."""


@dataclass(frozen=True, slots=True)
class CitizenMessage:
    """Something the citizen was told, and when."""

    told_at: datetime
    event_type: str
    text: str


@dataclass(frozen=True, slots=True)
class TicketState:
    status: str = "unknown"
    ticket_code: str | None = None
    owner_unit: str | None = None
    deadline: datetime | None = None
    deadline_status: str | None = None  # running / met / missed
    rating: str | None = None
    told: tuple[CitizenMessage, ...] = ()
    as_of: datetime | None = None
    events_applied: int = 0
    unknown_events: tuple[str, ...] = ()
    status_before_merge: str | None = None  # what taking it out of its case goes back to


@dataclass(frozen=True)
class FoldRule:
    status: str | None = None
    # state field -> payload keys tried in order (services' names differ; the first present wins)
    take: Mapping[str, Sequence[str]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    clear: Sequence[str] = ()
    tell: Sequence[str] = ()  # payload keys holding text the citizen received
    # payload values that make the event leave the state alone (e.g. a co-handling unit's
    # assignment does not change who owns the ticket)
    ignore_if: Mapping[str, Any] = field(default_factory=dict)
    # payload keys whose presence gives another status (an assignment withdrawn because the
    # ticket joined a case leaves it merged)
    status_when: Mapping[str, str | None] = field(default_factory=dict)  # None: unchanged
    # joining a case remembers the status; leaving it goes back to that status (a closed
    # ticket taken out of a case is closed again), else to `status`
    remember_status: bool = False
    restore_status: bool = False


_UNIT = ("unit", "unit_code", "lead_unit", "owner_unit")
_DUE = {"deadline": ("due_at", "deadline")}

# A unit's reply goes to the platform first (it may be reviewed and sent back); what the citizen
# was actually told is feedback's CitizenNotified, and intake's rejection reason.
FOLD_RULES: Mapping[str, FoldRule] = {
    "TicketSubmitted": FoldRule(status="submitted", take={"ticket_code": ("ticket_code", "code")}),
    "TicketAccepted": FoldRule(status="accepted", take={"ticket_code": ("ticket_code",)}),
    "TicketRejected": FoldRule(status="rejected", tell=("reason_text", "reason")),
    "TicketQueuedForDispatcher": FoldRule(status="queued_for_dispatcher"),
    "TicketAssigned": FoldRule(
        status="assigned", take={"owner_unit": _UNIT}, ignore_if={"role": "co_handling"}
    ),
    "AssignmentSignedFor": FoldRule(status="signed_for", take={"owner_unit": _UNIT}),
    "AssignmentBouncedBack": FoldRule(status="bounced_back", clear=("owner_unit",)),
    "AssignmentTransferred": FoldRule(status="transferred", take={"owner_unit": ("to_unit",)}),
    "CoordinationDecided": FoldRule(status="coordinated", take={"owner_unit": ("lead_unit",)}),
    "AssignmentReplied": FoldRule(status="replied"),
    # told; answered only by a reply that asks for a rating (rating_due_at): a "needs
    # longer" notice (why, and by when) leaves the ticket in the unit's hands
    "CitizenNotified": FoldRule(status="in_progress", status_when={"rating_due_at": "answered"},
                                tell=("reply_masked",)),
    "DeadlineSet": FoldRule(take=_DUE, fixed={"deadline_status": "running"}),
    "DeadlineExtended": FoldRule(take=_DUE, fixed={"deadline_status": "running"}),
    "DeadlineRecomputed": FoldRule(take=_DUE),
    "ClockResumed": FoldRule(take=_DUE, fixed={"deadline_status": "running"}),
    "ClockPaused": FoldRule(fixed={"deadline_status": "paused"}),
    "DeadlineMet": FoldRule(fixed={"deadline_status": "met"}),
    "DeadlineMissed": FoldRule(fixed={"deadline_status": "missed"}),
    "TicketRated": FoldRule(status="rated", take={"rating": ("rating", "score", "grade")}),
    "TicketMarkedUnrated": FoldRule(status="unrated", fixed={"rating": "unrated"}),
    "TicketReopened": FoldRule(status="reopened", clear=("rating",)),
    "TicketClosed": FoldRule(status="closed", take={"rating": ("rating",)}),
    "CitizenIdentityErased": FoldRule(),  # the ticket's course does not change
    # the notifier: whether the answer reached the citizen's phone or WeChat (history only)
    "NoticeDelivered": FoldRule(),
    "NoticeDeliveryFailed": FoldRule(),
    # intake: answered on the phone from the knowledge base (feedback's CitizenNotified follows
    # and is what the citizen was told), joined to a case and taken out of it again
    "TicketAnsweredOnSpot": FoldRule(status="answered_on_spot"),
    "TicketMergedIntoCase": FoldRule(status="merged", remember_status=True),
    # taken out again: as it was before (an open one is then routed again on its own)
    "TicketUnmergedFromCase": FoldRule(status="accepted", restore_status=True),
    # dispatch: a reply sent back by the platform, the platform's close, a withdrawn assignment
    # (accepted: the state stays; accepted as interim, needs longer: the unit works on)
    "ReplyReviewed": FoldRule(status="reply_returned",
                              status_when={"interim": "in_progress", "accepted": None}),
    "DispatchClosed": FoldRule(status="dispatch_closed"),
    # a merge dispatch refused (the unit had replied): intake's TicketUnmergedFromCase, which
    # follows, takes the ticket out of the case again; this one is history only
    "CaseMergeRefused": FoldRule(),
    # a merge dispatch took: intake's TicketMergedIntoCase made the ticket merged already (and
    # AssignmentWithdrawn, before it, when a unit held it); history only
    "CaseMergeTaken": FoldRule(),
    "AssignmentWithdrawn": FoldRule(status="withdrawn", clear=("owner_unit",),
                                    status_when={"case_id": "merged"}),
    # sla: the clock's other ends and moves (a sign-for deadline is not the ticket's deadline)
    "ClockStopped": FoldRule(fixed={"deadline_status": "stopped"}),
    "DeadlineRepliedLate": FoldRule(fixed={"deadline_status": "replied_late"}),
    "DeadlineReopened": FoldRule(take=_DUE, fixed={"deadline_status": "running"}),
    "DeadlineCoordinated": FoldRule(take=_DUE, fixed={"deadline_status": "running"}),
    # the history records them; the ticket's status, owner and deadline stay as they were
    **{name: FoldRule() for name in (
        "AssignmentProgressNoted", "ExtensionRequested", "TransferRequested", "TransferRejected",
        "TicketReclassified",
        "RemarkAdded", "PushedToSupervision", "CallbackRecorded", "DeadlineWarned",
        "ExtensionRefused", "SignForDeadlineSet", "SupervisionOrderIssued",
        "SupervisionOrderAnswered", "SupervisionOrderEscalated", "SupervisionOrderClosed")},
}


def _coerce(name: str, value: Any) -> Any:
    if name == "deadline" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if name in ("owner_unit", "ticket_code", "rating") and value is not None:
        return str(value)
    return value


def fold(
    state: TicketState,
    event: HistoryEvent,
    rules: Mapping[str, FoldRule] = FOLD_RULES,
) -> TicketState:
    """The state after one more event."""
    event_type, occurred_at, payload = event
    if state.as_of is not None and occurred_at < state.as_of:
        raise ReplayError(f"{event_type} at {occurred_at} comes after an event at {state.as_of}")
    base = replace(state, as_of=occurred_at, events_applied=state.events_applied + 1)
    rule = rules.get(event_type)
    if rule is None:
        return replace(base, unknown_events=(*state.unknown_events, event_type))
    if any(payload.get(k) == v for k, v in rule.ignore_if.items()):
        return base
    changes: dict[str, Any] = dict(rule.fixed)
    changes.update({name: None for name in rule.clear})
    for name, keys in rule.take.items():
        for key in keys:
            if payload.get(key) is not None:
                changes[name] = _coerce(name, payload[key])
                break
    status = next((v for k, v in rule.status_when.items() if payload.get(k)), rule.status)
    if rule.remember_status:
        changes["status_before_merge"] = state.status
    if rule.restore_status:
        status = state.status_before_merge or status
    if status is not None:
        changes["status"] = status
    told = [payload[k] for k in rule.tell if payload.get(k)]
    if told:
        changes["told"] = (*state.told, CitizenMessage(occurred_at, event_type, str(told[0])))
    return replace(base, **changes)


def replay(
    history: Iterable[HistoryEvent], rules: Mapping[str, FoldRule] = FOLD_RULES
) -> list[TicketState]:
    """The state after each event of the history, in order."""
    states: list[TicketState] = []
    state = TicketState()
    for event in history:
        state = fold(state, event, rules)
        states.append(state)
    return states


def state_at(
    history: Iterable[HistoryEvent],
    moment: datetime,
    rules: Mapping[str, FoldRule] = FOLD_RULES,
) -> TicketState:
    """The ticket as it stood at ``moment``: every event that occurred at or before it."""
    state = TicketState()
    for event in history:
        if event[1] > moment:
            break
        state = fold(state, event, rules)
    return state
