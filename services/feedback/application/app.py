"""The feedback service's eventsourcing application and what its handlers share.

eventsourcing (not faust) because the feedback record has invariants that must hold under
concurrency: one rating per citizen per reply round, one use per rating link, reopen only
when confirmed, escalation once. Optimistic concurrency on the aggregate's version enforces
them across HTTP requests, the consumer and the timer loop alike.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoder

from backbone.transcoder import StoredStateReader, StoredStateTranscoder
from services.feedback.domain.rating import TicketFeedback


class FeedbackApplication(Application):
    name = "feedback"

    def construct_transcoder(self) -> Transcoder:
        """The environment's transcoder; backbone's StoredStateTranscoder (every service's)
        as backbone's StoredStateReader: the same bytes written, the stored events read back
        by orjson (the relay decodes every one)."""
        transcoder = self.factory.transcoder()
        if type(transcoder) is StoredStateTranscoder:
            transcoder = StoredStateReader()
        if isinstance(transcoder, JSONTranscoder):
            self.register_transcodings(transcoder)
        return transcoder


def anonymous_citizen(ticket_id: str) -> str:
    """The citizen id of an anonymous ticket: whoever holds its rating link may rate it."""
    return f"anonymous:{ticket_id}"


def feedback_id(ticket_id: str) -> UUID:
    return TicketFeedback.create_id(ticket_id)
