"""The event days of the bench's runs, one after another.

The platform runs on the event clock in the bench: every submission states its time, and each
service's watermark is the latest event time it has seen. A run whose plan started on the same
day as an earlier run's went back in time: intake's projector no longer held that stretch in
memory (one index query per acceptance instead), timers and windows met tickets from before
their watermark. So the bench measured the order of its own runs (session 12: the projector's
CPU a ticket 1.2 -> 2.3 ms over three runs, docs/profiles/intake-cpu.md). Each run takes its
days here instead: a plan starts on the Monday after the last day any earlier run of this
process stated (a Monday: the simulator's plans are shaped by the weekday).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tools.simulator import DEFAULT_START, build_plan
from tools.simulator.model import SimAction


class Days:
    def __init__(self, start: date = DEFAULT_START):
        self._next = start - timedelta(days=start.weekday())

    def take(self, days: int) -> date:
        """The first day of ``days`` days no earlier run has stated; later runs start after."""
        start = self._next
        end = start + timedelta(days=max(1, days))
        self._next = end + timedelta(days=(7 - end.weekday()) % 7)
        return start


# one timeline per process: one bench process drives one platform
DAYS = Days()


def submissions(count: int, seed: int, per_day: int,
                start: date | None = None) -> tuple[Any, list[SimAction]]:
    """A plan of about ``per_day`` requests a day and its first ``count`` submissions, stated
    from ``start`` on (None: on days no earlier run of this process stated, `DAYS`)."""
    days = max(1, count // per_day + 1)
    while True:
        first = start if start is not None else DAYS.take(days)
        plan = build_plan(seed=seed, days=days, per_day=per_day, start=first, episodes=False)
        submits = [a for a in plan.actions if a.kind == "submit"][:count]
        if len(submits) == count or start is not None:
            return plan, submits
        days += 1  # a quiet stretch (weekends, holidays) gave fewer: more days, later ones
