"""Refreshes `feedback_state` and `follows` from the aggregates the own log says changed.

Refreshing a row from the aggregate's state (rather than replaying each event into it) is
idempotent: whatever batch of events arrives, the row ends equal to the aggregate as of the
batch's last event or later. That state comes from a fold of the events the projection reads
(application/state_fold.py), not from a store read per aggregate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg.types.json import Jsonb

from backbone.store import Statement
from services.feedback.adapters.read_models import (
    FeedbackStateRow,
    feedback_state_statement,
    follows_statements,
    replace_follows,
    state_rows_json,
    state_rows_sql,
    upsert_feedback_state,
)
from services.feedback.application.state_fold import StateFold
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


def read_model_writes(schema: str, aggregates: Iterable[Any]) -> list[Statement]:
    """The `feedback_state` rows and follows of the records and followers among
    `aggregates`, as they are now: for the transaction that saves them."""
    rows, out = [], []
    for aggregate in aggregates:
        if isinstance(aggregate, TicketFeedback):
            rows.append(state_row(aggregate))
        elif isinstance(aggregate, Follower):
            out.extend(follows_statements(schema, aggregate.follower_id, aggregate.role.value,
                                          aggregate.following))
    state = feedback_state_statement(schema, rows)
    return [state, *out] if state is not None else out


def batch_state_statement(schema: str, rows: dict[str, FeedbackStateRow]) -> Statement:
    """The `feedback_state` upsert of ``rows`` (ticket id -> row) as they are when the
    transaction runs, not when this is made: a batch adds and replaces rows after queueing
    it, and its ONE statement writes each record's row as of its last change."""
    return Statement(state_rows_sql(schema), (Jsonb(rows.values(), dumps=state_rows_json),))


# the aggregates whose events the catch-up reads (own_log.finish's `wanted`)
PROJECTED = (TicketFeedback.__name__, Follower.__name__)


def projector(app: Application, schema: str) -> Callable[[list[Any], psycopg.Cursor[Any]], None]:
    states = StateFold(lambda oid, version: app.repository.get(oid))

    def apply(events: list[Any], cur: psycopg.Cursor[Any]) -> None:
        latest: dict[Any, Any] = {}
        for e in events:
            if type(e).__qualname__.split(".", 1)[0] in PROJECTED:
                latest[e.originator_id] = states.latest(e)
        rows = []
        for aggregate in latest.values():
            if isinstance(aggregate, TicketFeedback):
                rows.append(state_row(aggregate))
            elif isinstance(aggregate, Follower):
                replace_follows(cur, schema, aggregate.follower_id, aggregate.role.value,
                                aggregate.following)
        upsert_feedback_state(cur, schema, rows)

    return apply
