"""Delivering a notice to a citizen: which route, when to try again, when to give up.

A notice (feedback's CitizenNotice on `citizen.notices`) goes back by the channel the request
came by: an SMS for the hotline and the other channels that answer by text message, a WeChat
subscribe or template message for the mini-program and the official account. Other kinds
(letters, callback scripts, Open311 statuses, web notices) are for other adapters and are not
the notifier's.

Attempts back off exponentially (with a cap) until `max_attempts`; then the notice is dead:
kept in the dead letters, shown to staff, sent again only by hand. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

ROUTES = {"sms": "sms", "subscription_message": "wechat", "template_message": "wechat"}


class State(StrEnum):
    PENDING = "pending"      # waiting for its next attempt
    SENDING = "sending"      # an attempt is under way (or its process died: retried later)
    DELIVERED = "delivered"
    DEAD = "dead"            # gave up: in the dead letters


def route_of(kind: str) -> str | None:
    """sms | wechat, or None for notices other adapters deliver."""
    return ROUTES.get(kind)


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=30)
    factor: float = 4.0
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 6  # 30 s, 2 min, 8 min, 32 min, 1 h: about 1 h 45 min in all
    stale_after: timedelta = timedelta(minutes=2)  # a "sending" row this old: its worker died

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.factor < 1 or self.first_delay <= timedelta(0):
            raise ValueError("max_attempts >= 1, factor >= 1 and a positive first delay")

    def delay_after(self, attempts: int) -> timedelta:
        """How long to wait after the `attempts`-th failed attempt."""
        return min(self.max_delay, self.first_delay * self.factor ** (attempts - 1))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    delivered: bool
    gateway_ref: str = ""
    reason: str = ""  # safe to log and publish: names no phone number
    retryable: bool = True  # False: trying again cannot help (no contact, erased identity)


@dataclass(frozen=True)
class Decision:
    state: State
    next_at: datetime | None  # when PENDING
    final: bool


def decide(policy: RetryPolicy, outcome: Outcome, attempts: int, now: datetime) -> Decision:
    """After the `attempts`-th attempt ended in `outcome`: delivered, again later, or dead."""
    if outcome.delivered:
        return Decision(State.DELIVERED, None, True)
    if not outcome.retryable or attempts >= policy.max_attempts:
        return Decision(State.DEAD, None, True)
    return Decision(State.PENDING, now + policy.delay_after(attempts), False)
