"""What feedback does with other services' lifecycle events (aggregate mode).

Which event type goes to which handler: the table in application/handlers.py. Every handler
tolerates facts about
tickets it has not seen (a consumer may start after the topic's retention dropped a ticket's
beginning) and redelivered or out-of-place facts: those change nothing.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from backbone.consumer import UnitOfWork
from backbone.events import DecodedEvent
from backbone.public_privacy import mask_for_public
from services.feedback.adapters.read_models import FeedbackStateRow
from services.feedback.application.app import anonymous_citizen
from services.feedback.application.state_projection import batch_state_statement, state_row
from services.feedback.domain.case_links import CaseLinks
from services.feedback.domain.policy import FeedbackPolicy
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback

log = logging.getLogger(__name__)
NEEDS_LONGER = "needs_longer"
CITY_TIME = ZoneInfo("Asia/Shanghai")
HOTLINE_UNIT = "city"  # the master platform (the "1" of 1+8+N) answers on the spot


# of these ids, the ones the store holds (one statement for a batch's first sights)
Stored = Callable[[list[UUID]], set[UUID]]


def _looked_for(d: DecodedEvent) -> Iterable[UUID]:
    """The records and case links the handlers look up for `d`."""
    event_type = d.event_type
    if event_type in ("TicketSubmitted", "TicketAnsweredOnSpot"):
        yield TicketFeedback.create_id(d.ticket_id)
    elif event_type == "ReplyReviewed" and d.payload.accepted:
        yield TicketFeedback.create_id(d.ticket_id)
        yield CaseLinks.create_id(d.ticket_id)
    elif event_type in ("TicketMergedIntoCase", "CaseMergeRefused") and (
            d.payload.primary_ticket_id):
        yield CaseLinks.create_id(d.payload.primary_ticket_id)
    elif event_type == "CaseMergeTaken" and d.payload.primary_ticket_id:
        yield CaseLinks.create_id(d.payload.primary_ticket_id)
        yield TicketFeedback.create_id(d.payload.primary_ticket_id)
        yield TicketFeedback.create_id(d.ticket_id)


@dataclass(frozen=True)
class Upstream:
    policy: FeedbackPolicy
    # the schema of feedback's read models: a record the batch opens or answers has its
    # `feedback_state` row written in the batch's transaction (None: not written here)
    schema: str | None = None
    # `stored` (optional): asked once per batch which of the ids its handlers will look up,
    # and the consumer's cache does not know, exist; the others are not read one by one (a
    # new ticket's record and a reply's case links were a "not found" read each)
    stored: Stored | None = None
    _absent: weakref.WeakKeyDictionary[UnitOfWork, set[UUID]] = field(
        default_factory=weakref.WeakKeyDictionary, compare=False, repr=False)
    # a batch's feedback_state rows, by ticket (`_keep`)
    _rows: weakref.WeakKeyDictionary[UnitOfWork, dict[str, FeedbackStateRow]] = field(
        default_factory=weakref.WeakKeyDictionary, compare=False, repr=False)

    def _get(self, uow: UnitOfWork, aggregate_id: UUID) -> Any | None:
        """`uow.get`, except for an id the batch's first look found nowhere (and the batch
        has not made since)."""
        if aggregate_id not in uow.aggregates and aggregate_id in self._absent_in(uow):
            return None
        return uow.get(aggregate_id)

    def _absent_in(self, uow: UnitOfWork) -> set[UUID]:
        absent = self._absent.get(uow)
        if absent is None:
            absent = set()
            if self.stored is not None:
                known = uow.cache.entries if uow.cache is not None else {}
                ids = list(dict.fromkeys(i for d in uow.batch for i in _looked_for(d)
                                         if i not in known))
                if ids:
                    absent = set(ids) - self.stored(ids)
            self._absent[uow] = absent
        return absent

    def _open(self, d: DecodedEvent, *, channel: str = "", citizen: str = "",
              category: str = "") -> TicketFeedback:
        return TicketFeedback.open(
            ticket_id=d.ticket_id, ticket_code=d.envelope.ticket_code,
            citizen_ids=[citizen or anonymous_citizen(d.ticket_id)], channel=channel,
            category=category, policy=self.policy, at=d.occurred_at)

    def ticket_submitted(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """Open the ticket's feedback record (the hall row comes from the hall projection)."""
        if self._get(uow, TicketFeedback.create_id(d.ticket_id)) is not None:
            return
        p = d.payload
        self._keep(uow, self._open(d, channel=p.channel, citizen=p.citizen_pseudonym,
                                   category=p.category_hint))

    def ticket_merged(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """Remember, on the case's primary ticket, that this ticket may be owed its answer:
        pending until dispatch takes this merge (`merge_taken`). Intake decided the merge on
        a read model that lags dispatch, which refuses the merge of a ticket its unit
        replied to already; a notice cannot be taken back."""
        p = d.payload
        if not p.primary_ticket_id or p.primary_ticket_id == d.ticket_id:
            return
        links = self._get(uow, CaseLinks.create_id(p.primary_ticket_id))
        if links is None:
            links = CaseLinks(primary_ticket_id=p.primary_ticket_id, timestamp=d.occurred_at)
        links.link(ticket_id=d.ticket_id, ticket_code=d.envelope.ticket_code,
                   case_id=p.case_id, at=d.occurred_at, merge_event_id=d.event_id)
        uow.add(links)

    def merge_taken(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """CaseMergeTaken (dispatch, on the linked ticket's partition): the link is owed the
        case's answer from now on. The primary's answer may have been applied before this
        (another partition): then it is owed now. Either order of the two ends with the
        ticket answered once: the answer delivered after the take goes to taken links only."""
        p = d.payload
        if not p.primary_ticket_id or p.primary_ticket_id == d.ticket_id:
            return
        links = self._get(uow, CaseLinks.create_id(p.primary_ticket_id))
        if links is None or not links.take(ticket_id=d.ticket_id,
                                           merge_event_id=p.merge_event_id, at=d.occurred_at):
            log.info("merge of %s into case %s taken by dispatch: no link pending on it "
                     "(a copy, or unmerged since); nothing to do", d.ticket_id, p.case_id)
            return
        uow.add(links)
        primary = self._get(uow, TicketFeedback.create_id(p.primary_ticket_id))
        if primary is not None and primary.delay_in_force:  # told why it takes longer
            self._explain_delay_to(uow, d, d.ticket_id, d.envelope.ticket_code,
                                   unit=primary.unit_code, reply=primary.delay_text,
                                   expected_by=primary.expected_by)
        elif primary is not None and primary.reply_round > 0:
            self._deliver_to(uow, d, d.ticket_id, d.envelope.ticket_code,
                             unit=primary.unit_code, outcome=primary.reply_outcome,
                             reply=primary.reply_text)

    def merge_refused(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """CaseMergeRefused (dispatch): the ticket is answered on its own; its link, pending
        on that merge, goes at once (intake's TicketUnmergedFromCase follows later)."""
        p = d.payload
        if not p.primary_ticket_id:
            return
        links = self._get(uow, CaseLinks.create_id(p.primary_ticket_id))
        if links is not None and links.refuse(ticket_id=d.ticket_id,
                                              merge_event_id=p.merge_event_id,
                                              reason=p.reason or "调度拒绝并单",
                                              at=d.occurred_at):
            uow.add(links)

    def ticket_unmerged(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        p = d.payload
        links = uow.get(CaseLinks.create_id(p.primary_ticket_id))
        if links is not None:
            links.unlink(ticket_id=d.ticket_id, reason=p.reason, at=d.occurred_at)
            uow.add(links)

    def reply_reviewed(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """An accepted reply is delivered to the ticket's citizen and to every linked one."""
        p = d.payload
        if not p.accepted:
            return  # sent back to the unit: nothing for the citizen yet
        # 需较长时间办理: an interim answer (why, by when), told without a rating; the unit
        # keeps the ticket and its final reply is delivered as the answer
        deliver = self._explain_delay if _is_interim(p) else self._deliver
        deliver(d, uow, d.ticket_id, d.envelope.ticket_code)
        links = self._get(uow, CaseLinks.create_id(d.ticket_id))
        # taken links only: one dispatch has not taken yet is answered when it is
        for linked_id, linked_code in sorted((links.taken if links else {}).items()):
            own = uow.context
            uow.context = replace(own, ticket_id=linked_id, ticket_code=linked_code)
            try:
                deliver(d, uow, linked_id, linked_code)
            finally:
                uow.context = own

    def _explain_delay(self, d: DecodedEvent, uow: UnitOfWork, ticket_id: str,
                       code: str) -> None:
        p = d.payload
        self._explain_delay_to(uow, d, ticket_id, code, unit=p.unit,
                               reply=mask_for_public(p.reply_masked),
                               expected_by=expected_day(p.expected_by))

    def _explain_delay_to(self, uow: UnitOfWork, d: DecodedEvent, ticket_id: str, code: str,
                          *, unit: str, reply: str, expected_by: datetime | None) -> None:
        feedback = self._get(uow, TicketFeedback.create_id(ticket_id))
        if feedback is None:  # never saw it submitted: still tell, through no known channel
            feedback = self._open(replace(d, envelope=_with(d.envelope, ticket_id, code)))
        if feedback.status is not FeedbackStatus.AWAITING_REPLY:
            log.info("needs-longer notice while the ticket is %s; nothing to deliver",
                     feedback.status.value)
            return
        if (feedback.delay_in_force and feedback.delay_text == reply
                and feedback.expected_by == expected_by):
            return  # told this already (the merge read again, or merged, undone, merged)
        feedback.explain_delay(unit_code=unit, delivered_at=d.occurred_at, reply_text=reply,
                               expected_by=expected_by)
        self._keep(uow, feedback)

    def answered_on_spot(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """解惑: the hotline answered the question during the call (intake's
        TicketAnsweredOnSpot, decided instead of accepted, so nothing was dispatched). That
        answer is the reply, from the master platform, 解释说明: the citizen is told and may
        rate it, as after any reply."""
        self._deliver_to(uow, d, d.ticket_id, d.envelope.ticket_code, unit=HOTLINE_UNIT,
                         outcome="explained", reply=mask_for_public(d.payload.answer_masked))

    def _deliver(self, d: DecodedEvent, uow: UnitOfWork, ticket_id: str, code: str) -> None:
        p = d.payload
        self._deliver_to(uow, d, ticket_id, code, unit=p.unit, outcome=p.outcome or "resolved",
                         # masked again: a name the upstream masker missed ("王秀英女士")
                         # must not reach the citizen.notices topic or the ledger
                         reply=mask_for_public(p.reply_masked))

    def _deliver_to(self, uow: UnitOfWork, d: DecodedEvent, ticket_id: str, code: str, *,
                    unit: str, outcome: str, reply: str) -> None:
        feedback = self._get(uow, TicketFeedback.create_id(ticket_id))
        if feedback is None:  # never saw it submitted: still answer, through no known channel
            log.warning("reply for a ticket feedback never saw submitted; opening it now")
            feedback = self._open(replace(d, envelope=_with(d.envelope, ticket_id, code)))
        if feedback.status is not FeedbackStatus.AWAITING_REPLY:
            log.info("accepted reply while the ticket is %s; nothing to deliver",
                     feedback.status.value)
            return
        feedback.deliver_reply(unit_code=unit, reply_outcome=outcome,
                               delivered_at=d.occurred_at, reply_text=reply)
        self._keep(uow, feedback)

    def _keep(self, uow: UnitOfWork, feedback: TicketFeedback) -> None:
        """Save the record with the batch, and its `feedback_state` row in the same
        transaction. The batch's rows go as ONE statement, each record's row as of its last
        change in the batch (was a statement per change): its JSON parameter is written when
        the batch's transaction runs, from the rows as they are then."""
        uow.add(feedback)
        if self.schema is None:
            return
        rows = self._rows.get(uow)
        if rows is None:
            rows = self._rows[uow] = {}
            uow.execute(batch_state_statement(self.schema, rows))
        rows[feedback.ticket_id] = state_row(feedback)


def _is_interim(payload: Any) -> bool:
    """An accepted needs_longer reply (dispatch keeps the ticket with its unit)."""
    return bool(payload.interim) or payload.outcome == NEEDS_LONGER


def expected_day(text: str) -> datetime | None:
    """ReplyReviewed's `expected_by` (YYYY-MM-DD, a day in the city) as its first moment."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return datetime.combine(day, time(), tzinfo=CITY_TIME)


def _with(envelope: Any, ticket_id: str, code: str) -> Any:
    copy = type(envelope)()
    copy.CopyFrom(envelope)
    copy.ticket_id, copy.ticket_code = ticket_id, code
    return copy
