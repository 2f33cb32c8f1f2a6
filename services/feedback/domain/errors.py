"""Named errors of the feedback domain.

Every error carries a human-readable reason, because most of them end up in an HTTP 4xx body
or a staff screen, and "ValueError" tells a citizen nothing.
"""

from __future__ import annotations


class FeedbackError(Exception):
    """Base of every feedback-domain error; `reason` is safe to show to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- rating and its lifecycle -------------------------------------------------------------


class AlreadyRatedError(FeedbackError):
    """This citizen already rated this reply round, or this rating link was already used."""


class NotAwaitingRatingError(FeedbackError):
    """A rating or callback arrived while no reply is waiting for the citizen's judgement."""


class RatingWindowOpenError(FeedbackError):
    """Marking a ticket unrated before its rating window has passed."""


class RatingWindowClosedError(FeedbackError):
    """A rating arrived after the ticket was recorded as unrated."""


class NotTheTicketsCitizenError(FeedbackError):
    """Someone who did not submit the ticket tried to rate it."""


class UnknownRatingError(FeedbackError):
    """A rating value outside satisfied / basically_satisfied / dissatisfied."""


class CommentTooLongError(FeedbackError):
    """A rating comment longer than the policy allows."""


class CallbackOutcomeError(FeedbackError):
    """A callback outcome that contradicts itself (e.g. 'not reached' but 'resolved')."""


class NotDissatisfiedError(FeedbackError):
    """Reopen asked for a ticket whose current verdict is not dissatisfied."""


class UnresolvedNotConfirmedError(FeedbackError):
    """Reopen asked without a callback or staff member confirming the matter is unresolved."""


class CallbackPendingError(FeedbackError):
    """Closing a dissatisfied ticket before anyone has called the citizen back."""


class FeedbackClosedError(FeedbackError):
    """Any change to a ticket whose feedback is closed."""


class ReplyRoundError(FeedbackError):
    """A reply delivered while the previous one is still being judged, or out of order."""


# --- one-time rating links ----------------------------------------------------------------


class InvalidRatingTokenError(FeedbackError):
    """A rating link that is malformed, tampered with, or for another ticket."""


class RatingTokenExpiredError(FeedbackError):
    """A rating link used after its expiry time."""


class StaleRatingTokenError(FeedbackError):
    """A rating link for an earlier reply round, used after the ticket was reopened."""


class RetiredRatingLinkError(InvalidRatingTokenError):
    """A rating link of the old HMAC form (before rating links were platform tokens)."""


# --- answering the citizen ----------------------------------------------------------------


class UnknownChannelError(FeedbackError):
    """A channel no answer template exists for."""


class UnknownReplyOutcomeError(FeedbackError):
    """A reply outcome other than resolved / needs_longer / not_allowed_by_policy."""


class MissingExplanationError(FeedbackError):
    """A 'needs longer' or 'not allowed by policy' reply without the explanation owed."""


class TemplateError(FeedbackError):
    """Answer templates that are incomplete or name a field that is not supplied."""


# --- hall ---------------------------------------------------------------------------------


class InvalidHallQueryError(FeedbackError):
    """A hall search with a bad cursor, page size or filter."""


# --- followers ----------------------------------------------------------------------------


class UnknownFollowerRoleError(FeedbackError):
    """A follower role other than observer / business_environment_officer / deputy."""


class UnknownFollowTargetError(FeedbackError):
    """A follow target kind other than ticket / unit / category, or an empty target."""


class AlreadyFollowingError(FeedbackError):
    """Following something already followed."""


class NotFollowingError(FeedbackError):
    """Unfollowing, or remarking on, something the follower does not follow."""


class EmptyRemarkError(FeedbackError):
    """A remark with no text, or one longer than the policy allows."""


class NotADeputyError(FeedbackError):
    """Someone other than a people's-congress deputy pushing a case to supervision."""


class AlreadyPushedError(FeedbackError):
    """A deputy pushing the same ticket to supervision twice."""


# --- idempotency --------------------------------------------------------------------------


class RequestIdReusedError(FeedbackError):
    """A request id already used by the same caller for a different command or body."""
