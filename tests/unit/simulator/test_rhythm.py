from collections import Counter
from datetime import date, datetime

from tools.simulator import SimPlan
from tools.simulator.rhythm import add_office_hours, add_working_days, day_factor, is_workday


def test_volume_per_day_matches_the_parameter(month: SimPlan) -> None:
    base = [t for t in month.truths.values() if t.episode is None]
    assert abs(len(base) / 30 - 300) < 15


def test_daytime_peaks_and_quiet_nights(month: SimPlan) -> None:
    hours = Counter(t.submitted_at.hour for t in month.truths.values() if t.episode is None)
    peak = min(hours[h] for h in (9, 10, 15))
    night = max(hours[h] for h in (1, 2, 3, 4))
    assert peak > 8 * night
    assert hours[10] > hours[12] < hours[15]  # the lunch dip between the two peaks


def test_weekends_are_quieter(month: SimPlan) -> None:
    per_day = Counter(t.submitted_at.date() for t in month.truths.values() if t.episode is None)
    weekday = [n for d, n in per_day.items() if d.weekday() < 5 and is_workday(d)]
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    assert sum(weekend) / len(weekend) < 0.75 * sum(weekday) / len(weekday)


def test_statutory_holidays_are_quieter_and_make_up_days_count_as_work() -> None:
    assert day_factor(date(2025, 10, 1)) < 0.7 * day_factor(date(2025, 10, 15))  # both Wednesdays
    assert is_workday(date(2025, 9, 28))  # a Sunday made a working day (调休)


def test_office_hours_skip_nights_weekends_and_holidays() -> None:
    assert add_office_hours(datetime(2025, 3, 7, 17, 0), 1) == datetime(2025, 3, 10, 9, 0)  # Fri → Mon
    assert add_office_hours(datetime(2025, 3, 4, 2, 0), 0.5) == datetime(2025, 3, 4, 9, 0)
    assert add_working_days(datetime(2025, 9, 30, 9, 0), 1).date() == date(2025, 10, 9)  # National Day
