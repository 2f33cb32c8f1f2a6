"""Feedback's domain errors as HTTP answers: status and code per error, reason as detail."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backbone.http import error
from services.feedback.domain import errors as e

# Most specific first; the first class an error is an instance of decides.
STATUS: list[tuple[type[e.FeedbackError], int, str]] = [
    (e.AlreadyRatedError, 409, "already_rated"),
    (e.StaleRatingTokenError, 409, "stale_rating_link"),
    (e.RatingTokenExpiredError, 410, "rating_link_expired"),
    (e.RetiredRatingLinkError, 410, "rating_link_retired"),
    (e.InvalidRatingTokenError, 403, "invalid_rating_link"),
    (e.NotTheTicketsCitizenError, 403, "not_the_citizen"),
    (e.RatingWindowClosedError, 409, "rating_window_closed"),
    (e.RatingWindowOpenError, 409, "rating_window_open"),
    (e.NotAwaitingRatingError, 409, "not_awaiting_rating"),
    (e.FeedbackClosedError, 409, "closed"),
    (e.ReplyRoundError, 409, "reply_round"),
    (e.NotDissatisfiedError, 409, "not_dissatisfied"),
    (e.UnresolvedNotConfirmedError, 409, "unresolved_not_confirmed"),
    (e.CallbackPendingError, 409, "callback_pending"),
    (e.AlreadyFollowingError, 409, "already_following"),
    (e.NotFollowingError, 409, "not_following"),
    (e.AlreadyPushedError, 409, "already_pushed"),
    (e.NotADeputyError, 403, "not_a_deputy"),
    (e.RequestIdReusedError, 409, "request_id_reused"),
    (e.FeedbackError, 400, "invalid"),
]


def install(app: FastAPI) -> None:
    @app.exception_handler(e.FeedbackError)
    async def feedback_error(_: Request, exc: e.FeedbackError) -> JSONResponse:
        for kind, status, code in STATUS:
            if isinstance(exc, kind):
                return error(status, code, exc.reason)
        return error(400, "invalid", exc.reason)  # pragma: no cover  (FeedbackError is last)
