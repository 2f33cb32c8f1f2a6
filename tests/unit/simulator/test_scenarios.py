"""Plans that drive time-limited actions keep the platform's rules whatever day they start on.

The e2e tests build their plans from today's date; these sweeps build the same plans for every
start day over months (weekends, 国庆, 元旦, 春节 2027 included), so a correct platform can never
be made to look wrong by the day the suite runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tools.simulator.drive.run import RunOptions, make_plan
from tools.simulator.model import BOUNCE_BACK
from tools.simulator.plan import build_plan
from tools.simulator.scenarios import bounce_window_breaches, plant_reopens

SWEEP_FROM = date(2026, 9, 20)
SWEEP_DAYS = 170  # to 2027-03-08: past 春节 2027 (Feb 6-14)


def reopen_plan(start: date):
    # The e2e reopen test's plan (tests/e2e/test_simulator_reopen.py), for another day.
    return make_plan(RunOptions(days=1, per_day=14, seed=41, start=start, episodes=False))


@pytest.mark.parametrize("offset", range(0, SWEEP_DAYS, 1))
def test_the_reopen_plan_holds_on_every_start_day(offset: int) -> None:
    start = SWEEP_FROM + timedelta(days=offset)
    plan = reopen_plan(start)
    chosen = plant_reopens(plan, 4)
    assert len(chosen) == 4, start
    assert bounce_window_breaches(plan) == [], start
    # the planted stories end well within the e2e test's lead (it starts 35 days back)
    last = max(a.at for a in plan.actions if a.ticket in chosen)
    assert last.date() - start < timedelta(days=35), (start, last)


@pytest.mark.parametrize("offset", range(0, SWEEP_DAYS, 1))
def test_the_drive_plan_holds_on_every_start_day(offset: int) -> None:
    # tests/e2e/test_simulator_drive.py's plan (episodes included), for another day
    start = SWEEP_FROM + timedelta(days=offset)
    plan = make_plan(RunOptions(days=1, per_day=30, seed=21, start=start))
    assert bounce_window_breaches(plan) == [], start


@pytest.mark.parametrize("start", [SWEEP_FROM + timedelta(days=d) for d in range(0, SWEEP_DAYS, 7)])
def test_a_month_with_episodes_bounces_only_within_the_window(start: date) -> None:
    plan = build_plan(seed=7, days=30, per_day=10, start=start, episodes=True)
    assert any(a.kind == BOUNCE_BACK for a in plan.actions)  # the sweep checks something
    assert bounce_window_breaches(plan) == [], start


def test_the_breach_check_finds_a_late_bounce() -> None:
    plan = reopen_plan(date(2026, 12, 4))  # a Friday
    bounce = next(a for a in build_plan(seed=7, days=30, per_day=10, start=date(2026, 11, 1),
                                         episodes=True).actions if a.kind == BOUNCE_BACK)
    ticket = next(iter(plan.truths))
    late = type(bounce)(plan.truths[ticket].submitted_at + timedelta(hours=30), ticket, 99,
                        BOUNCE_BACK, bounce.actor, bounce.payload)
    plan.actions.append(late)
    assert bounce_window_breaches(plan) == [late]
