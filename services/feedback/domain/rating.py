"""`TicketFeedback`: the citizen's judgement of a ticket (好差评, 回访, 重办), event-sourced.

One aggregate per ticket, id derived from the ticket id, so every service instance that hears
about the ticket addresses the same aggregate and a re-delivered Kafka event cannot create a
second one. Life of a ticket here:

    FeedbackOpened → DelayExplained* (needs longer: told, not rated) → ReplyDelivered (round 1)
        → TicketRated | MarkedUnrated
        → CallbackRecorded* → TicketReopened (→ EscalatedToSupervision) → ReplyDelivered (round 2) …
        → TicketClosed

Checks live in the public command methods; the `@event` methods only mutate, so replaying
stored events never re-runs a time-dependent check.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.feedback.domain.errors import (
    AlreadyRatedError,
    CallbackOutcomeError,
    CallbackPendingError,
    CommentTooLongError,
    FeedbackClosedError,
    InvalidRatingTokenError,
    NotAwaitingRatingError,
    NotDissatisfiedError,
    NotTheTicketsCitizenError,
    RatingWindowClosedError,
    RatingWindowOpenError,
    ReplyRoundError,
    StaleRatingTokenError,
    UnresolvedNotConfirmedError,
)
from services.feedback.domain.policy import FeedbackPolicy
from services.feedback.domain.satisfaction import (
    RatingVia,
    Verdict,
    effective_verdict,
    parse_rating,
)
from services.feedback.domain.tokens import (
    RatingTokenClaims,
    issue_rating_token,
    verify_rating_token,
)

# Re-exported: the rating link is part of the rating story.
__all__ = [
    "FeedbackStatus",
    "ReopenConfirmation",
    "TicketFeedback",
    "issue_rating_token",
    "verify_rating_token",
]

FEEDBACK_NAMESPACE = uuid.UUID("5d0c7a52-6a55-4c57-9a0c-5f2f4c1e1b2a")


@functools.lru_cache(maxsize=8192)
def _record_id(ticket_id: str) -> UUID:
    """A ticket's record id (a name-based uuid: the same every time; a ticket's is asked for
    several times along its way: the consumer's lookups, the relay's fold, the rating)."""
    return uuid.uuid5(FEEDBACK_NAMESPACE, f"ticket-feedback:{ticket_id}")


class FeedbackStatus(StrEnum):
    AWAITING_REPLY = "awaiting_reply"  # opened, or reopened and back with dispatch
    AWAITING_RATING = "awaiting_rating"
    RATED = "rated"
    UNRATED = "unrated"
    CLOSED = "closed"


class ReopenConfirmation(StrEnum):
    CALLBACK = "callback"  # a reached callback answered "not resolved"
    STAFF = "staff"  # a staff member checked and confirmed it (e.g. site visit, unit's own record)


_JUDGEABLE = (FeedbackStatus.AWAITING_RATING, FeedbackStatus.RATED, FeedbackStatus.UNRATED)


class TicketFeedback(Aggregate):
    @staticmethod
    def create_id(ticket_id: str) -> UUID:
        return _record_id(ticket_id)

    @event("FeedbackOpened")
    def __init__(
        self,
        *,
        ticket_id: str,
        ticket_code: str,
        citizen_ids: list[str],
        channel: str,
        category: str,
        rating_window_days: int,
        max_reopens: int,
        comment_max_chars: int,
        timestamp: datetime | None = None,
    ) -> None:
        # Policy figures are copied into the created event so that replaying an old ticket
        # gives the same answers even after the policy file changes.
        self.ticket_id = ticket_id
        self.ticket_code = ticket_code
        self.citizen_ids = list(citizen_ids)
        self.channel = channel
        self.category = category
        self.rating_window_days = rating_window_days
        self.max_reopens = max_reopens
        self.comment_max_chars = comment_max_chars
        self.status = FeedbackStatus.AWAITING_REPLY
        self.unit_code = ""
        self.reply_round = 0
        self.reply_outcome = ""
        self.reply_text = ""
        self.expected_by: datetime | None = None
        self.rating_due_at: datetime | None = None
        self.ratings: dict[str, dict[str, Any]] = {}
        self.used_token_ids: list[str] = []
        self.callbacks: list[dict[str, Any]] = []
        self.reopen_count = 0
        self.escalated = False
        self.marked_unrated = False
        self.round_verdicts: list[dict[str, Any]] = []
        self.closed_verdict: str | None = None

    @classmethod
    def open(
        cls,
        *,
        ticket_id: str,
        ticket_code: str,
        citizen_ids: list[str],
        channel: str,
        category: str,
        policy: FeedbackPolicy,
        at: datetime | None = None,
    ) -> TicketFeedback:
        if not ticket_id or not citizen_ids:
            raise ValueError("a ticket's feedback needs the ticket id and at least one citizen")
        return cls(
            ticket_id=ticket_id,
            ticket_code=ticket_code,
            citizen_ids=list(citizen_ids),
            channel=channel,
            category=category,
            rating_window_days=policy.rating_window_days,
            max_reopens=policy.max_reopens,
            comment_max_chars=policy.comment_max_chars,
            timestamp=at,
        )

    # --- reply --------------------------------------------------------------------------

    def deliver_reply(
        self,
        *,
        unit_code: str,
        reply_outcome: str,
        delivered_at: datetime,
        reply_text: str = "",
        expected_by: datetime | None = None,
    ) -> None:
        """The platform accepted a unit's reply and the citizen was told: start a round.

        `reply_text` is the unit's (masked) reply; `expected_by` the date a matter that needs
        longer is expected done, when known. Both travel in the event so the notices sent to
        the citizen can be rebuilt from the event alone."""
        self.check_not_closed()
        if self.status is not FeedbackStatus.AWAITING_REPLY:
            raise ReplyRoundError(
                f"reply round {self.reply_round} is still being judged ({self.status.value}); "
                "a new reply needs a reopen first"
            )
        due = delivered_at + timedelta(days=self.rating_window_days)
        self._reply_delivered(
            reply_round=self.reply_round + 1,
            unit_code=unit_code,
            reply_outcome=reply_outcome,
            delivered_at=delivered_at,
            rating_due_at=due,
            reply_text=reply_text,
            expected_by=expected_by,
            timestamp=delivered_at,
        )

    @event("ReplyDelivered")
    def _reply_delivered(
        self,
        reply_round: int,
        unit_code: str,
        reply_outcome: str,
        delivered_at: datetime,
        rating_due_at: datetime,
        reply_text: str = "",
        expected_by: datetime | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        self.reply_round = reply_round
        self.reply_text = reply_text
        self.expected_by = expected_by
        self.unit_code = unit_code
        self.reply_outcome = reply_outcome
        self.rating_due_at = rating_due_at
        self.ratings = {}
        self.marked_unrated = False
        self.status = FeedbackStatus.AWAITING_RATING

    def explain_delay(
        self,
        *,
        unit_code: str,
        delivered_at: datetime,
        reply_text: str = "",
        expected_by: datetime | None = None,
    ) -> None:
        """需较长时间办理: the platform accepted a unit's "needs longer" (why, and by when) as
        an interim answer and the citizen is told so. Not the answer: no round starts, no
        rating is asked for; the record keeps awaiting the unit's final reply."""
        self.check_not_closed()
        if self.status is not FeedbackStatus.AWAITING_REPLY:
            raise ReplyRoundError(
                f"reply round {self.reply_round} is being judged ({self.status.value}); "
                "a needs-longer notice comes before the reply"
            )
        self._delay_explained(
            reply_round=self.reply_round,
            unit_code=unit_code,
            reply_outcome="needs_longer",
            delivered_at=delivered_at,
            reply_text=reply_text,
            expected_by=expected_by,
            timestamp=delivered_at,
        )

    @event("DelayExplained")
    def _delay_explained(
        self,
        reply_round: int,
        unit_code: str,
        reply_outcome: str,
        delivered_at: datetime,
        reply_text: str = "",
        expected_by: datetime | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        self.unit_code = unit_code
        self.expected_by = expected_by
        self.delays_explained = getattr(self, "delays_explained", 0) + 1
        self.delay_round = reply_round  # the explanation stands until this round's reply
        self.delay_text = reply_text

    @property
    def delay_in_force(self) -> bool:
        """A needs-longer explanation is the latest word to the citizen: the unit's reply to
        the round it explained has not come (a ticket merged into this one is owed it)."""
        return (self.status is FeedbackStatus.AWAITING_REPLY
                and getattr(self, "delay_round", None) == self.reply_round)

    # --- rating ---------------------------------------------------------------------------

    def rate(
        self,
        *,
        citizen_id: str,
        rating: str,
        comment: str = "",
        via: str = RatingVia.CHANNEL.value,
        at: datetime,
        token_id: str = "",
    ) -> None:
        """A citizen rates the current reply: once per citizen per reply round."""
        self.check_not_closed()
        if token_id and token_id in self.used_token_ids:
            raise AlreadyRatedError("this rating link was already used; each link works once")
        self.check_can_rate(citizen_id, at)
        parsed = parse_rating(rating)
        comment = comment.strip()
        if len(comment) > self.comment_max_chars:
            raise CommentTooLongError(
                f"comment has {len(comment)} characters; at most {self.comment_max_chars}"
            )
        self._rated(
            reply_round=self.reply_round,
            citizen_id=citizen_id,
            rating=parsed.value,
            comment=comment,
            via=RatingVia(via).value,
            rated_at=at,
            token_id=token_id,
            timestamp=at,
        )

    def rate_with_token(
        self, claims: RatingTokenClaims, *, rating: str, comment: str = "", at: datetime
    ) -> None:
        """Rate through a verified one-time link (`verify_rating_token` gives the claims)."""
        if claims.ticket_id != self.ticket_id or claims.ticket_code != self.ticket_code:
            raise InvalidRatingTokenError("this rating link belongs to another ticket")
        if claims.token_id in self.used_token_ids:
            raise AlreadyRatedError("this rating link was already used; each link works once")
        if claims.reply_round < self.reply_round:
            raise StaleRatingTokenError(
                f"this link rates reply {claims.reply_round}, but the ticket was reopened and "
                f"reply {self.reply_round} is the one to rate now"
            )
        if claims.reply_round > self.reply_round:
            raise InvalidRatingTokenError("this rating link names a reply that was never sent")
        citizen_id = claims.citizen_id
        if not citizen_id:
            if len(self.citizen_ids) != 1:
                raise InvalidRatingTokenError(
                    "this rating link does not say which citizen it is for"
                )
            citizen_id = self.citizen_ids[0]
        self.rate(
            citizen_id=citizen_id,
            rating=rating,
            comment=comment,
            via=RatingVia.LINK.value,
            at=at,
            token_id=claims.token_id,
        )

    def check_can_rate(self, citizen_id: str, at: datetime) -> None:
        if citizen_id not in self.citizen_ids:
            raise NotTheTicketsCitizenError("only the citizen who raised this ticket can rate it")
        if self.status is FeedbackStatus.UNRATED or (
            self.rating_due_at is not None and at > self.rating_due_at
        ):
            raise RatingWindowClosedError(
                f"the {self.rating_window_days}-day rating window for this reply has passed"
            )
        if self.status not in (FeedbackStatus.AWAITING_RATING, FeedbackStatus.RATED):
            raise NotAwaitingRatingError("there is no reply waiting for your rating")
        if citizen_id in self.ratings:
            raise AlreadyRatedError("you have already rated this reply; a rating is given once")

    @event("TicketRated")
    def _rated(
        self,
        reply_round: int,
        citizen_id: str,
        rating: str,
        comment: str,
        via: str,
        rated_at: datetime,
        token_id: str,
        timestamp: datetime | None = None,
    ) -> None:
        self.ratings[citizen_id] = {"rating": rating, "comment": comment, "via": via}
        if token_id:
            self.used_token_ids.append(token_id)
        self.status = FeedbackStatus.RATED

    def is_rating_overdue(self, now: datetime) -> bool:
        """True when the scheduler should call `mark_unrated`."""
        return (
            self.status is FeedbackStatus.AWAITING_RATING
            and self.rating_due_at is not None
            and now > self.rating_due_at
        )

    def mark_unrated(self, *, at: datetime) -> None:
        """Record that nobody rated within the window: 未评价, never satisfied by default."""
        self.check_not_closed()
        if self.status is not FeedbackStatus.AWAITING_RATING:
            raise NotAwaitingRatingError(
                f"only a reply awaiting its rating can be marked unrated (now {self.status.value})"
            )
        if not self.is_rating_overdue(at):
            raise RatingWindowOpenError(
                f"the rating window is open until {self.rating_due_at}; cannot mark unrated yet"
            )
        self._marked_unrated(reply_round=self.reply_round, marked_at=at, timestamp=at)

    @event("MarkedUnrated")
    def _marked_unrated(
        self, reply_round: int, marked_at: datetime, timestamp: datetime | None = None
    ) -> None:
        self.marked_unrated = True
        self.status = FeedbackStatus.UNRATED

    # --- callbacks ----------------------------------------------------------------------

    def record_callback(
        self,
        *,
        staff_id: str,
        reached: bool,
        resolved: bool | None = None,
        satisfaction: str | None = None,
        note: str = "",
        at: datetime,
    ) -> None:
        """Record a phone callback (回访) outcome for the current reply.

        Also on a closed ticket: the sampled callbacks survey tickets that a satisfied rating
        already closed, and what the citizen says on the phone still counts."""
        if self.status not in _JUDGEABLE and self.status is not FeedbackStatus.CLOSED:
            raise NotAwaitingRatingError("a callback needs a delivered reply to ask about")
        if not staff_id:
            raise CallbackOutcomeError("a callback must name the staff member who called")
        if not reached and (resolved is not None or satisfaction is not None):
            raise CallbackOutcomeError(
                "the citizen was not reached, so there can be no resolved/satisfied answer"
            )
        parsed = parse_rating(satisfaction).value if satisfaction is not None else None
        self._callback_recorded(
            reply_round=self.reply_round,
            staff_id=staff_id,
            reached=reached,
            resolved=resolved,
            satisfaction=parsed,
            note=note.strip(),
            called_at=at,
            timestamp=at,
        )

    @event("CallbackRecorded")
    def _callback_recorded(
        self,
        reply_round: int,
        staff_id: str,
        reached: bool,
        resolved: bool | None,
        satisfaction: str | None,
        note: str,
        called_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        self.callbacks.append(
            {
                "reply_round": reply_round,
                "staff_id": staff_id,
                "reached": reached,
                "resolved": resolved,
                "satisfaction": satisfaction,
                "called_at": called_at,
            }
        )

    @property
    def current_callbacks(self) -> list[dict[str, Any]]:
        return [c for c in self.callbacks if c["reply_round"] == self.reply_round]

    @property
    def verdict(self) -> Verdict | None:
        """Effective satisfaction of the current round (rule: satisfaction.py / docs)."""
        reached = [
            c for c in self.current_callbacks if c["reached"] and c["satisfaction"] is not None
        ]
        return effective_verdict(
            ratings=[r["rating"] for r in self.ratings.values()],
            reached_callback_satisfaction=reached[-1]["satisfaction"] if reached else None,
            marked_unrated=self.marked_unrated,
        )

    # --- reopen (重办) and supervision -------------------------------------------------------

    def reopen(self, *, confirmed_by: str, staff_id: str, reason: str, at: datetime) -> None:
        """Send a dissatisfied, confirmed-unresolved ticket back to dispatch, same code.

        A closed ticket reopens only on a callback that found the matter unresolved."""
        if self.status is FeedbackStatus.CLOSED and confirmed_by != "callback":
            self.check_not_closed()
        if self.status not in _JUDGEABLE and self.status is not FeedbackStatus.CLOSED:
            raise NotAwaitingRatingError("only a delivered reply can be reopened")
        if self.verdict is not Verdict.DISSATISFIED:
            shown = self.verdict.value if self.verdict else "not yet judged"
            raise NotDissatisfiedError(f"only a dissatisfied ticket is reopened (it is {shown})")
        how = ReopenConfirmation(confirmed_by)
        if not staff_id or not reason.strip():
            raise UnresolvedNotConfirmedError("a reopen names the staff member and the reason")
        if how is ReopenConfirmation.CALLBACK:
            reached = [c for c in self.current_callbacks if c["reached"]]
            if not reached or reached[-1]["resolved"] is not False:
                raise UnresolvedNotConfirmedError(
                    "no reached callback for this reply said the matter is unresolved"
                )
        self._reopened(
            reply_round=self.reply_round,
            reopen_count=self.reopen_count + 1,
            confirmed_by=how.value,
            staff_id=staff_id,
            reason=reason.strip(),
            verdict=Verdict.DISSATISFIED.value,
            reopened_at=at,
            timestamp=at,
        )
        if self.reopen_count > self.max_reopens and not self.escalated:
            self._escalated(
                reopen_count=self.reopen_count,
                reason=f"reopened {self.reopen_count} times (limit {self.max_reopens})",
                escalated_at=at,
                timestamp=at,
            )

    @event("TicketReopened")
    def _reopened(
        self,
        reply_round: int,
        reopen_count: int,
        confirmed_by: str,
        staff_id: str,
        reason: str,
        verdict: str,
        reopened_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        self.round_verdicts.append({"reply_round": reply_round, "verdict": verdict})
        self.reopen_count = reopen_count
        self.status = FeedbackStatus.AWAITING_REPLY

    @event("EscalatedToSupervision")
    def _escalated(
        self, reopen_count: int, reason: str, escalated_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        # Escalated once: later reopens of a supervised ticket are already under supervision.
        self.escalated = True

    # --- close ----------------------------------------------------------------------------

    def close(self, *, at: datetime) -> None:
        """Close the ticket with the effective verdict of its last reply."""
        self.check_not_closed()
        verdict = self.verdict if self.status in _JUDGEABLE else None
        if verdict is None:
            raise NotAwaitingRatingError(
                "a ticket closes once its reply is rated, recorded unrated, or judged by callback"
            )
        if verdict is Verdict.DISSATISFIED and not self.current_callbacks:
            raise CallbackPendingError(
                "a dissatisfied ticket is called back before it closes (every one, by rule)"
            )
        self._closed(reply_round=self.reply_round, verdict=verdict.value, closed_at=at, timestamp=at)

    @event("TicketClosed")
    def _closed(
        self, reply_round: int, verdict: str, closed_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        self.round_verdicts.append({"reply_round": reply_round, "verdict": verdict})
        self.closed_verdict = verdict
        self.status = FeedbackStatus.CLOSED

    def check_not_closed(self) -> None:
        if self.status is FeedbackStatus.CLOSED:
            raise FeedbackClosedError(f"ticket {self.ticket_code} is closed; nothing can change")
