"""Errors of the ``TicketClock``; each message says why in plain words."""


class ClockError(Exception):
    """Base of the clock's errors; the message says why in plain words."""


class ClockSettledError(ClockError):
    """The clock was met, replied late or stopped: nothing more can happen to it."""


class ClockNotRunningError(ClockError):
    """The command needs a running clock (e.g. pausing a paused or overdue clock)."""


class ClockNotPausedError(ClockError):
    """Resuming a clock that is not paused."""


class ClockTimeError(ClockError):
    """A command dated before the clock's last event: clocks only move forward in time."""


class ExtensionPendingError(ClockError):
    """An extension request is already waiting for the platform's decision."""


class NoExtensionPendingError(ClockError):
    """Approving or refusing when no extension was requested."""


class ExtensionCapError(ClockError):
    """The extension would pass the policy's cap on count or working days."""


class AssignmentError(ClockError):
    """Sign-for or bounce-back by a unit that does not hold the assignment."""
