"""Stories planted on a plan for the end-to-end tests, and the platform rules a plan must keep.

A simulated plan asks the platform for time-limited things (a bounce-back within 24 hours of
the assignment); whatever day the plan starts on, a correct platform must accept every one of
them, so a plan that breaks a rule is a defect of the plan, found here without a platform.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tools.simulator.behaviour import BOUNCE_WITHIN, plan_reopened, round_of
from tools.simulator.model import BOUNCE_BACK, DECIDE, REPLY, SUBMIT, SimAction, SimPlan
from tools.simulator.people import ANONYMOUS


def plant_reopens(plan: SimPlan, count: int) -> list[str]:
    """Rewrite ``count`` tickets of ``plan`` as "dissatisfied, confirmed unresolved, reopened,
    handled again" and make every other ticket's callback record it resolved, so the tickets
    that reopen are exactly the planted ones. Returns the planted tickets (fewer than ``count``
    when the plan has too few candidates: the caller decides whether that is enough)."""
    by_ticket: dict[str, list[SimAction]] = {}
    for a in plan.actions:
        by_ticket.setdefault(a.ticket, []).append(a)
    chosen = [t for t, truth in plan.truths.items()
              if truth.citizen_kind != ANONYMOUS and not truth.bounced
              and any(a.kind == REPLY for a in by_ticket[t])][:count]
    for t, truth in plan.truths.items():
        if truth.reopens and t not in chosen:
            first = [a for a in by_ticket[t] if round_of(a.step) == 1]
            first[-1] = replace(first[-1], payload={**first[-1].payload, "resolved": True})
            by_ticket[t], truth.reopens = first, 0
    for t in chosen:
        by_ticket[t] = plan_reopened(plan.truths[t], by_ticket[t])
    plan.actions = sorted((a for acts in by_ticket.values() for a in acts),
                          key=SimAction.sort_key)
    return chosen


def bounce_window_breaches(plan: SimPlan, within: timedelta = BOUNCE_WITHIN) -> list[SimAction]:
    """Bounce-backs planned later than ``within`` after the assignment they answer (the
    submission, or the dispatcher's last decision)."""
    breaches: list[SimAction] = []
    assigned_at: dict[str, object] = {}
    for a in sorted(plan.actions, key=lambda a: (a.ticket, a.step)):
        if a.kind in (SUBMIT, DECIDE):
            assigned_at[a.ticket] = a.at
        elif a.kind == BOUNCE_BACK:
            since = assigned_at.get(a.ticket, plan.truths[a.ticket].submitted_at)
            if a.at - since > within:  # type: ignore[operator]
                breaches.append(a)
    return breaches
