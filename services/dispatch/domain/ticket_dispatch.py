"""The assignment lifecycle of one ticket (交办 → 签收 → 办理 → 答复 → 审核 → 办结).

One `TicketDispatch` per ticket, id derived from the ticket id, so that a replayed
`TicketAccepted` finds the same aggregate instead of opening a second one.

Rules that shape it (MISSION facts 4, 5, 7):
- The ticket is never ownerless: while no unit holds it, the platform (`city`) owns it.
- A unit acts on its own assignment only (`unit` is always the acting unit).
- Bounce-back (退单) only before sign-for and within the window from assignment; after it
  the platform must decide (reassign or coordinate). Signing for makes the unit the first
  receiver (首接首办): from then on only the platform can move the ticket away from it.
- Units named by a coordination decision (统筹协调), or a unit whose bounce-back the platform
  overruled, cannot bounce back again.
- Times are passed in (`at`), never read from a clock, so the model is deterministic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.dispatch.domain.dispatch_record import DispatchRecord
from services.dispatch.domain.errors import (
    BounceBackNotAllowedError,
    BounceBackWindowClosedError,
    FollowingCaseError,
    IllegalTransitionError,
    InvalidCoordinationError,
    InvalidExpectedDateError,
    InvalidExtensionError,
    InvalidReplyOutcomeError,
    NotAssignedToUnitError,
    TransferPendingError,
)
from services.dispatch.domain.lifecycle import (
    BEFORE_REPLY,
    DEFAULT_POLICY,
    HELD_BY_UNIT,
    WORKING,
    DispatchPolicy,
    DispatchState,
    check_aware,
    check_reason,
)
from services.dispatch.domain.units import PLATFORM_CODE

# What a unit's reply says about the matter (MISSION fact 6: what cannot be done, or needs
# longer, must be explained to the citizen).
REPLY_OUTCOMES = ("resolved", "explained", "not_allowed_by_policy", "needs_longer")
# 需较长时间办理: an interim answer (why, and by when). Accepted, it is told to the citizen, but
# the unit keeps the ticket and replies again with a final outcome; nothing closes.
NEEDS_LONGER = "needs_longer"
CITY_TIME = ZoneInfo("Asia/Shanghai")  # an expected date is a day in the city
MAX_EXTENSION_WORKING_DAYS = 30
# 并单: the states a ticket may join a case in (before its unit's reply); past them a merge is
# refused (CaseMergeRefused)
MERGEABLE = (
    DispatchState.AWAITING_DISPATCH,
    DispatchState.AWAITING_PLATFORM_DECISION,
    *sorted(BEFORE_REPLY),
)


class TicketDispatch(DispatchRecord):
    """One ticket's dispatch: the commands, each checked before its event is recorded."""

    @classmethod
    def open(cls, *, ticket_id: str, ticket_code: str, at: datetime) -> TicketDispatch:
        check_aware(at)
        return cls(ticket_id=ticket_id, ticket_code=ticket_code, opened_at=at)

    # --- who holds it ---

    @property
    def owner(self) -> str:
        """The unit holding the ticket, or the platform; never empty."""
        if self.state in HELD_BY_UNIT and self.assignee:
            return self.assignee
        return PLATFORM_CODE

    @property
    def is_coordinated(self) -> bool:
        return self.lead_unit is not None

    # --- the platform (dispatchers) ---

    def classify(
        self,
        *,
        by: str,
        category: str,
        subcategory: str,
        request_type: str,
        urgency: str,
        confidence: float,
        source: str = "dispatcher",
        working_days: int = 0,
    ) -> None:
        """Record a classification: the model's suggestion (source="auto") or a dispatcher's.

        `working_days`: for a complex matter, the reply limit the platform sets (0: the SLA
        policy's default); a dispatcher's classification is published (TicketReclassified)."""
        self.check_not_closed("classify")
        self._classified(
            by=by,
            category=category,
            subcategory=subcategory,
            request_type=request_type,
            urgency=urgency,
            confidence=float(confidence),
            source=source,
            working_days=int(working_days),
        )

    def assign(
        self,
        *,
        unit: str,
        by: str,
        at: datetime,
        reason: str,
        policy: DispatchPolicy = DEFAULT_POLICY,
    ) -> None:
        """First dispatch, or the platform's decision after a bounce-back or a reopen."""
        check_aware(at)
        self.check_not_following("assign")
        self.check_state(
            "assign", DispatchState.AWAITING_DISPATCH, DispatchState.AWAITING_PLATFORM_DECISION
        )
        check_reason("assign", reason)
        overrules = (
            self.state is DispatchState.AWAITING_PLATFORM_DECISION and unit == self.last_bounced_by
        )
        self._assigned(
            unit=unit,
            by=by,
            at=at,
            reason=reason,
            sign_for_deadline=policy.sign_for_due(self.urgency, at),
            bounce_back_deadline=at + policy.bounce_back_within,
            overrules_bounce_back=overrules,
        )

    def coordinate(
        self,
        *,
        by: str,
        lead_unit: str,
        co_units: list[str],
        decision: str,
        at: datetime,
        policy: DispatchPolicy = DEFAULT_POLICY,
    ) -> None:
        """统筹协调: name a lead unit (主办) and co-handling units (协办) by a written decision."""
        check_aware(at)
        self.check_not_following("coordinate")
        self.check_state(
            "coordinate",
            DispatchState.AWAITING_DISPATCH,
            DispatchState.AWAITING_PLATFORM_DECISION,
            *BEFORE_REPLY,
        )
        if not decision or not decision.strip():
            raise InvalidCoordinationError("a coordination needs a written decision")
        if not lead_unit or lead_unit in co_units or len(set(co_units)) != len(co_units):
            raise InvalidCoordinationError(
                "name one lead unit, and each co-handling unit once, apart from the lead"
            )
        self._coordinated(
            by=by,
            lead_unit=lead_unit,
            co_units=list(co_units),
            decision=decision,
            at=at,
            sign_for_deadline=policy.sign_for_due(self.urgency, at),
        )

    def transfer(
        self,
        *,
        by: str,
        to_unit: str,
        reason: str,
        at: datetime,
        policy: DispatchPolicy = DEFAULT_POLICY,
    ) -> None:
        """The platform moves the ticket to another unit (and with it, responsibility for the reply)."""
        check_aware(at)
        self.check_state("transfer", *BEFORE_REPLY)
        check_reason("transfer", reason)
        if to_unit == self.assignee:
            raise IllegalTransitionError(
                f"transfer to {to_unit}, which already holds it,", self.state.value
            )
        self._transferred(
            by=by,
            from_unit=self.assignee,
            to_unit=to_unit,
            reason=reason,
            at=at,
            sign_for_deadline=policy.sign_for_due(self.urgency, at),
            on_request=False,
        )

    def approve_transfer(
        self, *, by: str, at: datetime, policy: DispatchPolicy = DEFAULT_POLICY
    ) -> None:
        check_aware(at)
        if self.pending_transfer is None:
            raise IllegalTransitionError("approve a transfer nobody asked for", self.state.value)
        self._transferred(
            by=by,
            from_unit=self.assignee,
            to_unit=self.pending_transfer["to_unit"],
            reason=self.pending_transfer["reason"],
            at=at,
            sign_for_deadline=policy.sign_for_due(self.urgency, at),
            on_request=True,
        )

    def reject_transfer(self, *, by: str, reason: str, at: datetime) -> None:
        check_aware(at)
        if self.pending_transfer is None:
            raise IllegalTransitionError("reject a transfer nobody asked for", self.state.value)
        check_reason("reject a transfer", reason)
        self._transfer_rejected(by=by, reason=reason, at=at)

    def accept_reply(self, *, by: str, at: datetime, comment: str = "") -> None:
        """The platform takes the reply. A `needs_longer` one is an interim answer: the
        citizen is told why and by when, the unit keeps the ticket (in progress) and owes
        the final reply; only a final reply leaves the ticket `reply_accepted`, to close."""
        check_aware(at)
        self.check_state("accept the reply", DispatchState.REPLIED)
        self._reply_accepted(by=by, at=at, comment=comment,
                             interim=self.reply_outcome == NEEDS_LONGER)

    @property
    def answered(self) -> bool:
        """A final reply was accepted (the ticket may be closed); False after an interim one."""
        return self.state in (DispatchState.REPLY_ACCEPTED, DispatchState.CLOSED)

    def send_back(self, *, by: str, reason: str, at: datetime) -> None:
        """The platform finds the reply wanting; the same unit must handle it again."""
        check_aware(at)
        self.check_state("send the reply back", DispatchState.REPLIED)
        check_reason("send back", reason)
        self._reply_sent_back(by=by, reason=reason, at=at)

    def close(self, *, by: str, at: datetime) -> None:
        check_aware(at)
        self.check_state("close", DispatchState.REPLY_ACCEPTED)
        self._closed(by=by, at=at)

    def reopen(self, *, by: str, reason: str, at: datetime) -> None:
        """重办 from feedback: back to the dispatchers' queue under the same ticket, history kept."""
        check_aware(at)
        self.check_state("reopen", DispatchState.REPLY_ACCEPTED, DispatchState.CLOSED)
        check_reason("reopen", reason)
        self._reopened(by=by, reason=reason, at=at)

    # --- the unit holding the ticket ---

    def sign_for(self, *, unit: str, at: datetime) -> None:
        check_aware(at)
        self.check_assignee(unit, "sign for")
        self.check_state("sign for", DispatchState.ASSIGNED)
        assert self.sign_for_deadline is not None
        # A late sign-for is recorded, not refused: refusing would strand the citizen's matter.
        self._signed_for(unit=unit, at=at, late=at > self.sign_for_deadline)

    def bounce_back(self, *, unit: str, reason: str, at: datetime) -> None:
        """退单: "not ours", with a reason; the platform must then decide."""
        check_aware(at)
        if unit in self.co_units and unit != self.assignee:
            raise BounceBackNotAllowedError(
                unit, "named as a co-handling unit by a coordination decision"
            )
        self.check_assignee(unit, "bounce back")
        if self.state in WORKING:
            raise BounceBackNotAllowedError(
                unit, "it has signed for the ticket (首接首办); ask for a transfer"
            )
        self.check_state("bounce back", DispatchState.ASSIGNED)
        if unit in self.no_bounce_units:
            raise BounceBackNotAllowedError(
                unit, "the platform has already decided that this unit handles it"
            )
        assert self.bounce_back_deadline is not None
        if at > self.bounce_back_deadline:
            raise BounceBackWindowClosedError(unit, self.bounce_back_deadline, at)
        check_reason("bounce back", reason)
        self._bounced_back(unit=unit, reason=reason, at=at)

    def request_transfer(self, *, unit: str, to_unit: str, reason: str, at: datetime) -> None:
        check_aware(at)
        self.check_assignee(unit, "ask for a transfer")
        self.check_state("ask for a transfer", *WORKING)
        if self.pending_transfer is not None:
            raise TransferPendingError(self.pending_transfer["to_unit"])
        if to_unit == unit:
            raise IllegalTransitionError("ask for a transfer to itself", self.state.value)
        check_reason("ask for a transfer", reason)
        self._transfer_requested(unit=unit, to_unit=to_unit, reason=reason, at=at)

    def note_progress(self, *, unit: str, note: str, at: datetime) -> None:
        """办理进展, by the holding unit or, under coordination, a co-handling unit."""
        check_aware(at)
        if unit not in self.co_units:
            self.check_assignee(unit, "add a progress note")
            self.check_state("add a progress note", *WORKING)
        else:
            self.check_state("add a progress note", *BEFORE_REPLY)
        check_reason("a progress note", note)
        self._progress_noted(unit=unit, note=note, at=at)

    def reply(self, *, unit: str, reply: str, at: datetime, outcome: str = "resolved",
              expected_by: date | None = None) -> None:
        """答复. `expected_by`: the day a `needs_longer` matter is expected done (required
        there, refused with any other outcome)."""
        check_aware(at)
        if outcome not in REPLY_OUTCOMES:
            raise InvalidReplyOutcomeError(outcome, REPLY_OUTCOMES)
        if outcome == NEEDS_LONGER and expected_by is None:
            raise InvalidExpectedDateError(
                "a needs_longer reply must say when the matter is expected done (expected_by)")
        if outcome != NEEDS_LONGER and expected_by is not None:
            raise InvalidExpectedDateError(
                f"expected_by goes with a needs_longer reply, not with {outcome!r}")
        if expected_by is not None and expected_by < at.astimezone(CITY_TIME).date():
            raise InvalidExpectedDateError(
                f"expected_by {expected_by.isoformat()} is already past")
        self.check_assignee(unit, "reply")
        self.check_state("reply", *WORKING)
        check_reason("a reply", reply)
        self._replied(unit=unit, reply=reply, at=at, outcome=outcome,
                      expected_by=expected_by.isoformat() if expected_by else None)

    def request_extension(self, *, unit: str, working_days: int, reason: str, at: datetime) -> None:
        """延期申请: the holding unit asks for more time; sla decides (DeadlineExtended/Refused)."""
        check_aware(at)
        if not 1 <= working_days <= MAX_EXTENSION_WORKING_DAYS:
            raise InvalidExtensionError(
                f"an extension is 1 to {MAX_EXTENSION_WORKING_DAYS} working days, not {working_days}"
            )
        self.check_assignee(unit, "ask for an extension")
        self.check_state("ask for an extension", *BEFORE_REPLY)
        check_reason("ask for an extension", reason)
        self._extension_requested(unit=unit, working_days=working_days, reason=reason, at=at)

    # --- facts from other services ---

    def note_request(
        self,
        *,
        channel: str,
        title_masked: str,
        text_masked: str,
        category_hint: str,
        place: dict[str, Any],
        at: datetime,
    ) -> None:
        """Keep what routing and the units need of the (already masked) submission; once."""
        check_aware(at)
        if self.request is not None:
            return
        self._request_noted(
            channel=channel,
            title_masked=title_masked,
            text_masked=text_masked,
            category_hint=category_hint,
            place=dict(place),
            at=at,
        )

    def queue_for_dispatcher(
        self,
        *,
        reason: str,
        at: datetime,
        suggested_unit: str | None = None,
        confidence: float = 0.0,
        queue: str = "unrouted",
    ) -> None:
        """No confident route: a person decides (the ticket stays with the platform)."""
        check_aware(at)
        self.check_not_following("queue for a dispatcher")
        self.check_state("queue for a dispatcher", DispatchState.AWAITING_DISPATCH)
        check_reason("queue for a dispatcher", reason)
        self._queued(
            reason=reason,
            suggested_unit=suggested_unit,
            confidence=float(confidence),
            queue=queue,
            at=at,
        )

    def merge_into_case(
        self, *, case_id: str, primary_ticket_id: str, primary_code: str, at: datetime,
        merge_event_id: str = "",
    ) -> None:
        """并单: follow the case's primary ticket; a unit holding this one no longer handles it.
        Taken, it is said (CaseMergeTaken, naming `merge_event_id`, the TicketMergedIntoCase):
        feedback answers the ticket with its case only then."""
        check_aware(at)
        if self.following is not None:
            raise IllegalTransitionError("merge a ticket already merged into a case", "merged")
        if primary_ticket_id == self.ticket_id:
            raise IllegalTransitionError("merge a ticket into its own case", self.state.value)
        self.check_state("merge into a case", *MERGEABLE)
        self._merged_into_case(
            case_id=case_id, primary_ticket_id=primary_ticket_id, primary_code=primary_code, at=at,
            merge_event_id=merge_event_id,
        )

    def refuse_merge(
        self,
        *,
        case_id: str,
        primary_ticket_id: str,
        primary_code: str,
        merge_event_id: str,
        at: datetime,
    ) -> bool:
        """并单 refused for the ticket's own state: its unit replied (waiting for review, or
        accepted) or it is closed, so it is handled on its own and its citizen gets its own
        answer. Recorded (CaseMergeRefused: intake undoes the merge) once per merge fact;
        returns whether it was recorded now. Not for a merge this ticket could take (raises
        nothing, records nothing: `merge_into_case` takes it), nor for one refused for
        another reason: a ticket already following a case (intake unmerges a ticket before
        it merges it again, in the ticket's own order, so dispatch following another case
        means a fact missing, which an undo would not mend; and the same case again is a
        dispatcher's confirmation of an automatic merge), nor one into its own case."""
        check_aware(at)
        if (self.following is not None or primary_ticket_id == self.ticket_id
                or self.state in MERGEABLE):
            return False
        if merge_event_id in (getattr(self, "refused_merges", None) or {}):
            return False
        held = self.replied_by or self.assignee
        reason = (f"并单未生效：工单{self.ticket_code}" + (f"已由{held}答复" if held else "")
                  + f"（调度状态 {self.state.value}），不能再随主诉求{primary_code}办理，"
                  "仍单独办理、单独答复")
        self._case_merge_refused(
            case_id=case_id, primary_ticket_id=primary_ticket_id, primary_code=primary_code,
            reason=reason, merge_event_id=merge_event_id, at=at)
        return True

    def unmerge_from_case(self, *, case_id: str, reason: str, at: datetime) -> None:
        check_aware(at)
        if self.following is None or self.following["case_id"] != case_id:
            raise IllegalTransitionError(f"unmerge from case {case_id}", "not merged into it")
        self._unmerged_from_case(case_id=case_id, reason=reason or "unmerged", at=at)

    @property
    def urgency(self) -> str | None:
        """The urgency grade of the current classification (None before one)."""
        return (self.classification or {}).get("urgency")

    @property
    def needs_routing(self) -> bool:
        """Waiting for its first (or, after a reopen or unmerge, next) route, not yet queued."""
        return (
            self.state is DispatchState.AWAITING_DISPATCH
            and self.following is None
            and self.queued is None
        )

    # --- invariants ---

    def check_state(self, action: str, *allowed: DispatchState) -> None:
        if self.state not in allowed:
            raise IllegalTransitionError(action, self.state.value)

    def check_assignee(self, unit: str, action: str) -> None:
        if unit != self.assignee:
            raise NotAssignedToUnitError(unit, action, self.assignee)

    def check_not_following(self, action: str) -> None:
        if self.following is not None:
            raise FollowingCaseError(action, self.following["primary_code"])

    def check_not_closed(self, action: str) -> None:
        if self.state is DispatchState.CLOSED:
            raise IllegalTransitionError(action, self.state.value)
