from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.feedback.domain.errors import (
    AlreadyRatedError,
    InvalidRatingTokenError,
    RatingTokenExpiredError,
    StaleRatingTokenError,
    WeakRatingSecretError,
)
from services.feedback.domain.policy import FeedbackPolicy
from services.feedback.domain.rating import (
    TicketFeedback,
    issue_rating_token,
    verify_rating_token,
)

SECRET = b"k" * 32
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=7)


def replied(ticket_id: str = "T-1") -> TicketFeedback:
    fb = TicketFeedback.open(
        ticket_id=ticket_id,
        ticket_code="FY1",
        citizen_ids=["c-1"],
        channel="hotline_12345",
        category="市场监管",
        policy=FeedbackPolicy(),
    )
    fb.deliver_reply(unit_code="SJ", reply_outcome="resolved", delivered_at=T0)
    return fb


def test_a_good_token_verifies_and_rates() -> None:
    token = issue_rating_token("T-1", SECRET, EXPIRES, citizen_id="c-1", token_id="n-1")
    claims = verify_rating_token(token, SECRET, now=T0)
    assert (claims.ticket_id, claims.reply_round, claims.token_id) == ("T-1", 1, "n-1")
    fb = replied()
    fb.rate_with_token(claims, rating="satisfied", at=T0)
    assert fb.ratings["c-1"]["via"] == "link"


def test_replayed_link_is_refused_by_the_aggregate() -> None:
    claims = verify_rating_token(issue_rating_token("T-1", SECRET, EXPIRES), SECRET, now=T0)
    fb = replied()
    fb.rate_with_token(claims, rating="dissatisfied", at=T0)
    with pytest.raises(AlreadyRatedError, match="already used"):
        fb.rate_with_token(claims, rating="satisfied", at=T0)


def test_rating_by_channel_then_by_link_is_still_once() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0)
    claims = verify_rating_token(issue_rating_token("T-1", SECRET, EXPIRES), SECRET, now=T0)
    with pytest.raises(AlreadyRatedError):
        fb.rate_with_token(claims, rating="dissatisfied", at=T0)


def test_expired_token_is_refused_with_a_reason() -> None:
    token = issue_rating_token("T-1", SECRET, EXPIRES)
    with pytest.raises(RatingTokenExpiredError, match="expired"):
        verify_rating_token(token, SECRET, now=EXPIRES)


def test_token_signed_with_another_secret_is_refused() -> None:
    token = issue_rating_token("T-1", b"o" * 32, EXPIRES)
    with pytest.raises(InvalidRatingTokenError, match="signature"):
        verify_rating_token(token, SECRET, now=T0)


@settings(max_examples=200)
@given(data=st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    token = issue_rating_token("T-1", SECRET, EXPIRES, token_id="n-1")
    pos = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    new = data.draw(st.sampled_from(alphabet).filter(lambda ch: ch != token[pos]))
    tampered = token[:pos] + new + token[pos + 1 :]
    # Signatures are compared as text over the payload text, so no change slips through
    # (not even one in base64's ignored low bits).
    with pytest.raises(InvalidRatingTokenError):
        verify_rating_token(tampered, SECRET, now=T0)


@given(garbage=st.text(max_size=200))
def test_garbage_is_invalid_never_a_crash(garbage: str) -> None:
    with pytest.raises(InvalidRatingTokenError):
        verify_rating_token(garbage, SECRET, now=T0)


def test_forged_payload_for_another_ticket_is_refused() -> None:
    mine = issue_rating_token("T-1", SECRET, EXPIRES)
    theirs = issue_rating_token("T-2", SECRET, EXPIRES)
    forged = theirs.split(".")[0] + "." + mine.split(".")[1]
    with pytest.raises(InvalidRatingTokenError):
        verify_rating_token(forged, SECRET, now=T0)


def test_token_for_another_ticket_is_refused_by_the_aggregate() -> None:
    claims = verify_rating_token(issue_rating_token("T-2", SECRET, EXPIRES), SECRET, now=T0)
    with pytest.raises(InvalidRatingTokenError, match="another ticket"):
        replied("T-1").rate_with_token(claims, rating="satisfied", at=T0)


def test_link_of_an_earlier_round_is_stale_after_a_reopen() -> None:
    fb = replied()
    old = verify_rating_token(
        issue_rating_token("T-1", SECRET, EXPIRES, reply_round=1), SECRET, now=T0
    )
    fb.rate(citizen_id="c-1", rating="dissatisfied", at=T0)
    fb.reopen(confirmed_by="staff", staff_id="s", reason="未解决", at=T0)
    fb.deliver_reply(unit_code="SJ", reply_outcome="resolved", delivered_at=T0)
    with pytest.raises(StaleRatingTokenError, match="reopened"):
        fb.rate_with_token(old, rating="satisfied", at=T0)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(WeakRatingSecretError):
        issue_rating_token("T-1", b"short", EXPIRES)
