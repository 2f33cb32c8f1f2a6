"""When requests arrive and when units work, in simulated event time.

Arrivals peak 9-11 and 14-17, thin out at night, and drop at weekends and statutory holidays.
Units act in office hours on China's official working days (调休 included, from chinese-calendar),
so a Friday-night report is signed for on Monday morning, as in real life.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from functools import lru_cache

# Relative arrival intensity per hour of the day (0-23).
HOUR_WEIGHTS = (0.15, 0.08, 0.05, 0.04, 0.05, 0.10, 0.30, 0.70, 1.30, 2.00, 2.20, 1.90,
                1.00, 1.10, 1.80, 2.00, 1.90, 1.40, 0.90, 0.80, 0.80, 0.70, 0.50, 0.30)
# Monday .. Sunday.
WEEKDAY_FACTORS = (1.15, 1.10, 1.05, 1.05, 1.00, 0.65, 0.60)
HOLIDAY_FACTOR = 0.55
_WEEK_MEAN = sum(WEEKDAY_FACTORS) / 7

OFFICE_OPEN = time(8, 30)
OFFICE_CLOSE = time(17, 30)
OFFICE_HOURS = 9.0


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """China's official working day (holidays and make-up days); outside the calendar's years, Mon-Fri."""
    try:
        import chinese_calendar

        return bool(chinese_calendar.is_workday(day))
    except (NotImplementedError, ImportError):
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def is_holiday_weekday(day: date) -> bool:
    """A statutory holiday falling on Monday-Friday (weekends are already weighted down)."""
    return day.weekday() < 5 and not is_workday(day)


def day_factor(day: date) -> float:
    """Arrival volume of ``day`` relative to the mean day (a week averages 1.0)."""
    factor = WEEKDAY_FACTORS[day.weekday()] / _WEEK_MEAN
    return factor * HOLIDAY_FACTOR if is_holiday_weekday(day) else factor


def daily_count(rng: random.Random, day: date, per_day: int) -> int:
    return max(0, round(per_day * day_factor(day) * rng.uniform(0.93, 1.07)))


def arrival_times(rng: random.Random, day: date, count: int) -> list[datetime]:
    """``count`` arrival moments on ``day``, sorted, drawn from the hourly profile."""
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
    start = datetime.combine(day, time(0))
    moments = [start + timedelta(hours=h, seconds=rng.randrange(3600)) for h in hours]
    moments.sort()
    return moments


def next_office_moment(at: datetime) -> datetime:
    """``at`` itself if the office is open then, else the next opening time."""
    day = at.date()
    if is_workday(day) and OFFICE_OPEN <= at.time() < OFFICE_CLOSE:
        return at
    if is_workday(day) and at.time() < OFFICE_OPEN:
        return datetime.combine(day, OFFICE_OPEN)
    day += timedelta(days=1)
    while not is_workday(day):
        day += timedelta(days=1)
    return datetime.combine(day, OFFICE_OPEN)


def add_office_hours(at: datetime, hours: float) -> datetime:
    """Move forward by ``hours`` of office time (working days 8:30-17:30 only)."""
    moment = next_office_moment(at)
    remaining = timedelta(hours=hours)
    while True:
        close = datetime.combine(moment.date(), OFFICE_CLOSE)
        if moment + remaining <= close:
            return moment + remaining
        remaining -= close - moment
        moment = next_office_moment(close)


def add_working_days(at: datetime, days: float) -> datetime:
    """Move forward by ``days`` working days (a working day = one office day)."""
    return add_office_hours(at, days * OFFICE_HOURS)
