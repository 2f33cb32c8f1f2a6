"""Refusals of the assignment lifecycle. Each says, in words a dispatcher can read, why."""

from __future__ import annotations

from datetime import datetime


class DispatchError(Exception):
    """Base: an illegal step on a ticket's dispatch. `reason` is the human-readable why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IllegalTransitionError(DispatchError):
    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"cannot {action} while the ticket is {state}")
        self.action, self.state = action, state


class NotAssignedToUnitError(DispatchError):
    def __init__(self, unit: str, action: str, assignee: str | None) -> None:
        holder = f"it is assigned to {assignee}" if assignee else "it is not assigned to any unit"
        super().__init__(f"unit {unit} cannot {action}: {holder}")
        self.unit, self.assignee = unit, assignee


class BounceBackWindowClosedError(DispatchError):
    def __init__(self, unit: str, deadline: datetime, at: datetime) -> None:
        super().__init__(
            f"unit {unit} may bounce back only until {deadline.isoformat()}; it is {at.isoformat()}"
        )
        self.deadline = deadline


class BounceBackNotAllowedError(DispatchError):
    def __init__(self, unit: str, why: str) -> None:
        super().__init__(f"unit {unit} may not bounce this ticket back: {why}")
        self.unit = unit


class ReasonRequiredError(DispatchError):
    def __init__(self, action: str) -> None:
        super().__init__(f"{action} needs a written reason")


class TransferPendingError(DispatchError):
    def __init__(self, to_unit: str) -> None:
        super().__init__(f"a transfer to {to_unit} is already waiting for the platform's decision")


class InvalidCoordinationError(DispatchError):
    """A coordination decision that names no lead, names a unit twice, or has no written decision."""


class NaiveTimeError(DispatchError):
    def __init__(self) -> None:
        super().__init__("times must carry a time zone (deadlines are compared across services)")


class InvalidCommandError(DispatchError):
    """A command whose arguments are wrong whatever the ticket's state (a caller's mistake)."""


class InvalidReplyOutcomeError(InvalidCommandError):
    def __init__(self, outcome: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"reply outcome {outcome!r} is not one of {', '.join(allowed)}")


class InvalidExtensionError(InvalidCommandError):
    pass


class InvalidExpectedDateError(InvalidCommandError):
    """A `needs_longer` reply without the date it is expected done (MISSION fact 6), a date
    on another outcome, or a date already past."""


class FollowingCaseError(DispatchError):
    """并单: a duplicate follows its case's primary ticket and is not dispatched on its own."""

    def __init__(self, action: str, primary_code: str) -> None:
        super().__init__(
            f"cannot {action}: the ticket is merged into a case and follows {primary_code};"
            " unmerge it first"
        )
