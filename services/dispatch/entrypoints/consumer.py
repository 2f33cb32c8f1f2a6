"""The lifecycle consumer: which upstream facts dispatch applies (a table, as data)."""

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
