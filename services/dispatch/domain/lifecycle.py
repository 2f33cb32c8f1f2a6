"""States, time limits and small checks of the assignment lifecycle (see `ticket_dispatch`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.dispatch.domain.errors import NaiveTimeError, ReasonRequiredError


class DispatchState(StrEnum):
    AWAITING_DISPATCH = "awaiting_dispatch"  # new or reopened; in the dispatchers' queue
    ASSIGNED = "assigned"
    SIGNED_FOR = "signed_for"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"  # waiting for the platform's review
    AWAITING_PLATFORM_DECISION = "awaiting_platform_decision"  # after a bounce-back
    REPLY_ACCEPTED = "reply_accepted"
    CLOSED = "closed"


HELD_BY_UNIT = frozenset(
    {
        DispatchState.ASSIGNED,
        DispatchState.SIGNED_FOR,
        DispatchState.IN_PROGRESS,
        DispatchState.REPLIED,
    }
)
WORKING = frozenset({DispatchState.SIGNED_FOR, DispatchState.IN_PROGRESS})
BEFORE_REPLY = frozenset({DispatchState.ASSIGNED, *WORKING})


@dataclass(frozen=True)
class DispatchPolicy:
    """Time limits written into each assignment (so a later policy change does not rewrite history).

    `sign_for_counted(urgency, at)`: the sign-for deadline by the ticket's urgency, as sla
    counts it and escalates on it (docs/sla.md: urgent 2 calendar hours, others the end of
    the next working day); the service wires sla's rule in, so the deadline a unit is told
    (`Assignment.sign_for_due_at`) and the `late` of its sign-for are the ones it is held to.
    Without it (or before a ticket has an urgency) every assignment gets `sign_for_within`."""

    sign_for_within: timedelta = timedelta(hours=2)
    bounce_back_within: timedelta = timedelta(hours=24)
    sign_for_counted: Callable[[str, datetime], datetime] | None = None

    def sign_for_due(self, urgency: str | None, at: datetime) -> datetime:
        if self.sign_for_counted is not None and urgency:
            return self.sign_for_counted(urgency, at)
        return at + self.sign_for_within


def check_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveTimeError()


def check_reason(action: str, text: str) -> None:
    if not text or not text.strip():
        raise ReasonRequiredError(action)


DEFAULT_POLICY = DispatchPolicy()
