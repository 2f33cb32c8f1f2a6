"""The feedback service's eventsourcing application and what its handlers share.

eventsourcing (not faust) because the feedback record has invariants that must hold under
concurrency: one rating per citizen per reply round, one use per rating link, reopen only
when confirmed, escalation once. Optimistic concurrency on the aggregate's version enforces
them across HTTP requests, the consumer and the timer loop alike.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application

from services.feedback.domain.rating import TicketFeedback


class FeedbackApplication(Application):
    name = "feedback"


def anonymous_citizen(ticket_id: str) -> str:
    """The citizen id of an anonymous ticket: whoever holds its rating link may rate it."""
    return f"anonymous:{ticket_id}"


def feedback_id(ticket_id: str) -> UUID:
    return TicketFeedback.create_id(ticket_id)
