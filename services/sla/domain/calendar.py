"""China's official working-day calendar, as the SLA clocks count it.

Where a day's verdict comes from, first match wins:

1. a city override (the city's own day off or day on), then
2. an official schedule an operator loaded as data (``data/official/<year>.json``), then
   (a schedule marked ``provisional``, such as the statutory days of a year whose notice is not
   out yet, answers too, but its verdicts stay provisional), then
3. the ``chinese-calendar`` package (1.11.0 holds data for 2004-2026 inclusive and raises
   ``NotImplementedError`` outside them), then
4. a provisional rule: weekends off plus the fixed-date holidays (元旦 1/1, 劳动节 5/1,
   国庆 10/1-10/3). Verdicts from this rule carry ``provisional=True``, so a deadline that
   rests on a guess says so, and can be recomputed when the State Council's schedule arrives.

Loaded schedules win over the package because an operator loads one precisely when the package
is missing or wrong. The calendar never raises for a date outside its data: it answers
provisionally instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Fixed-date statutory holidays used only when no official data exists for the year. The lunar
# holidays (春节, 清明, 端午, 中秋) and the 调休 swaps cannot be guessed, hence "provisional".
PROVISIONAL_FIXED_HOLIDAYS: tuple[tuple[int, int, str], ...] = (
    (1, 1, "元旦"),
    (5, 1, "劳动节"),
    (10, 1, "国庆节"),
    (10, 2, "国庆节"),
    (10, 3, "国庆节"),
)


class CalendarError(Exception):
    """Base of the calendar's errors."""


class ScheduleInvalidError(CalendarError):
    """An official schedule loaded as data is inconsistent."""


@dataclass(frozen=True)
class DayVerdict:
    """Whether a calendar day is a working day, and on what authority."""

    day: dt.date
    working: bool
    provisional: bool
    reason: str


@dataclass(frozen=True)
class Reckoned:
    """A day (or count) computed from the calendar, provisional if any day it used was."""

    value: Any
    provisional: bool


@dataclass(frozen=True)
class OfficialSchedule:
    """One year's official holiday schedule, as the State Council publishes it each November."""

    year: int
    holidays: frozenset[dt.date]
    make_up_working_days: frozenset[dt.date]
    source: str
    # True for a schedule built before the State Council's notice (statutory days only): the
    # days it names are surely off, but the 调休 swaps are unknown, so verdicts stay provisional.
    provisional: bool = False

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ScheduleInvalidError(f"schedule for {self.year} names no source")
        for day in self.holidays | self.make_up_working_days:
            if day.year != self.year:
                raise ScheduleInvalidError(
                    f"schedule for {self.year} lists {day.isoformat()}, which is in another year"
                )
        both = self.holidays & self.make_up_working_days
        if both:
            listed = ", ".join(sorted(d.isoformat() for d in both))
            raise ScheduleInvalidError(
                f"schedule for {self.year} lists {listed} as both holiday and working day"
            )
        weekdays = [d for d in self.make_up_working_days if d.weekday() < 5]
        if weekdays:
            raise ScheduleInvalidError(
                f"make-up working day {min(weekdays).isoformat()} is not a Saturday or Sunday"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OfficialSchedule:
        """Builds a schedule from the JSON shape of ``data/official/<year>.json``."""
        try:
            year = int(data["year"])
            holidays = frozenset(_parse_day(d) for d in _days(data["holidays"]))
            make_up = frozenset(_parse_day(d) for d in _days(data.get("make_up_working_days", [])))
            source = str(data["source"])
            provisional = data.get("provisional", False)
            if not isinstance(provisional, bool):
                raise TypeError("provisional must be true or false")
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleInvalidError(f"schedule data is malformed: {exc!r}") from exc
        return cls(year=year, holidays=holidays, make_up_working_days=make_up, source=source,
                   provisional=provisional)


def _days(entries: Iterable[Any]) -> Iterable[str]:
    # Entries are either "YYYY-MM-DD" or {"date": "YYYY-MM-DD", "name": "春节"}.
    for entry in entries:
        yield entry["date"] if isinstance(entry, Mapping) else entry


def _parse_day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@dataclass(frozen=True)
class CityOverride:
    """The city's own day off (e.g. a typhoon day) or day on, which beats every other source."""

    day: dt.date
    working: bool
    reason: str


@cache
def package_years() -> range:
    """Years the installed ``chinese-calendar`` really covers (asked, not assumed)."""
    days = chinese_calendar.constants.holidays.keys()
    return range(min(days).year, max(days).year + 1)


@dataclass
class WorkingCalendar:
    """China's working days in Asia/Shanghai, with city overrides and loaded schedules."""

    use_package: bool = True
    _schedules: dict[int, OfficialSchedule] = field(default_factory=dict)
    _overrides: dict[dt.date, CityOverride] = field(default_factory=dict)
    # Memoised answers (every SLA event asks for the same few weeks again and again); emptied
    # whenever the calendar's data changes, and keyed by `use_package` too.
    _verdicts: dict[tuple[dt.date, bool], DayVerdict] = field(default_factory=dict, repr=False)
    _spans: dict[tuple[str, dt.date, int | dt.date, bool], Reckoned] = field(
        default_factory=dict, repr=False)

    def load_year(self, schedule: OfficialSchedule) -> None:
        """Loads (or replaces) one year's official schedule; no release needed."""
        self._schedules[schedule.year] = schedule
        self._forget()

    def with_year(self, schedule: OfficialSchedule) -> WorkingCalendar:
        """A new calendar: this one's data with ``schedule`` loaded (or replacing its year).
        This one is left as it was, so a reader on another thread keeps counting with one
        whole calendar (dispatch swaps its sign-for rule's calendar for the new one)."""
        return WorkingCalendar(use_package=self.use_package,
                               _schedules={**self._schedules, schedule.year: schedule},
                               _overrides=dict(self._overrides))

    def add_override(self, override: CityOverride) -> None:
        """Adds (or replaces) a city day off / day on."""
        self._overrides[override.day] = override
        self._forget()

    def _forget(self) -> None:
        self._verdicts.clear()
        self._spans.clear()

    def _remember(self, key: tuple[str, dt.date, int | dt.date, bool], value: Reckoned) -> None:
        if len(self._spans) > 50_000:  # bounded: a long replay asks for ever new spans
            self._spans.clear()
        self._spans[key] = value

    def loaded_years(self) -> list[int]:
        return sorted(self._schedules)

    def years_covered(self) -> list[int]:
        """Years answered from official data (package or loaded schedule), not provisionally."""
        years = {y for y, s in self._schedules.items() if not s.provisional}
        if self.use_package:
            years.update(package_years())
        return sorted(years)

    def is_provisional_year(self, year: int) -> bool:
        return year not in self.years_covered()

    def is_working_day(self, day: dt.date) -> DayVerdict:
        """The verdict for one calendar day (a ``datetime`` is read in Asia/Shanghai)."""
        day = local_day(day)
        key = (day, self.use_package)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = self._verdict(day)
        return verdict

    def _verdict(self, day: dt.date) -> DayVerdict:
        override = self._overrides.get(day)
        if override is not None:
            provisional = self.is_provisional_year(day.year)
            return DayVerdict(day, override.working, provisional, f"city: {override.reason}")
        schedule = self._schedules.get(day.year)
        if schedule is not None and not schedule.provisional:
            return _from_schedule(day, schedule)
        if self.use_package and day.year in package_years():
            return _from_package(day)
        if schedule is not None:
            return _from_schedule(day, schedule)
        return _provisional(day)

    def add_working_days(self, start_day: dt.date, n: int) -> Reckoned:
        """The n-th working day strictly after ``start_day`` (n >= 1), or ``start_day`` for n=0.

        ``start_day`` itself is never counted, whether or not it is a working day.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        key = ("add", local_day(start_day), n, self.use_package)
        known = self._spans.get(key)
        if known is None:
            known = self._add_working_days(local_day(start_day), n)
            self._remember(key, known)
        return known

    def _add_working_days(self, start_day: dt.date, n: int) -> Reckoned:
        day, provisional = start_day, False
        remaining = n
        while remaining:
            day += dt.timedelta(days=1)
            verdict = self.is_working_day(day)
            provisional = provisional or verdict.provisional
            if verdict.working:
                remaining -= 1
        return Reckoned(day, provisional)

    def working_days_between(self, a: dt.date, b: dt.date) -> Reckoned:
        """Working days d with a < d <= b (negative when b is before a)."""
        a, b = local_day(a), local_day(b)
        if b < a:
            count = self.working_days_between(b, a)
            return Reckoned(-count.value, count.provisional)
        key = ("between", a, b, self.use_package)
        known = self._spans.get(key)
        if known is None:
            known = self._working_days_between(a, b)
            self._remember(key, known)
        return known

    def _working_days_between(self, a: dt.date, b: dt.date) -> Reckoned:
        total, provisional, day = 0, False, a
        while day < b:
            day += dt.timedelta(days=1)
            verdict = self.is_working_day(day)
            provisional = provisional or verdict.provisional
            total += verdict.working
        return Reckoned(total, provisional)


def local_day(moment: dt.date) -> dt.date:
    """The Asia/Shanghai calendar day of a date or an aware datetime."""
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: give a time zone")
        return moment.astimezone(SHANGHAI).date()
    return moment


def _from_schedule(day: dt.date, schedule: OfficialSchedule) -> DayVerdict:
    guess = schedule.provisional
    kind = "provisional" if guess else "official"
    if day in schedule.holidays:
        return DayVerdict(day, False, guess, f"{kind} holiday ({schedule.source})")
    if day in schedule.make_up_working_days:
        return DayVerdict(day, True, guess, f"{kind} make-up working day ({schedule.source})")
    return _weekend_rule(day, provisional=guess, source=schedule.source)


def _from_package(day: dt.date) -> DayVerdict:
    working = chinese_calendar.is_workday(day)
    _, name = chinese_calendar.get_holiday_detail(day)
    source = "chinese-calendar 1.11.0"
    if name is not None and not working:
        return DayVerdict(day, False, False, f"official holiday {name} ({source})")
    if working and day.weekday() >= 5:
        return DayVerdict(day, True, False, f"official make-up working day ({source})")
    return _weekend_rule(day, provisional=False, source=source)


def _provisional(day: dt.date) -> DayVerdict:
    for month, dom, name in PROVISIONAL_FIXED_HOLIDAYS:
        if (day.month, day.day) == (month, dom):
            return DayVerdict(day, False, True, f"provisional fixed-date holiday {name}")
    return _weekend_rule(day, provisional=True, source="provisional: no official schedule")


def _weekend_rule(day: dt.date, *, provisional: bool, source: str) -> DayVerdict:
    if day.weekday() >= 5:
        return DayVerdict(day, False, provisional, f"weekend ({source})")
    return DayVerdict(day, True, provisional, f"weekday ({source})")
