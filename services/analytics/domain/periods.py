"""Calendar periods in the city's own time zone.

Every KPI bucket is named by a period of the clock in Asia/Shanghai, not UTC: a ticket
received at 23:30 UTC on 31 March counts in April in Fuyang, and the published monthly
figures must agree with what a clerk in Fuyang would count by hand.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

CITY_TZ_NAME = "Asia/Shanghai"


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class NaiveTimeError(ValueError):
    """A fact came with a datetime that has no time zone, so its local day is unknowable."""

    def __init__(self, at: datetime) -> None:
        super().__init__(
            f"time {at.isoformat()} has no time zone; lifecycle facts must carry aware "
            f"datetimes so they can be placed in {CITY_TZ_NAME} days"
        )


@lru_cache(maxsize=1)
def city_tz() -> ZoneInfo:
    return ZoneInfo(CITY_TZ_NAME)


def local_date(at: datetime) -> date:
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveTimeError(at)
    return at.astimezone(city_tz()).date()


def period_of(at: datetime, kind: PeriodKind) -> str:
    """Name of the period containing `at`: '2024-03-05', '2024-W10' (ISO week) or '2024-03'."""
    return period_of_date(local_date(at), kind)


def period_of_date(day: date, kind: PeriodKind) -> str:
    if kind is PeriodKind.DAY:
        return day.isoformat()
    if kind is PeriodKind.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def periods_of(at: datetime) -> dict[str, str]:
    """All three period names of one instant, keyed by PeriodKind value."""
    return dict(_periods_of_day(local_date(at)))


@lru_cache(maxsize=1 << 12)
def _periods_of_day(day: date) -> tuple[tuple[str, str], ...]:
    return tuple((kind.value, period_of_date(day, kind)) for kind in PeriodKind)


def previous_month(month: str) -> str:
    year, mon = (int(part) for part in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a month as aware datetimes in the city's time zone."""
    year, mon = (int(part) for part in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=city_tz())
    nxt = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=city_tz())
    return start, nxt


def minutes(delta: timedelta) -> int:
    """Whole minutes, rounded half up; durations are stored at minute resolution."""
    seconds = delta.total_seconds()
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {delta}")
    return int(seconds // 60 + (1 if seconds % 60 >= 30 else 0))


def period_bounds(kind: str, period: str) -> tuple[datetime, datetime]:
    """[start, end) of a day ('2024-03-05'), ISO week ('2024-W10') or month ('2024-03') as
    aware datetimes in the city's time zone."""
    if kind == PeriodKind.MONTH:
        return month_bounds(period)
    if kind == PeriodKind.WEEK:
        year, week = period.split("-W")
        first = date.fromisocalendar(int(year), int(week), 1)
        days = 7
    else:
        first, days = date.fromisoformat(period), 1
    start = datetime(first.year, first.month, first.day, tzinfo=city_tz())
    end = first + timedelta(days=days)
    return start, datetime(end.year, end.month, end.day, tzinfo=city_tz())


def first_kept(day: date, days: int, weeks: int, months: int) -> dict[str, str]:
    """The oldest day, week and month of the last `days` days, `weeks` ISO weeks and `months`
    months up to `day` (these included), by kind. Period names of one kind sort as their
    periods do (ISO week-years too), so a period is kept when its name is not below."""
    monday = day - timedelta(days=day.weekday())
    index = day.year * 12 + day.month - 1 - (months - 1)
    return {PeriodKind.DAY.value: (day - timedelta(days=days - 1)).isoformat(),
            PeriodKind.WEEK.value: period_of_date(monday - timedelta(weeks=weeks - 1),
                                                  PeriodKind.WEEK),
            PeriodKind.MONTH.value: f"{index // 12:04d}-{index % 12 + 1:02d}"}
