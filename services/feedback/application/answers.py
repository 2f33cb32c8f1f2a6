"""Builds the notices that answer the citizen, from a stored ReplyDelivered event.

Pure given its inputs (templates, secret, event, the record's state at that event): the relay
may publish an event twice, and must then send the same notices with the same ids and the
same rating token. The token id is derived from the ticket and the reply round, and the token
is issued at the reply's delivery time, for that reason (an Ed25519 signature is
deterministic); the signature needs feedback's rating-link key, so a derived id gives nothing
away.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from backbone import auth
from services.feedback.adapters.registry import Registry
from services.feedback.domain.answer import (
    AcceptedReply,
    AnswerTemplates,
    CitizenNotice,
    ReplyOutcome,
    compose_answer,
)
from services.feedback.domain.errors import FeedbackError
from services.feedback.domain.rating import TicketFeedback, issue_rating_token
from services.feedback.domain.tokens import short_form

log = logging.getLogger(__name__)

DELAY_EXPLAINED = "TicketFeedback.DelayExplained"
CITY_TIME = ZoneInfo("Asia/Shanghai")
TOKEN_NAMESPACE = uuid.UUID("3c9e0f4a-61d2-4f0b-9b7e-0a5d2c8e7f13")
FALLBACK_CHANNEL = "web"
# dispatch's reply outcomes -> what the citizen is told
_OUTCOMES = {
    "resolved": ReplyOutcome.RESOLVED,
    "explained": ReplyOutcome.EXPLAINED,
    "needs_longer": ReplyOutcome.NEEDS_LONGER,
    "not_allowed_by_policy": ReplyOutcome.NOT_ALLOWED_BY_POLICY,
}


def token_id_for(ticket_id: str, reply_round: int) -> str:
    return uuid.uuid5(TOKEN_NAMESPACE, f"{ticket_id}:{reply_round}").hex[:16]


def rating_token_of(issuer: auth.Issuer, state: TicketFeedback, due: datetime,
                    issued_at: datetime) -> str:
    """The rating link's token for the record's current reply round (deterministic: the
    notices and the expansion of a short link make the same one)."""
    return issue_rating_token(
        issuer, ticket_id=state.ticket_id, ticket_code=state.ticket_code, expires_at=due,
        issued_at=issued_at, reply_round=state.reply_round,
        token_id=token_id_for(state.ticket_id, state.reply_round))


def explanation_of(reply: str, limit: int = 60) -> str:
    """The unit's reply is its explanation; the first sentence says why, briefly."""
    first = re.split(r"[。！!；;\n]", reply.strip(), maxsplit=1)[0]
    return first[:limit]


@dataclass(frozen=True)
class AnswerComposer:
    templates: AnswerTemplates
    registry: Registry
    link_issuer: auth.Issuer  # feedback's rating-link key (kid rating-link-...)
    rating_url_base: str

    def rating_token(self, state: TicketFeedback, due: datetime, issued_at: datetime) -> str:
        return rating_token_of(self.link_issuer, state, due, issued_at)

    def notices(self, state: TicketFeedback, event: object) -> list[CitizenNotice]:
        """The notices for a delivered reply; [] (and an error log) if none can be built."""
        reply_text: str = getattr(event, "reply_text", "") or ""
        # a DelayExplained (needs longer, accepted as an interim answer) asks for no rating
        interim = type(event).__qualname__ == DELAY_EXPLAINED
        delivered: datetime = event.delivered_at  # type: ignore[attr-defined]
        due: datetime = delivered if interim else event.rating_due_at  # type: ignore[attr-defined]
        expected: datetime | None = getattr(event, "expected_by", None)
        outcome = _OUTCOMES.get(event.reply_outcome, ReplyOutcome.RESOLVED)  # type: ignore[attr-defined]
        channel = state.channel if state.channel in self.templates.channels else FALLBACK_CHANNEL
        citizen = state.citizen_ids[0] if state.citizen_ids else ""
        reply = AcceptedReply(
            ticket_id=state.ticket_id, ticket_code=state.ticket_code,
            citizen_ref="" if citizen.startswith("anonymous:") else citizen, channel=channel,
            unit_name=self.registry.unit_name(event.unit_code),  # type: ignore[attr-defined]
            outcome=outcome.value, reply_text=reply_text,
            explanation=explanation_of(reply_text) or "详见答复内容",
            expected_by=expected.astimezone(CITY_TIME).date() if expected else None,
            expected_by_unknown=True)
        token = "" if interim else self.rating_token(state, due, delivered)
        try:
            return compose_answer(
                reply, templates=self.templates, rating_token=token,
                rating_ref=short_form(token, ticket_code=state.ticket_code,
                                      reply_round=state.reply_round) if token else "",
                rating_url_base=self.rating_url_base, rating_deadline=due,
                composed_at=delivered, interim=interim)
        except FeedbackError as exc:
            log.error("cannot compose the answer for %s: %s", state.ticket_code, exc.reason)
            return []
