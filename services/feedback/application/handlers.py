"""Feedback's handler tables: which lifecycle event types its two consumers apply, and with what.

A table is also its consumer's interest: a type not listed is skipped unread (never decoded,
no row written; see backbone/consumer.py).
- `decisions` (aggregate mode): the facts that open, link and answer a ticket's feedback.
- `hall` (SQL mode): every event type, for the public hall, followers' notifications and units'
  remarks; a polled batch is projected at once (each ticket's hall row read and written once).
"""

from __future__ import annotations

from typing import Any

from backbone import events
from backbone.consumer import Handlers
from services.feedback.application.upstream import Upstream


def decisions(upstream: Upstream) -> Handlers:
    return Handlers({
        "TicketSubmitted": upstream.ticket_submitted,  # intake: the channel to answer through
        "TicketMergedIntoCase": upstream.ticket_merged,  # intake: answered with its case
        "TicketUnmergedFromCase": upstream.ticket_unmerged,  # intake: answered on its own
        "ReplyReviewed": upstream.reply_reviewed,  # dispatch: an accepted reply to deliver
        "TicketAnsweredOnSpot": upstream.answered_on_spot,  # intake: 解惑, the answer given
    })


def hall(projector: Any) -> Handlers:
    """`projector`: entrypoints.hall_consumer.HallProjector (per event, and per batch)."""
    return Handlers({name: projector.project for name in events.catalogue()},
                    batch=projector.project_batch)
