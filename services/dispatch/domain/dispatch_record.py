"""The facts recorded about one ticket's dispatch, and how each one changes its state.

`TicketDispatch` (in `ticket_dispatch`) adds the commands that check the rules and then
record these events. Split in two only to keep each module readable; the event classes'
topics name this class (`dispatch_record:DispatchRecord.<Event>`), so it must not be renamed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.dispatch.domain.lifecycle import HELD_BY_UNIT, DispatchState


class DispatchRecord(Aggregate):
    @staticmethod
    def create_id(ticket_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"minsheng/dispatch/ticket/{ticket_id}")

    @event("DispatchOpened")
    def __init__(self, ticket_id: str, ticket_code: str, opened_at: datetime) -> None:
        self.ticket_id = ticket_id
        self.ticket_code = ticket_code
        self.state = DispatchState.AWAITING_DISPATCH
        self.assignee: str | None = None
        self.assigned_at: datetime | None = None
        self.sign_for_deadline: datetime | None = None
        self.bounce_back_deadline: datetime | None = None
        # The unit that signed for the current assignment: it answers for the reply (首接首办).
        self.first_receiver: str | None = None
        self.lead_unit: str | None = None
        self.co_units: list[str] = []
        self.no_bounce_units: set[str] = set()
        self.pending_transfer: dict[str, Any] | None = None
        self.classification: dict[str, Any] | None = None
        self.awaiting_reason: str | None = "new ticket"
        self.bounce_backs = 0
        self.platform_decisions = 0
        self.reopen_count = 0
        self.notes: list[dict[str, Any]] = []
        self.reply_text: str | None = None
        self.last_bounced_by: str | None = None
        # Added in phase 2 (the running service): what routing and the units need to know.
        self.assignment_no = 0  # +1 for each hand-over to a unit (assign, coordinate, transfer)
        self.request: dict[str, Any] | None = None  # the submission's masked facts
        self.queued: dict[str, Any] | None = None  # why it waits for a dispatcher
        self.following: dict[str, Any] | None = None  # 并单: the case whose primary it follows
        self.withdrawn_from: str | None = None
        self.replied_by: str | None = None
        self.reply_outcome: str | None = None
        self.extensions: list[dict[str, Any]] = []
        self.expected_by: str | None = None  # needs_longer: the day (ISO) it is expected done
        self.interim_answers = 0  # needs_longer replies accepted (the unit kept the ticket)

    # --- events ---

    def _hand_to(
        self,
        unit: str,
        at: datetime,
        sign_for_deadline: datetime,
        bounce_back_deadline: datetime | None,
    ) -> None:
        self.assignee, self.assigned_at = unit, at
        self.assignment_no += 1
        self.queued = None
        self.withdrawn_from = None
        self.sign_for_deadline, self.bounce_back_deadline = sign_for_deadline, bounce_back_deadline
        self.first_receiver = None
        self.pending_transfer = None
        self.awaiting_reason = None
        self.state = DispatchState.ASSIGNED

    @event("Classified")
    def _classified(
        self,
        by: str,
        category: str,
        subcategory: str,
        request_type: str,
        urgency: str,
        confidence: float,
        source: str,
        working_days: int = 0,  # recorded since TicketReclassified; 0 in earlier events
    ) -> None:
        self.classification = {
            "category": category,
            "subcategory": subcategory,
            "request_type": request_type,
            "urgency": urgency,
            "confidence": confidence,
            "source": source,
            "by": by,
        }
        if working_days:
            self.classification["working_days"] = working_days

    @event("Assigned")
    def _assigned(
        self,
        unit: str,
        by: str,
        at: datetime,
        reason: str,
        sign_for_deadline: datetime,
        bounce_back_deadline: datetime,
        overrules_bounce_back: bool,
    ) -> None:
        if self.state is DispatchState.AWAITING_PLATFORM_DECISION:
            self.platform_decisions += 1
        if overrules_bounce_back:
            self.no_bounce_units.add(unit)
        self.lead_unit, self.co_units = None, []
        self._hand_to(unit, at, sign_for_deadline, bounce_back_deadline)

    @event("Coordinated")
    def _coordinated(
        self,
        by: str,
        lead_unit: str,
        co_units: list[str],
        decision: str,
        at: datetime,
        sign_for_deadline: datetime,
    ) -> None:
        if self.state is DispatchState.AWAITING_PLATFORM_DECISION:
            self.platform_decisions += 1
        self.lead_unit, self.co_units = lead_unit, list(co_units)
        self.no_bounce_units.update([lead_unit, *co_units])
        self._hand_to(lead_unit, at, sign_for_deadline, None)

    @event("Transferred")
    def _transferred(
        self,
        by: str,
        from_unit: str | None,
        to_unit: str,
        reason: str,
        at: datetime,
        sign_for_deadline: datetime,
        on_request: bool,
    ) -> None:
        if self.lead_unit == from_unit:  # the lead role moves with the ticket
            self.lead_unit = to_unit
            self.co_units = [u for u in self.co_units if u != to_unit]
        # Moved by the platform: the new unit was chosen, not guessed, so it cannot push it back.
        self.no_bounce_units.add(to_unit)
        self._hand_to(to_unit, at, sign_for_deadline, None)

    @event("TransferRequested")
    def _transfer_requested(self, unit: str, to_unit: str, reason: str, at: datetime) -> None:
        self.pending_transfer = {"unit": unit, "to_unit": to_unit, "reason": reason, "at": at}

    @event("TransferRejected")
    def _transfer_rejected(self, by: str, reason: str, at: datetime) -> None:
        self.pending_transfer = None

    @event("SignedFor")
    def _signed_for(self, unit: str, at: datetime, late: bool) -> None:
        self.state = DispatchState.SIGNED_FOR
        self.first_receiver = unit

    @event("BouncedBack")
    def _bounced_back(self, unit: str, reason: str, at: datetime) -> None:
        self.bounce_backs += 1
        self.last_bounced_by = unit
        self.assignee = None
        self.state = DispatchState.AWAITING_PLATFORM_DECISION
        self.awaiting_reason = f"bounced back by {unit}: {reason}"

    @event("ProgressNoted")
    def _progress_noted(self, unit: str, note: str, at: datetime) -> None:
        self.notes.append({"unit": unit, "note": note, "at": at})
        if unit == self.assignee and self.state is DispatchState.SIGNED_FOR:
            self.state = DispatchState.IN_PROGRESS

    @event("Replied")
    def _replied(self, unit: str, reply: str, at: datetime, outcome: str = "resolved",
                 expected_by: str | None = None) -> None:
        self.reply_text = reply
        self.replied_by, self.reply_outcome = unit, outcome
        self.expected_by = expected_by
        self.pending_transfer = None
        self.state = DispatchState.REPLIED

    @event("ReplyAccepted")
    def _reply_accepted(self, by: str, at: datetime, comment: str,
                        interim: bool = False) -> None:
        if interim:  # needs_longer: told to the citizen; the unit works on to a final reply
            self.interim_answers += 1
            self.state = DispatchState.IN_PROGRESS
        else:
            self.state = DispatchState.REPLY_ACCEPTED

    @event("ReplySentBack")
    def _reply_sent_back(self, by: str, reason: str, at: datetime) -> None:
        self.state = DispatchState.IN_PROGRESS

    @event("Closed")
    def _closed(self, by: str, at: datetime) -> None:
        self.state = DispatchState.CLOSED

    @event("Reopened")
    def _reopened(self, by: str, reason: str, at: datetime) -> None:
        self.reopen_count += 1
        self.assignee = None
        self.lead_unit, self.co_units = None, []
        self.state = DispatchState.AWAITING_DISPATCH
        self.awaiting_reason = f"reopened: {reason}"

    @event("RequestNoted")
    def _request_noted(
        self,
        channel: str,
        title_masked: str,
        text_masked: str,
        category_hint: str,
        place: dict[str, Any],
        at: datetime,
    ) -> None:
        self.request = {
            "channel": channel,
            "title_masked": title_masked,
            "text_masked": text_masked,
            "category_hint": category_hint,
            "place": dict(place),
        }

    @event("QueuedForDispatcher")
    def _queued(
        self, reason: str, suggested_unit: str | None, confidence: float, queue: str, at: datetime
    ) -> None:
        self.queued = {
            "reason": reason,
            "suggested_unit": suggested_unit,
            "confidence": confidence,
            "queue": queue,
        }
        self.awaiting_reason = reason

    @event("MergedIntoCase")
    def _merged_into_case(
        self, case_id: str, primary_ticket_id: str, primary_code: str, at: datetime,
        merge_event_id: str = "",
    ) -> None:
        # `merge_event_id`: the TicketMergedIntoCase taken (its CaseMergeTaken names it); a
        # merge stored before takes were published has none, and was published without one
        self.following = {
            "case_id": case_id,
            "primary_ticket_id": primary_ticket_id,
            "primary_code": primary_code,
        }
        self.withdrawn_from = self.assignee if self.state in HELD_BY_UNIT else None
        self.assignee = None
        self.lead_unit, self.co_units = None, []
        self.pending_transfer = None
        self.queued = None
        self.state = DispatchState.AWAITING_DISPATCH
        self.awaiting_reason = f"merged into case {case_id}: follows {primary_code}"

    @event("CaseMergeRefused")
    def _case_merge_refused(
        self,
        case_id: str,
        primary_ticket_id: str,
        primary_code: str,
        reason: str,
        merge_event_id: str,
        at: datetime,
    ) -> None:
        # the merges refused, by the id of their TicketMergedIntoCase (a copy of one is not
        # refused twice); a record opened before refusals were kept has none
        refused = dict(getattr(self, "refused_merges", None) or {})
        refused[merge_event_id] = case_id
        self.refused_merges = refused

    @event("UnmergedFromCase")
    def _unmerged_from_case(self, case_id: str, reason: str, at: datetime) -> None:
        self.following = None
        self.awaiting_reason = f"unmerged from case {case_id}: {reason}"

    @event("ExtensionRequested")
    def _extension_requested(self, unit: str, working_days: int, reason: str, at: datetime) -> None:
        self.extensions.append(
            {"unit": unit, "working_days": working_days, "reason": reason, "at": at}
        )

