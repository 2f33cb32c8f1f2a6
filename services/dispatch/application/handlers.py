"""Dispatch's handler table: which lifecycle event types the dispatch consumer applies, and
with what (application/upstream.py). The table is also the consumer's interest: every other
type is skipped unread (never decoded, no row written; see backbone/consumer.py)."""

from __future__ import annotations

from backbone.consumer import Handlers
from services.dispatch.application.upstream import UpstreamFacts


def handlers(facts: UpstreamFacts) -> Handlers:
    return Handlers({
        "TicketSubmitted": facts.submitted,  # intake: keep what routing needs
        "TicketAccepted": facts.accepted,  # intake: classify, route, assign or queue
        "TicketMergedIntoCase": facts.merged,  # intake: follow the case's primary ticket
        "TicketUnmergedFromCase": facts.unmerged,  # intake: dispatch it on its own
        "TicketReopened": facts.reopened,  # feedback: 重办, same code, next assignment
    })
