"""Pure deadline arithmetic shared by the live clock and its recomputation.

A clock's reply deadline is a fold: start from the acceptance day, count the base working
days, then apply each adjustment (pause, extension, coordination) in the order it happened.
The live clock applies one step per command; ``reckon`` applies them all again on a newer
calendar. Both use the same step functions, so with an unchanged calendar they agree.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from services.sla.domain.calendar import SHANGHAI, WorkingCalendar, local_day
from services.sla.domain.policy import SlaPolicy, end_of_day

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Pause:
    paused_at: dt.datetime
    resumed_at: dt.datetime


@dataclass(frozen=True)
class Extension:
    working_days: int


@dataclass(frozen=True)
class Coordination:
    decided_at: dt.datetime
    min_working_days: int


Adjustment = Pause | Extension | Coordination


@dataclass(frozen=True)
class DueDay:
    day: dt.date
    provisional: bool

    @property
    def due_at(self) -> dt.datetime:
        return end_of_day(self.day)


def paused_working_days(
    calendar: WorkingCalendar, paused_at: dt.datetime, resumed_at: dt.datetime
) -> tuple[int, bool]:
    """The part of a pause that fell on working days, rounded up to whole working days.

    Rounding up is in the unit's favour: a pause of an hour on a working day gives back a day,
    which is the only granularity a day-based deadline has. A pause on a weekend gives nothing.
    """
    start, end = paused_at.astimezone(SHANGHAI), resumed_at.astimezone(SHANGHAI)
    seconds, provisional, day = 0.0, False, start.date()
    while day <= end.date():
        verdict = calendar.is_working_day(day)
        provisional = provisional or verdict.provisional
        if verdict.working:
            day_start = dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI)
            day_end = day_start + dt.timedelta(days=1)
            overlap = min(end, day_end) - max(start, day_start)
            seconds += max(overlap.total_seconds(), 0.0)
        day += dt.timedelta(days=1)
    return math.ceil(seconds / DAY_SECONDS), provisional


def start_step(calendar: WorkingCalendar, accepted_at: dt.datetime, working_days: int) -> DueDay:
    reckoned = calendar.add_working_days(local_day(accepted_at), working_days)
    return DueDay(reckoned.value, reckoned.provisional)


def apply_step(calendar: WorkingCalendar, due: DueDay, adjustment: Adjustment) -> DueDay:
    """One adjustment; never moves the due day earlier."""
    if isinstance(adjustment, Pause):
        shift, prov = paused_working_days(calendar, adjustment.paused_at, adjustment.resumed_at)
        moved = calendar.add_working_days(due.day, shift)
        return DueDay(moved.value, due.provisional or prov or moved.provisional)
    if isinstance(adjustment, Extension):
        moved = calendar.add_working_days(due.day, adjustment.working_days)
        return DueDay(moved.value, due.provisional or moved.provisional)
    floor = calendar.add_working_days(local_day(adjustment.decided_at), adjustment.min_working_days)
    if floor.value > due.day:
        return DueDay(floor.value, due.provisional or floor.provisional)
    return due


def reckon(
    calendar: WorkingCalendar,
    accepted_at: dt.datetime,
    working_days: int,
    adjustments: list[Adjustment],
) -> DueDay:
    due = start_step(calendar, accepted_at, working_days)
    for adjustment in adjustments:
        due = apply_step(calendar, due, adjustment)
    return due


def warning_instants(
    calendar: WorkingCalendar,
    policy: SlaPolicy,
    accepted_at: dt.datetime,
    due_day: dt.date,
) -> list[tuple[str, dt.datetime]]:
    """When each configured warning fires: 00:00 Asia/Shanghai of the working day it names.

    With T working days in the window (acceptance day excluded, due day included), a
    ``used_fraction`` f warning fires at the start of working day ceil(T*f)+1, and a
    ``working_days_left`` k warning at the start of working day T-k+1. A warning that would
    fire on the first working day or later than the last is skipped (it would say nothing).
    """
    accept_day = local_day(accepted_at)
    total = calendar.working_days_between(accept_day, due_day).value
    instants = []
    for point in policy.warnings:
        if point.used_fraction is not None:
            index = math.ceil(total * point.used_fraction) + 1
        elif point.working_days_left is not None:
            index = total - point.working_days_left + 1
        else:
            continue
        if 2 <= index <= total:
            day = calendar.add_working_days(accept_day, index).value
            instants.append((point.kind, dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI)))
    return instants
