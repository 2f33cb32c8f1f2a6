"""The ``TicketClock`` aggregate: one reply deadline of one ticket, from acceptance to reply.

Why eventsourcing here and not a faust table: the clock has invariants (no extension past the
cap, no pause after the deadline, deadlines never shortened by a pause) and an auditor must be
able to replay exactly why a deadline moved. Every event's library ``timestamp`` is the
event's own business time (never the wall clock), so replaying the same commands gives
byte-identical events.

Commands that need the calendar or policy take them as arguments; events carry the results
(due_at etc.), so replaying needs neither.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.sla.domain.calendar import WorkingCalendar, local_day
from services.sla.domain.clock_errors import (  # noqa: F401  (re-exported)
    AssignmentError,
    ClockError,
    ClockNotPausedError,
    ClockNotRunningError,
    ClockSettledError,
    ClockTimeError,
    ExtensionCapError,
    ExtensionPendingError,
    NoExtensionPendingError,
)
from services.sla.domain.policy import SlaPolicy, due_after, reply_deadline, sign_for_deadline
from services.sla.domain.reckoning import (
    Adjustment,
    Coordination,
    DueDay,
    Extension,
    Pause,
    apply_step,
    reckon,
    warning_instants,
)

RUNNING, PAUSED, OVERDUE, MET, REPLIED_LATE, STOPPED = (
    "running", "paused", "overdue", "met", "replied_late", "stopped"
)
SETTLED = frozenset({MET, REPLIED_LATE, STOPPED})


def _warn_at(
    policy: SlaPolicy, calendar: WorkingCalendar, accepted_at: dt.datetime, due_at: dt.datetime
) -> dict[str, dt.datetime]:
    # Warning instants are computed when the deadline moves and recorded in the event, so
    # firing them later needs no calendar and a replay fires them at the very same instants.
    return dict(warning_instants(calendar, policy, accepted_at, local_day(due_at)))


@functools.lru_cache(maxsize=8192)  # asked for each fact of a ticket, several times
def _naming(ticket_id: str, clock_number: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"minsheng:sla:ticket-clock:{ticket_id}:{clock_number}")


class TicketClock(Aggregate):
    """A ticket's reply clock. A reopened ticket (重办) starts clock number n+1."""

    @staticmethod
    def create_id(ticket_id: str, clock_number: int) -> UUID:  # type: ignore[override]
        return _naming(ticket_id, clock_number)

    @classmethod
    def start(
        cls,
        policy: SlaPolicy,
        calendar: WorkingCalendar,
        *,
        ticket_id: str,
        clock_number: int,
        grade: str,
        accepted_at: dt.datetime,
        platform_working_days: int | None = None,
        graded: bool = True,
    ) -> TicketClock:
        """Starts the clock when a ticket is accepted (受理).

        ``graded=False`` marks a grade assumed before dispatch classifies the ticket: the
        first classification then re-grades the clock (``grade_as``).
        """
        due, explanation = reply_deadline(
            policy, calendar, grade=grade, accepted_at=accepted_at,
            platform_working_days=platform_working_days,
        )
        return cls(
            ticket_id=ticket_id,
            clock_number=clock_number,
            grade=grade,
            working_days=due.working_days,
            due_at=due.due_at,
            explanation_due_at=explanation.due_at if explanation else None,
            provisional=due.provisional or bool(explanation and explanation.provisional),
            policy_version=policy.version,
            warn_at=_warn_at(policy, calendar, accepted_at, due.due_at),
            timestamp=accepted_at,
            graded=graded,
        )

    @event("Started")
    def __init__(
        self,
        ticket_id: str,
        clock_number: int,
        grade: str,
        working_days: int,
        due_at: dt.datetime,
        explanation_due_at: dt.datetime | None,
        provisional: bool,
        policy_version: str,
        warn_at: dict[str, dt.datetime],
        timestamp: dt.datetime,
        graded: bool = True,
    ) -> None:
        self.warn_at, self.graded = warn_at, graded
        self.ticket_id, self.clock_number, self.grade = ticket_id, clock_number, grade
        self.working_days, self.accepted_at = working_days, timestamp
        self.due_at, self.explanation_due_at = due_at, explanation_due_at
        self.provisional, self.policy_version = provisional, policy_version
        self.status = RUNNING
        self.stop_reason: str | None = None
        self.paused_at: dt.datetime | None = None
        self.adjustments: list[Adjustment] = []
        self.pending_extension: dict[str, Any] | None = None
        self.extensions_approved, self.extension_days_approved = 0, 0
        self.fired: list[str] = []
        self.unit: str | None = None
        self.parent_unit: str | None = None
        self.assignment_number = 0
        self.sign_for_due_at: dt.datetime | None = None
        self.signed_for = False
        self.explained = explanation_due_at is None
        self.explained_late = False  # the explanation came after explanation_due_at
        self.explained_at: dt.datetime | None = None  # when it was given (None: not yet)

    # -- checks -------------------------------------------------------------------------
    def check_in_time_order(self, at: dt.datetime) -> None:
        if at < self.modified_on:
            raise ClockTimeError(
                f"{at.isoformat()} is before the clock's last event at "
                f"{self.modified_on.isoformat()}"
            )

    def check_not_settled(self, at: dt.datetime) -> None:
        self.check_in_time_order(at)
        if self.status in SETTLED:
            raise ClockSettledError(f"the clock of ticket {self.ticket_id} is already {self.status}")

    def check_running(self, at: dt.datetime, doing: str) -> None:
        self.check_not_settled(at)
        if self.status != RUNNING:
            raise ClockNotRunningError(f"cannot {doing}: the clock is {self.status}")

    @property
    def due_day(self) -> DueDay:
        return DueDay(local_day(self.due_at), self.provisional)

    # -- grading ----------------------------------------------------------------------------
    def grade_as(
        self, policy: SlaPolicy, calendar: WorkingCalendar, *, grade: str, at: dt.datetime,
        platform_working_days: int | None = None,
    ) -> None:
        """Dispatch classified the ticket (分级分类): the deadline is recounted from acceptance
        for the real grade, with every pause, extension and coordination so far. Unlike the
        other moves this may be earlier: an urgent matter was never a 5-day matter."""
        self.check_not_settled(at)
        due, explanation = reply_deadline(
            policy, calendar, grade=grade, accepted_at=self.accepted_at,
            platform_working_days=platform_working_days,
        )
        day = reckon(calendar, self.accepted_at, due.working_days, self.adjustments)
        self._graded(
            grade=grade, working_days=due.working_days, due_at=day.due_at,
            explanation_due_at=explanation.due_at if explanation else None,
            provisional=day.provisional or bool(explanation and explanation.provisional),
            warn_at=self._warn_at(policy, calendar, day), timestamp=at, unit=self.unit,
        )

    @event("Graded")
    def _graded(
        self, grade: str, working_days: int, due_at: dt.datetime,
        explanation_due_at: dt.datetime | None, provisional: bool,
        warn_at: dict[str, dt.datetime], timestamp: dt.datetime, unit: str | None = None,
    ) -> None:
        self.grade, self.working_days, self.graded = grade, working_days, True
        self.explanation_due_at = explanation_due_at
        self.explained = explanation_due_at is None
        self.due_at, self.provisional, self.warn_at = due_at, provisional, warn_at
        if self.status == OVERDUE and due_at > self.modified_on:
            self.status = RUNNING

    # -- assignment, transfer, coordination -----------------------------------------------
    def assign(
        self, policy: SlaPolicy, calendar: WorkingCalendar, *, unit: str, at: dt.datetime,
        reason: str = "assignment", parent_unit: str | None = None,
    ) -> None:
        """A unit gets the ticket (交办, or 转办 when ``reason='transfer'``); the reply clock
        keeps running, only a new sign-for deadline starts."""
        self.check_not_settled(at)
        due = sign_for_deadline(policy, calendar, grade=self.grade, assigned_at=at)
        self._assigned(
            unit=unit, reason=reason, sign_for_due_at=due.due_at, timestamp=at,
            parent_unit=parent_unit,
        )

    @event("Assigned")
    def _assigned(
        self, unit: str, reason: str, sign_for_due_at: dt.datetime, timestamp: dt.datetime,
        parent_unit: str | None = None,
    ) -> None:
        self.unit, self.sign_for_due_at, self.signed_for = unit, sign_for_due_at, False
        self.parent_unit = parent_unit
        self.assignment_number += 1

    def sign_for(self, *, unit: str, at: dt.datetime) -> None:
        self.check_not_settled(at)
        self._check_holder(unit, "sign for")
        self._signed_for(unit=unit, timestamp=at)

    @event("SignedFor")
    def _signed_for(self, unit: str, timestamp: dt.datetime) -> None:
        self.signed_for = True

    def bounce_back(self, *, unit: str, reason: str, at: dt.datetime) -> None:
        """The unit returns the ticket (退单); the reply clock keeps running."""
        self.check_not_settled(at)
        self._check_holder(unit, "bounce back")
        self._bounced_back(unit=unit, reason=reason, timestamp=at)

    @event("BouncedBack")
    def _bounced_back(self, unit: str, reason: str, timestamp: dt.datetime) -> None:
        self.unit, self.sign_for_due_at = None, None

    def _check_holder(self, unit: str, doing: str) -> None:
        if self.unit != unit:
            raise AssignmentError(f"{unit} cannot {doing}: the ticket is with {self.unit}")

    def coordinate(
        self, policy: SlaPolicy, calendar: WorkingCalendar, *, lead_unit: str, at: dt.datetime
    ) -> None:
        """The platform decides a disputed ticket (统筹协调): the lead unit gets at least the
        policy's working days from the decision, never less than it already had."""
        self.check_not_settled(at)
        step = Coordination(at, policy.coordination_min_working_days)
        due = apply_step(calendar, self.due_day, step)
        self._coordinated(
            lead_unit=lead_unit, min_working_days=step.min_working_days, due_at=due.due_at,
            provisional=due.provisional, warn_at=self._warn_at(policy, calendar, due),
            timestamp=at,
        )

    @event("Coordinated")
    def _coordinated(
        self, lead_unit: str, min_working_days: int, due_at: dt.datetime, provisional: bool,
        warn_at: dict[str, dt.datetime], timestamp: dt.datetime,
    ) -> None:
        self.unit = lead_unit
        self.adjustments.append(Coordination(timestamp, min_working_days))
        self._move_due(due_at, provisional, warn_at)

    def _warn_at(
        self, policy: SlaPolicy, calendar: WorkingCalendar, due: DueDay
    ) -> dict[str, dt.datetime]:
        return _warn_at(policy, calendar, self.accepted_at, due.due_at)

    def _move_due(
        self, due_at: dt.datetime, provisional: bool, warn_at: dict[str, dt.datetime]
    ) -> None:
        self.due_at, self.provisional, self.warn_at = due_at, provisional, warn_at
        if self.status == OVERDUE and due_at > self.modified_on:
            self.status = RUNNING  # a coordination can give an overdue ticket new time

    # -- pause / resume -------------------------------------------------------------------
    def pause(self, *, reason: str, at: dt.datetime) -> None:
        """Stops counting while the platform waits for the citizen (补充材料 etc.)."""
        self.check_running(at, "pause")
        if at > self.due_at:
            raise ClockNotRunningError("cannot pause: the deadline has already passed")
        self._paused(reason=reason, timestamp=at, unit=self.unit)

    @event("Paused")
    def _paused(self, reason: str, timestamp: dt.datetime, unit: str | None = None) -> None:
        self.status, self.paused_at = PAUSED, timestamp

    def resume(self, policy: SlaPolicy, calendar: WorkingCalendar, *, at: dt.datetime) -> None:
        """Counts again; the deadline moves later by the paused working time (never earlier)."""
        self.check_not_settled(at)
        if self.status != PAUSED or self.paused_at is None:
            raise ClockNotPausedError(f"cannot resume: the clock is {self.status}")
        due = apply_step(calendar, self.due_day, Pause(self.paused_at, at))
        self._resumed(
            due_at=due.due_at, provisional=due.provisional,
            warn_at=self._warn_at(policy, calendar, due), timestamp=at, unit=self.unit,
        )

    @event("Resumed")
    def _resumed(
        self, due_at: dt.datetime, provisional: bool, warn_at: dict[str, dt.datetime],
        timestamp: dt.datetime, unit: str | None = None,
    ) -> None:
        assert self.paused_at is not None
        self.adjustments.append(Pause(self.paused_at, timestamp))
        self.status, self.paused_at = RUNNING, None
        self._move_due(due_at, provisional, warn_at)

    # -- extensions -----------------------------------------------------------------------
    def request_extension(
        self, policy: SlaPolicy, *, working_days: int, reason: str, requested_by: str,
        at: dt.datetime,
    ) -> None:
        self.check_running(at, "request an extension")
        if self.pending_extension is not None:
            raise ExtensionPendingError("an extension request is already waiting for a decision")
        self._check_cap(policy, working_days)
        self._extension_requested(
            working_days=working_days, reason=reason, requested_by=requested_by, timestamp=at
        )

    def _check_cap(self, policy: SlaPolicy, working_days: int) -> None:
        if working_days < 1:
            raise ExtensionCapError(f"an extension must be at least 1 working day, not {working_days}")
        if self.extensions_approved >= policy.max_extensions:
            raise ExtensionCapError(f"already {self.extensions_approved} extensions (max {policy.max_extensions})")
        total = self.extension_days_approved + working_days
        if total > policy.max_extension_working_days:
            raise ExtensionCapError(
                f"{working_days} more working days would make {total} "
                f"(max {policy.max_extension_working_days})"
            )

    @event("ExtensionRequested")
    def _extension_requested(
        self, working_days: int, reason: str, requested_by: str, timestamp: dt.datetime
    ) -> None:
        self.pending_extension = {"working_days": working_days, "requested_by": requested_by}

    def approve_extension(
        self, policy: SlaPolicy, calendar: WorkingCalendar, *, approved_by: str,
        at: dt.datetime, working_days: int | None = None,
    ) -> None:
        """The platform approves the request, possibly for fewer days than asked."""
        self.check_not_settled(at)
        if self.pending_extension is None:
            raise NoExtensionPendingError("no extension request is waiting")
        asked = self.pending_extension["working_days"]
        days = asked if working_days is None else working_days
        if days > asked:
            raise ExtensionCapError(f"cannot approve {days} working days when {asked} were asked")
        self._check_cap(policy, days)
        due = apply_step(calendar, self.due_day, Extension(days))
        self._extension_approved(
            working_days=days, approved_by=approved_by, due_at=due.due_at,
            provisional=due.provisional, warn_at=self._warn_at(policy, calendar, due),
            timestamp=at, unit=self.unit,
        )

    @event("ExtensionApproved")
    def _extension_approved(
        self, working_days: int, approved_by: str, due_at: dt.datetime, provisional: bool,
        warn_at: dict[str, dt.datetime], timestamp: dt.datetime, unit: str | None = None,
    ) -> None:
        self.pending_extension = None
        self.extensions_approved += 1
        self.extension_days_approved += working_days
        self.adjustments.append(Extension(working_days))
        self._move_due(due_at, provisional, warn_at)

    def refuse_extension(self, *, reason: str, refused_by: str, at: dt.datetime) -> None:
        self.check_not_settled(at)
        if self.pending_extension is None:
            raise NoExtensionPendingError("no extension request is waiting")
        self._extension_refused(
            reason=reason, refused_by=refused_by, timestamp=at, unit=self.unit
        )

    @event("ExtensionRefused")
    def _extension_refused(
        self, reason: str, refused_by: str, timestamp: dt.datetime, unit: str | None = None
    ) -> None:
        self.pending_extension = None

    # -- warnings, overdue, settlement -----------------------------------------------------
    @event("Warned")
    def _warned(
        self, kind: str, key: str, due_at: dt.datetime, timestamp: dt.datetime,
        unit: str | None = None,
    ) -> None:
        self.fired.append(key)

    @event("Missed")
    def _missed(self, due_at: dt.datetime, timestamp: dt.datetime, unit: str | None = None) -> None:
        self.status = OVERDUE
        self.fired.append(f"overdue@{due_at.isoformat()}")

    def explain(self, *, at: dt.datetime) -> None:
        """The citizen got the explanation a complex / not-allowed ticket owes them, or a
        unit's "needs longer" (an interim answer): marked given, met or late against the
        explanation deadline when there is one. The reply clock runs on to the final reply."""
        self.check_not_settled(at)
        late = self.explanation_due_at is not None and at > self.explanation_due_at
        self._explained(timestamp=at, late=late)

    @event("Explained")
    def _explained(self, timestamp: dt.datetime, late: bool = False) -> None:
        self.explained = True
        self.explained_late = late
        self.explained_at = timestamp

    def answer_accepted(self, *, at: dt.datetime) -> bool:
        """The platform accepted the unit's reply as the answer to the citizen (ReplyReviewed
        accepted: dispatch then closes the ticket and feedback asks for a rating).

        A reply settled the clock when it came. An explanation that a complex / not-allowed
        ticket owes (``explain``) did not: the clock runs on for the handling to follow. When
        the platform takes that explanation as the answer, nothing follows it, so it settles
        now, met or late as a reply at this moment; left running, the clock was only stopped
        at the close, never met, and the unit's timely explanation counted as a late reply.
        True when it settled the clock.
        """
        if self.status in SETTLED or self.explanation_due_at is None or not self.explained:
            return False
        self.record_reply(at=at)
        return True

    def record_reply(self, *, at: dt.datetime) -> None:
        """The unit replied: met if at <= due_at (and not paused past it), else replied late."""
        self.check_not_settled(at)
        if self.status == PAUSED or at <= self.due_at:
            self._met(due_at=self.due_at, timestamp=at, unit=self.unit)
        else:
            self._replied_late(due_at=self.due_at, timestamp=at, unit=self.unit)

    @event("Met")
    def _met(
        self, due_at: dt.datetime, timestamp: dt.datetime, unit: str | None = None
    ) -> None:
        self.status = MET

    @event("RepliedLate")
    def _replied_late(
        self, due_at: dt.datetime, timestamp: dt.datetime, unit: str | None = None
    ) -> None:
        self.status = REPLIED_LATE

    def send_back(self, *, reason: str, at: dt.datetime) -> None:
        """The platform rejected the reply (审核不通过): the clock runs on from where it was.

        A reply that was in time is no longer a met deadline; a late one stays overdue.
        """
        self.check_in_time_order(at)
        if self.status not in (MET, REPLIED_LATE):
            raise ClockNotRunningError(f"cannot send a reply back: the clock is {self.status}")
        overdue = f"overdue@{self.due_at.isoformat()}" in self.fired
        self._sent_back(
            reason=reason, due_at=self.due_at, overdue=overdue, timestamp=at, unit=self.unit
        )

    @event("SentBack")
    def _sent_back(
        self, reason: str, due_at: dt.datetime, overdue: bool, timestamp: dt.datetime,
        unit: str | None = None,
    ) -> None:
        self.status = OVERDUE if overdue else RUNNING

    def refuse_outright(self, *, reason: str, refused_by: str, at: dt.datetime) -> None:
        """Refuses an extension request that could not even be recorded (over the cap, one
        already pending, the clock not running), so the unit is told why."""
        self.check_not_settled(at)
        self._extension_refused(
            reason=reason, refused_by=refused_by, timestamp=at, unit=self.unit
        )

    def stop(self, *, reason: str, at: dt.datetime) -> None:
        """Ends the clock without a reply (ticket withdrawn, merged as a duplicate)."""
        self.check_not_settled(at)
        self._stopped(reason=reason, timestamp=at, unit=self.unit)

    @event("Stopped")
    def _stopped(self, reason: str, timestamp: dt.datetime, unit: str | None = None) -> None:
        self.status = STOPPED
        self.stop_reason = reason

    @property
    def ticket_closed(self) -> bool:
        """Whether the ticket this clock measures was closed (办结) while it was current; a
        reopen starts a new clock. (Clocks recorded before this was noted read False.)"""
        return bool(self.__dict__.get("_ticket_closed"))

    def note_ticket_closed(self, *, at: dt.datetime) -> None:
        """The ticket closed: met, late or stopped, nothing more is owed on this clock."""
        if not self.ticket_closed:
            self._closed(timestamp=max(at, self.modified_on))

    @event("TicketClosed")
    def _closed(self, timestamp: dt.datetime) -> None:
        self.__dict__["_ticket_closed"] = True

    # -- recomputation --------------------------------------------------------------------
    def recompute(
        self, policy: SlaPolicy, calendar: WorkingCalendar, *, at: dt.datetime
    ) -> bool:
        """Recounts a provisional deadline on a calendar that now has the official schedule.

        Returns whether anything changed. The result is never earlier than the deadline the
        unit was already told (it planned on that date); it can be later, or stop being
        provisional. The explanation deadline is recounted the same way.
        """
        self.check_not_settled(at)
        if not self.provisional:
            return False
        due = reckon(calendar, self.accepted_at, self.working_days, self.adjustments)
        due_at = max(due.due_at, self.due_at)
        provisional = due.provisional
        explanation_due_at = self.explanation_due_at
        if explanation_due_at is not None:
            explanation = due_after(calendar, self.accepted_at, policy.explanation_working_days)
            explanation_due_at = max(explanation.due_at, explanation_due_at)
            provisional = provisional or explanation.provisional
        if (due_at, provisional, explanation_due_at) == (
            self.due_at, self.provisional, self.explanation_due_at
        ):
            return False
        self._recomputed(
            previous_due_at=self.due_at, due_at=due_at, explanation_due_at=explanation_due_at,
            provisional=provisional, warn_at=_warn_at(policy, calendar, self.accepted_at, due_at),
            timestamp=at, unit=self.unit,
        )
        return True

    @event("Recomputed")
    def _recomputed(
        self, previous_due_at: dt.datetime, due_at: dt.datetime,
        explanation_due_at: dt.datetime | None, provisional: bool,
        warn_at: dict[str, dt.datetime], timestamp: dt.datetime, unit: str | None = None,
    ) -> None:
        self.explanation_due_at = explanation_due_at
        self._move_due(due_at, provisional, warn_at)
