"""A stated time deadlines cannot be counted from (near datetime's limits, or before year 1
once in UTC) is a 400 `bad_time` in either clock, for every service that takes one: it was an
OverflowError (a 500) in the clock, or an event sla's consumer could not count from."""

from __future__ import annotations

import datetime as dt

import pytest

from backbone.clock import Clock, ClockTimeError


@pytest.mark.parametrize("mode", ["wall", "event"])
@pytest.mark.parametrize("stated", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00",
                                    "0001-01-01T00:00:00+00:00", "9999-06-01T00:00:00+08:00"])
def test_times_out_of_reach_are_bad_times(mode: str, stated: str) -> None:
    clock = Clock(mode)
    with pytest.raises(ClockTimeError, match="outside the times") as refused:
        clock.command_time(dt.datetime.fromisoformat(stated))
    assert refused.value.code == "bad_time"
    if mode == "event":  # nothing of it reached the watermark
        assert clock.now() == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_naive_times_keep_their_reason() -> None:
    with pytest.raises(ClockTimeError, match="time zone"):
        Clock("wall").command_time(dt.datetime(2026, 12, 7, 9, 30))


def test_times_in_reach_are_taken() -> None:
    when = dt.datetime(2026, 12, 7, 17, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert Clock("event").command_time(when) == when.astimezone(dt.UTC)
    now = dt.datetime.now(dt.UTC)
    assert abs(Clock("wall").command_time(now) - now) < dt.timedelta(seconds=1)


def test_the_event_clock_refuses_a_leap_past_the_wall_clock_and_what_it_saw() -> None:
    clock = Clock("event")
    now = dt.datetime.now(dt.UTC)
    ahead = now + dt.timedelta(days=29)
    assert clock.command_time(ahead) == ahead  # a simulation running a little ahead
    with pytest.raises(ClockTimeError, match="more than 30 days past"):
        clock.command_time(now + dt.timedelta(days=365 * 70))  # "2099" on a demo platform
    # from where the events took it, it moves on by days: 29 more from the watermark
    further = ahead + dt.timedelta(days=29)
    assert clock.command_time(further) == further
    assert clock.now() == further
    # the past is a simulation's to state (a month replayed, a plan of 2025)
    past = dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC)
    assert clock.command_time(past) == past
    # refused times move nothing
    with pytest.raises(ClockTimeError):
        clock.command_time(further + dt.timedelta(days=31))
    assert clock.now() == further
