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
from collections.abc import Iterator
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


def _owed(clock: TicketClock) -> Iterator[tuple[dt.datetime, str, str, dt.datetime]]:
    """Every warning and overdue the clock's state schedules, fired or not, due or not, as
    (instant, kind, key, deadline): the one place their rules live."""
    status = clock.status
    if status in SETTLED:
        return
    if status == RUNNING:
        generation = clock.extensions_approved  # an approved extension re-arms the warnings
        for kind, instant in clock.warn_at.items():
            if instant > clock.due_at:
                continue  # a warning after the deadline would be noise: overdue says it all
            yield instant, kind, f"{kind}#{generation}", clock.due_at
        yield (clock.due_at + ONE_MICROSECOND, OVERDUE_KIND, f"overdue@{clock.due_at.isoformat()}",
               clock.due_at)
    if status in (RUNNING, PAUSED, OVERDUE):
        if clock.explanation_due_at is not None and not clock.explained:
            yield (clock.explanation_due_at + ONE_MICROSECOND, EXPLANATION_OVERDUE,
                   EXPLANATION_OVERDUE, clock.explanation_due_at)
        if clock.sign_for_due_at is not None and not clock.signed_for:
            yield (clock.sign_for_due_at + ONE_MICROSECOND, SIGN_FOR_OVERDUE,
                   f"{SIGN_FOR_OVERDUE}#{clock.assignment_number}", clock.sign_for_due_at)


def due_events(clock: TicketClock, now: dt.datetime) -> list[DueEvent]:
    """Warnings and overdue due at ``now`` and not yet recorded, in time order."""
    fired = set(clock.fired)
    return sorted(DueEvent(*owed) for owed in _owed(clock) if owed[0] <= now and owed[2] not in fired)


def first_due(clock: TicketClock, now: dt.datetime) -> dt.datetime | None:
    """``due_events(clock, now)[0].at`` (None when nothing is due), without making and sorting
    the items: the timer index's ``next_due_at`` of every saved clock and each round of
    ``fire_ticket`` ask only this (5 % of the consumer's CPU went to due_events)."""
    fired = clock.fired
    return min((owed[0] for owed in _owed(clock) if owed[0] <= now and owed[2] not in fired),
               default=None)


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
