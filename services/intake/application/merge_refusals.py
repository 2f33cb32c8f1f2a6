"""并单 refused by dispatch, undone here (the handler table of the `intake-merge-refusals`
consumer, aggregate mode: the undo commits with the consumer's progress).

A dispatcher's merge is decided on intake's read model (ticket_index), which lags dispatch: a
unit may have replied a moment before. Dispatch then does not merge the ticket and says so
(CaseMergeRefused). Intake undoes the merge as `Merges.undo` does (TicketUnmergedFromCase, by
"dispatch", the reason naming dispatch's refusal), so intake, the workbench, the hall and
analytics say what dispatch does: the ticket is handled on its own and its citizen gets its own
answer. Only the merge dispatch refused is undone: if it was undone already (by hand, or by a
copy of the refusal), or the ticket is in another case by then, or joined the case again since,
nothing happens. Dispatch refuses the unmerge that follows quietly (it never merged the ticket)
and refuses no unmerge with a fact of its own: no ping-pong.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from backbone.consumer import Handlers, UnitOfWork
from backbone.events import DecodedEvent, event_id_for
from backbone.privacy import mask_personal_data
from backbone.store import EventContext
from services.intake.domain.ticket import Case, Ticket

log = logging.getLogger(__name__)
CONSUMER = "intake-merge-refusals"
BY = "dispatch"
# the ticket's stored events that put it in its case, and the one that takes it out
_JOINS = ("Ticket.MergedIntoCase", "Ticket.MergeConfirmed")
_LEAVES = "Ticket.UnmergedFromCase"


def current_merge_ids(app: Any, ticket: Ticket) -> set[str]:
    """The ids of the TicketMergedIntoCase events that put the ticket in its current case (its
    last merge and a confirmation of it): a refusal of an earlier merge, one the ticket left
    since, is not a refusal of this one. Read from the store (a refusal is rare)."""
    ids: set[str] = set()
    for e in app.repository.event_store.get(ticket.id, lte=ticket.version):
        kind = type(e).__qualname__
        if kind == _LEAVES:
            ids = set()
        elif kind in _JOINS:
            ids.add(event_id_for(e.originator_id, e.originator_version))
    return ids


def handlers(app: Any) -> Handlers:
    def refused(d: DecodedEvent, uow: UnitOfWork) -> None:
        p = d.payload
        code = d.envelope.ticket_code
        try:
            ticket_id = Ticket.create_id(code) if code else uuid.UUID(d.ticket_id)
            case_id = uuid.UUID(p.case_id)
        except ValueError:
            log.info("merge refusal of %s names no ticket or case of ours; skipped", d.ticket_id)
            return
        ticket: Ticket | None = uow.get(ticket_id)
        if ticket is None or ticket.case_id != case_id:
            log.info("merge refusal of %s: it is not in case %s (any more); nothing to undo",
                     code or d.ticket_id, p.case_id)
            return
        if p.merge_event_id and p.merge_event_id not in current_merge_ids(app, ticket):
            log.info("merge refusal of %s: it joined case %s again since; not undone",
                     ticket.code, p.case_id)
            return
        case: Case | None = uow.get(case_id)
        if case is None or ticket.code not in case.links or ticket.code == case.primary_code:
            log.info("merge refusal of %s: case %s does not list it; nothing to undo",
                     ticket.code, p.case_id)
            return
        at = d.occurred_at
        reason = mask_personal_data(f"调度拒绝并单：{p.reason}" if p.reason else "调度拒绝并单")
        primary_id = str(case.links[case.primary_code]["ticket_id"])
        case.unlink(code=ticket.code, by=BY, reason=reason, at=at)
        ticket.unmerge(case_id=case.id, reason=reason, at=at, primary_ticket_id=primary_id,
                       by=BY)
        # as Merges.undo's save: the case's events under its primary ticket, the ticket's
        # under its own; both caused by dispatch's refusal
        consumed = uow.context

        def under(ticket_id: str, ticket_code: str) -> EventContext:
            return EventContext(ticket_id=ticket_id, ticket_code=ticket_code,
                                trace_id=consumed.trace_id, causation_id=consumed.causation_id,
                                actor_role="system", actor_id=BY)

        uow.context = under(primary_id, case.primary_code)
        uow.add(case)
        uow.context = under(str(ticket.id), ticket.code)
        uow.add(ticket)
        uow.context = consumed

    return Handlers({"CaseMergeRefused": refused})
