"""``run``: drive a simulated period (by default the days up to today) through the platform.

Actions dated after the end (``until``, by default now) are not done: a ticket submitted on the
last afternoon is simply still open, as it would be in the real city at this moment.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tools.simulator.drive.driver import CHINA, DEFAULT_WAITS, Waits
from tools.simulator.drive.scheduler import Scheduler
from tools.simulator.drive.session import open_session
from tools.simulator.drive.settings import Endpoints
from tools.simulator.drive.tally import Progress, Tally
from tools.simulator.model import SimPlan
from tools.simulator.plan import build_plan


@dataclass(frozen=True)
class RunOptions:
    days: int = 3
    per_day: int = 100
    seed: int = 7
    start: date | None = None       # default: ``days`` days before today (Fuyang time)
    until: datetime | None = None   # default: now
    concurrency: int = 32
    max_lag_minutes: float = 30.0
    episodes: bool = True
    replan: bool = True
    waits: Waits = DEFAULT_WAITS
    progress: bool | None = None    # None: when stderr is a terminal


def default_start(days: int, today: date | None = None) -> date:
    """The simulated period is the ``days`` days before today, so a live stream continues it."""
    return (today or datetime.now(CHINA).date()) - timedelta(days=days)


def make_plan(options: RunOptions) -> SimPlan:
    start = options.start or default_start(options.days)
    return build_plan(seed=options.seed, days=options.days, per_day=options.per_day, start=start,
                      episodes=options.episodes)


async def drive(plan: SimPlan, endpoints: Endpoints, options: RunOptions) -> Tally:
    """Do the plan's actions up to ``options.until`` and return what happened."""
    until = (options.until or datetime.now(CHINA)).astimezone(CHINA).replace(tzinfo=None)
    actions = [a for a in plan.actions if a.at <= until]
    async with open_session(endpoints, unit_names=plan.unit_names, truths=plan.truths,
                            seed=plan.seed, waits=options.waits, replan=options.replan) as session:
        tally = session.tally
        tally.total = len(actions)
        tally.count("after_the_end_not_done", len(plan.actions) - len(actions))
        progress = Progress(tally, enabled=options.progress)
        scheduler = Scheduler(session.driver.act, concurrency=options.concurrency,
                              max_lag=timedelta(minutes=options.max_lag_minutes),
                              on_done=lambda action, error: _done(tally, error))
        session.driver.scheduler = scheduler
        session.driver.until = until
        scheduler.add(actions)
        ticker = asyncio.create_task(_tick(progress, scheduler))
        try:
            await scheduler.run()
        finally:
            ticker.cancel()
            progress.close(scheduler.position)
    return tally


def _done(tally: Tally, error: BaseException | None) -> None:
    tally.finished += 1
    if error is None:
        return
    if getattr(error, "expected", False):
        tally.count(f"ended:{error.kind}")  # type: ignore[attr-defined]
        return
    kind = getattr(error, "kind", None) or f"crash:{type(error).__name__}"
    tally.error(kind, getattr(error, "detail", "") or str(error))


async def _tick(progress: Progress, scheduler: Scheduler) -> None:
    while True:
        progress.update(scheduler.position)
        await asyncio.sleep(progress.every)
