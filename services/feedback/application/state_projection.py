"""Refreshes `feedback_state` and `follows` from the aggregates the own log says changed.

Refreshing a row from the aggregate's current state (rather than replaying each event into
it) is idempotent and indifferent to order: whatever batch of events arrives, the row ends
equal to the aggregate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.application import Application

from services.feedback.adapters.read_models import (
    FeedbackStateRow,
    replace_follows,
    upsert_feedback_state,
)
from services.feedback.domain.callbacks import CallbackCandidate
from services.feedback.domain.followers import Follower
from services.feedback.domain.rating import FeedbackStatus, TicketFeedback


def state_row(feedback: TicketFeedback) -> FeedbackStateRow:
    candidate = CallbackCandidate.of(feedback)
    waiting = feedback.status is FeedbackStatus.AWAITING_RATING
    return FeedbackStateRow(
        ticket_id=feedback.ticket_id, feedback_id=feedback.id, ticket_code=feedback.ticket_code,
        unit=feedback.unit_code, channel=feedback.channel, status=feedback.status.value,
        reply_round=feedback.reply_round, verdict=candidate.verdict,
        reopen_count=feedback.reopen_count, already_called=candidate.already_called,
        rating_due_at=feedback.rating_due_at if waiting else None,
        updated_at=feedback.modified_on)


def projector(app: Application, schema: str) -> Callable[[list[Any], psycopg.Cursor[Any]], None]:
    def apply(events: list[Any], cur: psycopg.Cursor[Any]) -> None:
        kinds: dict[Any, str] = {}
        for e in events:
            kinds[e.originator_id] = type(e).__qualname__.split(".")[0]
        rows = []
        for aggregate_id, kind in kinds.items():
            if kind == TicketFeedback.__name__:
                rows.append(state_row(app.repository.get(aggregate_id)))
            elif kind == Follower.__name__:
                follower: Follower = app.repository.get(aggregate_id)
                replace_follows(cur, schema, follower.follower_id, follower.role.value,
                                follower.following)
        upsert_feedback_state(cur, schema, rows)

    return apply
