"""SLA's handler table: which lifecycle event types the SLA consumer applies, and with what.

The table is also the consumer's interest: a type not listed here is skipped unread (never
decoded, no row written; see backbone/consumer.py). Each handler fires the ticket's timers that
fell due before the fact's own time, applies the fact (application/upstream.py), and stamps
the ticket's timer index.
"""

from __future__ import annotations

from collections.abc import Callable

from backbone.consumer import Handlers, UnitOfWork
from backbone.events import DecodedEvent
from services.sla.application.firing import TicketBook
from services.sla.application.upstream import Upstream

Handler = Callable[[DecodedEvent, UnitOfWork], None]


def handlers(upstream: Upstream) -> Handlers:
    table: dict[str, Handler] = {
        "TicketAccepted": upstream.ticket_accepted,  # intake: the ticket's grade is known
        "TicketAssigned": upstream.ticket_assigned,  # dispatch: a unit's clock starts
        "TicketReclassified": upstream.reclassified,  # dispatch: the grade corrected by hand
        "AssignmentSignedFor": upstream.signed_for,  # dispatch: the sign-for deadline is met
        "AssignmentBouncedBack": upstream.bounced_back,  # dispatch: the clock goes back
        "AssignmentWithdrawn": upstream.withdrawn,  # dispatch: the clock stops (merged, ...)
        "AssignmentTransferred": upstream.transferred,  # dispatch: the next unit's clock
        "CoordinationDecided": upstream.coordinated,  # dispatch: a disputed ticket's owner
        "AssignmentReplied": upstream.replied,  # dispatch: the reply deadline is met
        "ReplyReviewed": upstream.reply_reviewed,  # dispatch: accepted, or back to the unit
        "ExtensionRequested": upstream.extension_requested,  # dispatch: more working days
        "TicketReopened": upstream.reopened,  # feedback: 重办, a new round's clock
        "PushedToSupervision": upstream.pushed_to_supervision,  # feedback: 督办 by hand
        "TicketClosed": upstream.closed,  # feedback: every clock and order closes
    }
    return Handlers({name: _stamped(handler) for name, handler in table.items()})


def _stamped(handler: Handler) -> Handler:
    def apply(d: DecodedEvent, uow: UnitOfWork) -> None:
        handler(d, uow)
        TicketBook(uow, []).stamp(d.ticket_id)

    apply.__name__ = getattr(handler, "__name__", "handler")
    return apply
