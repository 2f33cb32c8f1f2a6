"""When the platform routes a ticket to another unit than the plan expected, the unit that
actually holds it acts, with ITS behaviour profile: re-plan the ticket's tail for that unit."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime

from tools.simulator.behaviour import Timeline, handle
from tools.simulator.model import SimAction, TicketTruth
from tools.simulator.people import ANONYMOUS, Citizen

# Re-planned actions number from here, so they never collide with the plan's own steps (the
# plan's reopen rounds use 200+, 300+); a re-planned step keeps its round: 1000 + plan step.
REPLANNED_STEP = 1000


def replan_tail(truth: TicketTruth, actual_unit: str, *, seed: int, after: datetime) -> list[SimAction]:
    """The ticket's actions from sign-for on, as ``actual_unit`` (a simulator unit code, or a
    registry code the simulator does not model: steady) would do them. Deterministic per seed."""
    rng = random.Random(f"{seed}:{truth.ticket}:{actual_unit}")
    as_routed = replace(truth, handling_unit=actual_unit, bounced=False, extension=False,
                        late=False, rating=None)
    citizen = Citizen(truth.citizen, truth.citizen_kind,
                      phone=None if truth.citizen_kind == ANONYMOUS else "on file")
    line = Timeline(truth.ticket)
    line.last = truth.submitted_at
    handle(rng, line, as_routed, citizen)
    return [replace(a, at=max(a.at, after), step=REPLANNED_STEP + a.step) for a in line.actions]
