"""Build a simulated period as a deterministic plan: same arguments → identical plan."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from tools.simulator.behaviour import UNIT_PROFILES, handle
from tools.simulator.city import build_city
from tools.simulator.episodes import duplicate_burst, jurisdiction_dispute, property_fee_run
from tools.simulator.model import SimAction, SimPlan
from tools.simulator.rhythm import arrival_times, daily_count
from tools.simulator.stream import StreamContext, Submitted

DEFAULT_START = date(2025, 3, 3)  # a Monday
DEMO_PER_DAY = 300
FULL_SCALE_PER_DAY = 3000


def build_plan(*, seed: int = 7, days: int = 30, per_day: int = DEMO_PER_DAY, start: date = DEFAULT_START,
               episodes: bool = True) -> SimPlan:
    """The city's requests for ``days`` days from ``start`` (about ``per_day`` a day on average),
    every action that follows them, and the ground truth. Pure: no I/O, no global random."""
    if days < 1 or per_day < 0:
        raise ValueError(f"days must be >= 1 and per_day >= 0, got days={days}, per_day={per_day}")
    rng = random.Random(seed)
    city = build_city(rng)
    ctx = StreamContext(rng, city, seed)
    submitted: list[Submitted] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for at in arrival_times(rng, day, daily_count(rng, day, per_day)):
            item = ctx.submit(at)
            handle(rng, item.line, item.truth, item.citizen)
            submitted.append(item)
    planted = []
    if episodes:
        for plant in (property_fee_run, jurisdiction_dispute, duplicate_burst):
            episode, items = plant(ctx, start, days)
            planted.append(episode)
            submitted += items
    actions: list[SimAction] = [a for item in submitted for a in item.line.actions]
    actions.sort(key=SimAction.sort_key)
    truths = {item.truth.ticket: item.truth for item in sorted(submitted, key=lambda s: (s.truth.submitted_at, s.truth.ticket))}
    return SimPlan(seed, datetime.combine(start, time(0)), days, per_day, actions, truths, planted,
                   dict(UNIT_PROFILES), city.unit_names())
