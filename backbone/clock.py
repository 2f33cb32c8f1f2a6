"""Time, for every decision: wall time in production, event time in simulation and replay.

MINSHENG_CLOCK=wall (default): a command happens now; a channel may state when the citizen
  actually called or wrote (`occurred_at`), which is accepted if it lies in the past 7 days
  and not in the future.
MINSHENG_CLOCK=event: the caller's stated time is THE time (the city simulator runs a month in
  minutes this way); timers run on the watermark, the latest event time a service has seen,
  so replaying the same events gives exactly the same deadlines, warnings and overdue lists.

Aggregates take the time as an argument and give it to their events as `timestamp`, so the
envelope's occurred_at is the business time, never the moment the row was written.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from backbone.http import ClientError

MAX_BACKDATE = timedelta(days=7)
MAX_SKEW = timedelta(minutes=2)


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
            return self._watermark or datetime(1970, 1, 1, tzinfo=UTC)

    def command_time(self, stated: datetime | None) -> datetime:
        """The time a command happens; raises ClockTimeError (400) for an impossible one."""
        if stated is not None and stated.tzinfo is None:
            raise ClockTimeError("times must carry a time zone (e.g. 2026-11-27T09:30:00+08:00)")
        if self.mode == "event":
            if stated is None:
                # the latest event time this service has seen; before any, the wall clock
                with self._lock:
                    return self._watermark or datetime.now(UTC)
            when = stated.astimezone(UTC)
            self.observe(when)
            return when
        now = datetime.now(UTC)
        if stated is None:
            return now
        if stated > now + MAX_SKEW:
            raise ClockTimeError("occurred_at lies in the future")
        if stated < now - MAX_BACKDATE:
            raise ClockTimeError("occurred_at is more than 7 days ago")
        return stated.astimezone(UTC)
