"""Periods, months and windows that are well formed but not in the calendar get a 400 with
the reason, never a 500 (found from outside: /v1/kpis?period=day&at=2026-02-30,
period=week&at=2026-W00, period=month&at=0000-01, /v1/kpis/trend?from=9999-12-31&to=9999-12-31,
/v1/rankings/0000-12, /v1/hot-topics?from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z all
answered 500: ValueError / OverflowError from the calendar)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backbone.clock import Clock
from backbone.http import ClientError
from services.analytics.application.hot_topics import WindowError, check_window
from services.analytics.application.reports import MonthError, check_month
from services.analytics.entrypoints.http_api import check_period, periods_between


@pytest.mark.parametrize(("kind", "at"), [
    ("day", "2026-02-30"), ("day", "2026-13-45"), ("day", "0000-01-01"), ("day", "9999-12-31"),
    ("week", "2026-W00"), ("week", "2026-W99"), ("week", "2025-W53"), ("week", "0000-W01"),
    ("week", "9999-W52"), ("month", "0000-01"), ("month", "9999-12"),
])
def test_a_period_not_in_the_calendar_is_a_client_error(kind, at):
    with pytest.raises(ClientError, match="calendar"):
        check_period(kind, at)


@pytest.mark.parametrize(("kind", "at"), [
    ("day", "2026-02-28"), ("day", "2024-02-29"), ("week", "2026-W53"), ("week", "2020-W53"),
    ("week", "2026-W01"), ("month", "2026-11"), ("month", "0001-01"),
])
def test_real_periods_pass(kind, at):
    check_period(kind, at)


@pytest.mark.parametrize(("kind", "start", "end"), [
    ("day", date(9999, 12, 31), date(9999, 12, 31)),
    ("week", date(9999, 12, 30), date(9999, 12, 31)),
    ("month", date(9999, 1, 1), date(9999, 12, 31)),
])
def test_a_trend_at_the_end_of_the_calendar_is_a_client_error(kind, start, end):
    with pytest.raises(ClientError):
        periods_between(kind, start, end)


def test_a_trend_in_the_calendar_still_names_its_periods():
    assert periods_between("day", date(2026, 11, 29), date(2026, 12, 1)) == [
        "2026-11-29", "2026-11-30", "2026-12-01"]
    assert periods_between("month", date(2026, 11, 1), date(2026, 12, 31)) == [
        "2026-11", "2026-12"]
    assert periods_between("day", date(1, 1, 1), date(1, 1, 2)) == ["0001-01-01", "0001-01-02"]


@pytest.mark.parametrize("month", ["0000-12", "0000-01", "0001-01", "9999-12"])
def test_a_month_or_its_previous_one_outside_the_calendar_is_a_client_error(month):
    with pytest.raises(MonthError):
        check_month(month)


def test_real_months_pass():
    assert check_month("2026-11") == "2026-11"
    assert check_month("0001-02") == "0001-02"


@pytest.mark.parametrize(("start", "end"), [
    (datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)),
    (datetime(1, 1, 1, 8, tzinfo=UTC), datetime(1, 1, 2, 8, tzinfo=UTC)),
])
def test_a_window_whose_earlier_windows_leave_the_calendar_is_a_client_error(start, end):
    with pytest.raises(WindowError, match="calendar"):
        check_window(start, end)


def test_a_window_in_the_calendar_passes():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    check_window(start, start + timedelta(days=30))


def test_a_stated_publication_time_does_not_move_the_event_clock():
    clock = Clock("event")
    clock.observe(datetime(2026, 12, 7, tzinfo=UTC))
    far = datetime.now(UTC) + timedelta(days=20)  # ahead, within the event clock's reach
    assert clock.command_time(far, moves_clock=False) == far
    assert clock.now() == datetime(2026, 12, 7, tzinfo=UTC)  # the auto-publisher's clock
    assert clock.command_time(None, moves_clock=False) == datetime(2026, 12, 7, tzinfo=UTC)
    with pytest.raises(ClientError):
        clock.command_time(datetime(2026, 12, 7), moves_clock=False)  # naive: the clock's own 400


def test_a_missing_period_says_which_parameter_to_send():
    with pytest.raises(ClientError, match="at=2024-03"):
        check_period("month", "")
