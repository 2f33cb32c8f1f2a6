"""Time, for every decision: wall time in production, event time in simulation and replay.

MINSHENG_CLOCK=wall (default, and the only mode production accepts): a command happens now.
  A caller may state when it happened (`occurred_at`, `at`) only within a few minutes of the
  service's own clock (STATED_TIME_TOLERANCE: network and queue delays), never in the future:
  a unit cannot backdate its answer to a supervision order. Roles that may backfill (the
  hotline's channel adapter entering calls taken during an outage) may state up to 7 days back,
  and the event says so (`backfilled`).
MINSHENG_CLOCK=event: the caller's stated time is THE time (the city simulator runs a month in
  minutes this way); timers run on the watermark, the latest event time a service has seen,
  so replaying the same events gives exactly the same deadlines, warnings and overdue lists.
  A stated time may not leap more than MAX_EVENT_LEAP past both the wall clock and the
  latest time seen (400 `bad_time`). Development only: production settings refuse it
  (backbone/settings.py). `make up` runs the demo platform so, to replay its demo month.

Aggregates take the time as an argument and give it to their events as `timestamp`, so the
envelope's occurred_at is the business time, never the moment the row was written.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

from backbone.http import ClientError

MAX_BACKDATE = timedelta(days=7)  # what a backfilling role may state
STATED_TIME_TOLERANCE = timedelta(minutes=5)  # what anyone else may state
MAX_SKEW = timedelta(minutes=2)
# Under the event clock, how far past both the wall clock and the latest time a service has
# seen a stated time may lie: a simulation moves on by minutes and days, never by months at
# once, while one request stating 2099 on a demo platform made every clock of the city jump
# there for good (every deadline missed, every rating window closed unrated).
MAX_EVENT_LEAP = timedelta(days=30)
# What a ticket's deadlines reach from a command's time (sla counts months at most): a stated
# time must leave that much room before datetime's limits (years 1 and 9999), or the
# arithmetic fails later, in a service's clock or in sla's consumer (a 500, a dead letter)
TIME_REACH = timedelta(days=366)
EARLIEST = datetime.min.replace(tzinfo=UTC) + TIME_REACH
LATEST = datetime.max.replace(tzinfo=UTC) - TIME_REACH
# Roles whose commands may state an earlier time (a call taken during an outage, entered later).
BACKFILL_ROLES = frozenset({"channel_adapter"})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ClockTimeError(ClientError):
    code = "bad_time"


class Clock:
    """`now()` for timers; `command_time(stated)` for the time of an incoming command."""

    def __init__(self, mode: str = "wall"):
        if mode not in ("wall", "event"):
            raise ValueError(f"MINSHENG_CLOCK must be 'wall' or 'event', not {mode!r}")
        self.mode = mode
        self._watermark: datetime | None = None
        self._lock = threading.Lock()

    @property
    def is_event_time(self) -> bool:
        return self.mode == "event"

    def observe(self, event_time: datetime) -> None:
        """Advance the watermark with the time of an event this service consumed."""
        with self._lock:
            if self._watermark is None or event_time > self._watermark:
                self._watermark = event_time

    def now(self) -> datetime:
        if self.mode == "wall":
            return datetime.now(UTC)
        with self._lock:
            return self._watermark or _EPOCH

    def backfilled(self, when: datetime) -> bool:
        """Whether an accepted command time lies before the tolerance (a backfill)."""
        return self.mode == "wall" and when < datetime.now(UTC) - STATED_TIME_TOLERANCE

    def command_time(self, stated: datetime | None, *, may_backfill: bool = False,
                     moves_clock: bool = True) -> datetime:
        """The time a command happens; raises ClockTimeError (400) for an impossible one, or
        one earlier than the tolerance unless `may_backfill` (see BACKFILL_ROLES).

        Under the event clock a stated time is the watermark from then on, before the command
        runs (`moves_clock`). A service whose commands may still be refused after this (an
        expired rating link, a month not over) and whose timers act on the watermark
        (feedback's unrated close, analytics' auto-publish) passes `moves_clock=False`: its
        consumer moves the watermark when the command's events come back, so a refused
        command, a public caller stating 2099 say, moves nothing."""
        when = within_reach(stated) if stated is not None else None  # in UTC
        if self.mode == "event":
            if stated is None or when is None:
                # the latest event time this service has seen; before any, the wall clock
                with self._lock:
                    return self._watermark or datetime.now(UTC)
            with self._lock:
                seen = self._watermark
            reach = max(datetime.now(UTC), seen or _EPOCH) + MAX_EVENT_LEAP
            if when > reach:
                days = MAX_EVENT_LEAP.days
                raise ClockTimeError(f"{stated.isoformat()} lies more than {days} days past both "
                                     "the wall clock and the latest time this service has seen"
                                     " (MINSHENG_CLOCK=event moves on with the events it is "
                                     "given, not by leaps)")
            if moves_clock:
                self.observe(when)
            return when
        now = datetime.now(UTC)
        if when is None:
            return now
        if when > now + MAX_SKEW:
            raise ClockTimeError("occurred_at lies in the future")
        if when < now - MAX_BACKDATE:
            raise ClockTimeError("occurred_at is more than 7 days ago")
        if when < now - STATED_TIME_TOLERANCE and not may_backfill:
            minutes = int(STATED_TIME_TOLERANCE.total_seconds() // 60)
            raise ClockTimeError(f"the stated time is more than {minutes} minutes before the "
                                 "service's clock; only a channel adapter may backfill")
        return when


def within_reach(stated: datetime) -> datetime:
    """`stated` in UTC, if it carries a time zone and deadlines can be counted from it;
    ClockTimeError (a 400) if not."""
    if stated.tzinfo is None:
        raise ClockTimeError("times must carry a time zone (e.g. 2026-11-27T09:30:00+08:00)")
    try:
        when = stated.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00, before year 1 in UTC
        when = None
    if when is None or not EARLIEST <= when <= LATEST:
        raise ClockTimeError(f"{stated.isoformat()} is outside the times deadlines can be"
                             " counted from")
    return when


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def calendar_day(value: Any) -> date:
    """A day as people write it, YYYY-MM-DD, from 1900 on (a date picker's 9999-12-31 too):
    pydantic alone also reads `0` or `1700000000` as a Unix time (1970-01-01, ...) and takes
    years like 925."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and _ISO_DAY.fullmatch(value.strip()):
        day = date.fromisoformat(value.strip())
    else:
        raise ValueError("a day is written YYYY-MM-DD")
    if day.year < 1900:
        raise ValueError(f"{day.isoformat()} is not a day this platform deals with")
    return day


CalendarDay = Annotated[date, BeforeValidator(calendar_day)]
