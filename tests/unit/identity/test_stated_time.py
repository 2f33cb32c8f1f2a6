"""Time you can trust (backbone/clock.py): a stated time more than a few minutes old is
refused unless the role may backfill; the simulation clock takes the stated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backbone.clock import BACKFILL_ROLES, STATED_TIME_TOLERANCE, Clock, ClockTimeError


def ago(**kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)


def test_a_stated_time_within_the_tolerance_is_accepted_and_not_a_backfill():
    clock = Clock("wall")
    when = clock.command_time(ago(minutes=1))
    assert not clock.backfilled(when)
    assert abs((clock.command_time(None) - datetime.now(UTC)).total_seconds()) < 5


def test_an_older_stated_time_is_refused_unless_the_role_may_backfill():
    clock = Clock("wall")
    with pytest.raises(ClockTimeError, match="only a channel adapter may backfill") as caught:
        clock.command_time(ago(hours=2))  # a unit backdating its answer
    assert caught.value.status == 400
    assert timedelta(minutes=5) >= STATED_TIME_TOLERANCE
    assert "channel_adapter" in BACKFILL_ROLES and "unit" not in BACKFILL_ROLES
    when = clock.command_time(ago(hours=2), may_backfill=True)
    assert clock.backfilled(when)
    with pytest.raises(ClockTimeError, match="7 days"):
        clock.command_time(ago(days=8), may_backfill=True)
    with pytest.raises(ClockTimeError, match="future"):
        clock.command_time(ago(minutes=-10), may_backfill=True)


def test_the_simulation_clock_takes_the_stated_time():
    clock = Clock("event")
    month_ago = ago(days=30)
    assert clock.command_time(month_ago) == month_ago
    assert not clock.backfilled(month_ago)  # simulated time is never a backfill
