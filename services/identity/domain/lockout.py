"""Lockout after repeated failed logins: the rule, apart from where its state is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5  # this many failures within `window` lock the username
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Failures:
    """What is known of one username's recent failures."""

    count: int
    window_start: datetime
    locked_until: datetime | None

    def locked_at(self, now: datetime) -> timedelta | None:
        """How long the username stays locked from `now` (None: not locked)."""
        if self.locked_until is not None and self.locked_until > now:
            return self.locked_until - now
        return None


def after_failure(policy: LockoutPolicy, before: Failures | None, now: datetime) -> Failures:
    """The state after one more failure at `now`."""
    if before is None or now - before.window_start > policy.window:
        count, start = 1, now
    else:
        count, start = before.count + 1, before.window_start
    locked = now + policy.lock_for if count >= policy.max_failures else None
    return Failures(count=count, window_start=start, locked_until=locked)
