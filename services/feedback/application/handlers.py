"""Feedback's handler tables: which lifecycle event types its two consumers apply, and with what.

A table is also its consumer's interest: a type not listed is skipped unread (never decoded,
no row written; see backbone/consumer.py).
- `decisions` (aggregate mode): the facts that open, link and answer a ticket's feedback.
- `hall` (SQL mode): the event types the public hall or a follower's notification uses, for
  the public hall, followers' notifications and units' remarks; a polled batch is projected at once (each ticket's hall row read and written once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from backbone.consumer import Handlers
from backbone.events import DecodedEvent
from services.feedback.application.hall_projection import hall_event_types
from services.feedback.application.upstream import Upstream


def decisions(upstream: Upstream, observe: Callable[[datetime], None] | None = None) -> Handlers:
    """`observe`: the service clock's (event mode: every consumer moves the watermark, so a
    citizen rating the reply this consumer just delivered is judged at the reply's time, not
    at a watermark the hall consumer has not moved yet)."""
    table: dict[str, Callable[[DecodedEvent, Any], None]] = {
        "TicketSubmitted": upstream.ticket_submitted,  # intake: the channel to answer through
        "TicketMergedIntoCase": upstream.ticket_merged,  # intake: answered with its case
        "TicketUnmergedFromCase": upstream.ticket_unmerged,  # intake: answered on its own
        "CaseMergeTaken": upstream.merge_taken,  # dispatch: the merge taken, the case answers
        "CaseMergeRefused": upstream.merge_refused,  # dispatch: answered on its own
        "ReplyReviewed": upstream.reply_reviewed,  # dispatch: an accepted reply to deliver
        "TicketAnsweredOnSpot": upstream.answered_on_spot,  # intake: 解惑, the answer given
    }
    if observe is not None:
        table = {name: _observing(handler, observe) for name, handler in table.items()}
    return Handlers(table)


def _observing(handler: Callable[[DecodedEvent, Any], None],
               observe: Callable[[datetime], None]) -> Callable[[DecodedEvent, Any], None]:
    def apply(d: DecodedEvent, uow: Any) -> None:
        observe(d.occurred_at)
        handler(d, uow)

    return apply


def hall(projector: Any) -> Handlers:
    """`projector`: entrypoints.hall_consumer.HallProjector (per event, and per batch). The
    event types that change a hall row or that a follower is told of (each has a label in
    `EVENT_LABELS_ZH`); the rest of the catalogue (SLA clock settings, notice delivery
    receipts, ...) is skipped unread."""
    return Handlers({name: projector.project for name in hall_event_types()},
                    batch=projector.project_batch)
