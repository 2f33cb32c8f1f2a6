"""What a clock owes the world at a given moment: warnings and overdue, each exactly once.

``due_events`` is pure: it reads the clock's state and ``now`` and lists what has fallen due
and not yet been recorded, each at its own scheduled instant (not at ``now``). ``fire_due``
records them on the clock. Because each recorded item is remembered by key, calling either
again returns nothing new; and because each carries its scheduled instant, a service that was
down fires the missed items on restart with the same times a live run would have used.

The application must call ``fire_due(clock, t)`` before applying any command dated ``t``
(and on its timer ticks): then replaying a month gives exactly the events living through it did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.sla.domain.clock import OVERDUE, PAUSED, RUNNING, SETTLED, TicketClock

OVERDUE_KIND = "overdue"
EXPLANATION_OVERDUE = "explanation_overdue"
SIGN_FOR_OVERDUE = "sign_for_overdue"
ONE_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True, order=True)
class DueEvent:
    """One warning or overdue that has fallen due. ``at`` is its scheduled instant."""

    at: dt.datetime
    kind: str
    key: str
    due_at: dt.datetime


def due_events(clock: TicketClock, now: dt.datetime) -> list[DueEvent]:
    """Warnings and overdue due at ``now`` and not yet recorded, in time order."""
    if clock.status in SETTLED:
        return []
    found: list[DueEvent] = []
    if clock.status == RUNNING:
        generation = clock.extensions_approved  # an approved extension re-arms the warnings
        for kind, instant in clock.warn_at.items():
            if instant > clock.due_at:
                continue  # a warning after the deadline would be noise: overdue says it all
            found.append(DueEvent(instant, kind, f"{kind}#{generation}", clock.due_at))
        found.append(_overdue(clock.due_at))
    if clock.status in (RUNNING, PAUSED, OVERDUE):
        if clock.explanation_due_at is not None and not clock.explained:
            found.append(
                DueEvent(
                    clock.explanation_due_at + ONE_MICROSECOND, EXPLANATION_OVERDUE,
                    EXPLANATION_OVERDUE, clock.explanation_due_at,
                )
            )
        if clock.sign_for_due_at is not None and not clock.signed_for:
            key = f"{SIGN_FOR_OVERDUE}#{clock.assignment_number}"
            found.append(
                DueEvent(
                    clock.sign_for_due_at + ONE_MICROSECOND, SIGN_FOR_OVERDUE, key,
                    clock.sign_for_due_at,
                )
            )
    fired = set(clock.fired)
    return sorted(e for e in found if e.at <= now and e.key not in fired)


def first_due(clock: TicketClock, now: dt.datetime) -> dt.datetime | None:
    """``due_events(clock, now)[0].at`` (None when nothing is due), without making, keying
    and sorting every item: the timer index's ``next_due_at`` of every saved clock and each
    round of ``fire_ticket`` ask only this (5 % of the consumer's CPU went to due_events)."""
    status = clock.status
    if status in SETTLED:
        return None
    first: dt.datetime | None = None
    fired = clock.fired
    if status == RUNNING:
        due_at = clock.due_at
        generation = clock.extensions_approved
        for kind, instant in clock.warn_at.items():
            if (instant <= due_at and instant <= now and (first is None or instant < first)
                    and f"{kind}#{generation}" not in fired):
                first = instant
        instant = due_at + ONE_MICROSECOND
        if (instant <= now and (first is None or instant < first)
                and f"overdue@{due_at.isoformat()}" not in fired):
            first = instant
    if status in (RUNNING, PAUSED, OVERDUE):
        if clock.explanation_due_at is not None and not clock.explained:
            instant = clock.explanation_due_at + ONE_MICROSECOND
            if (instant <= now and (first is None or instant < first)
                    and EXPLANATION_OVERDUE not in fired):
                first = instant
        if clock.sign_for_due_at is not None and not clock.signed_for:
            instant = clock.sign_for_due_at + ONE_MICROSECOND
            if (instant <= now and (first is None or instant < first)
                    and f"{SIGN_FOR_OVERDUE}#{clock.assignment_number}" not in fired):
                first = instant
    return first


def _overdue(due_at: dt.datetime) -> DueEvent:
    return DueEvent(due_at + ONE_MICROSECOND, OVERDUE_KIND, f"overdue@{due_at.isoformat()}", due_at)


def fire_due(clock: TicketClock, now: dt.datetime) -> list[DueEvent]:
    """Records on the clock every item ``due_events`` lists; returns them."""
    fired = []
    for item in due_events(clock, now):
        # Normally item.at is after the clock's last event; if the application skipped a
        # fire_due call the event is dated at its last event, so time never runs backwards.
        at = max(item.at, clock.modified_on)
        if item.kind == OVERDUE_KIND:
            clock._missed(due_at=item.due_at, timestamp=at, unit=clock.unit)
        else:
            clock._warned(
                kind=item.kind, key=item.key, due_at=item.due_at, timestamp=at, unit=clock.unit
            )
        fired.append(item)
    return fired
