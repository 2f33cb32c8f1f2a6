"""Rating links are platform tokens (EdDSA JWT, feedback's rating-link key, `tkt` = the ticket
code): good for rating their own ticket's reply once, and for nothing else."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from backbone import auth
from services.feedback.domain.errors import (
    AlreadyRatedError,
    InvalidRatingTokenError,
    RatingTokenExpiredError,
    RetiredRatingLinkError,
    StaleRatingTokenError,
)
from services.feedback.domain.policy import FeedbackPolicy
from services.feedback.domain.rating import (
    TicketFeedback,
    issue_rating_token,
    verify_rating_token,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=7)
LINK_KEY = Ed25519PrivateKey.generate()
ISSUER = auth.Issuer(kid="rating-link-test", key=LINK_KEY)
STAFF = auth.Issuer(kid="identity-test", key=Ed25519PrivateKey.generate())
OTHER = auth.Issuer(kid="rating-link-other", key=Ed25519PrivateKey.generate())
KEYS = {ISSUER.kid: LINK_KEY.public_key(), STAFF.kid: STAFF.key.public_key()}
VERIFIER = auth.Verifier(KEYS, audience="feedback")
CODES = {"T-1": "FY1", "T-2": "FY2"}


def issue(ticket_id: str = "T-1", *, issuer: auth.Issuer = ISSUER, expires: datetime = EXPIRES,
          reply_round: int = 1, citizen_id: str = "", token_id: str = "n-1") -> str:
    return issue_rating_token(issuer, ticket_id=ticket_id, ticket_code=CODES[ticket_id],
                              expires_at=expires, issued_at=T0, reply_round=reply_round,
                              citizen_id=citizen_id, token_id=token_id)


def verify(token: str, now: datetime = T0):
    return verify_rating_token(VERIFIER, token, now=now)


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
    token = issue(citizen_id="c-1")
    claims = verify(token)
    assert (claims.ticket_id, claims.ticket_code, claims.reply_round, claims.token_id) == (
        "T-1", "FY1", 1, "n-1")
    assert claims.citizen_id == "c-1" and claims.expires_at == EXPIRES
    assert issue(citizen_id="c-1") == token  # a notice published twice carries one link
    fb = replied()
    fb.rate_with_token(claims, rating="satisfied", at=T0)
    assert fb.ratings["c-1"]["via"] == "link"


def test_replayed_link_is_refused_by_the_aggregate() -> None:
    claims = verify(issue())
    fb = replied()
    fb.rate_with_token(claims, rating="dissatisfied", at=T0)
    with pytest.raises(AlreadyRatedError, match="already used"):
        fb.rate_with_token(claims, rating="satisfied", at=T0)


def test_rating_by_channel_then_by_link_is_still_once() -> None:
    fb = replied()
    fb.rate(citizen_id="c-1", rating="satisfied", at=T0)
    claims = verify(issue())
    with pytest.raises(AlreadyRatedError):
        fb.rate_with_token(claims, rating="dissatisfied", at=T0)


def test_expired_token_is_refused_with_a_reason() -> None:
    with pytest.raises(RatingTokenExpiredError, match="expired"):
        verify(issue(), now=EXPIRES)


def test_token_signed_with_a_key_the_verifier_does_not_hold_is_refused() -> None:
    with pytest.raises(InvalidRatingTokenError, match="unknown key"):
        verify(issue(issuer=OTHER))


@settings(max_examples=200)
@given(data=st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    token = issue()
    pos = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    new = data.draw(st.sampled_from(alphabet).filter(lambda ch: ch != token[pos]))
    tampered = token[:pos] + new + token[pos + 1 :]
    # a change in base64's unused low bits of the last character decodes to the same bytes:
    # the same token, the same claims (nothing gained)
    try:
        claims = verify(tampered)
    except InvalidRatingTokenError:
        return
    assert claims == verify(token)


@given(garbage=st.text(max_size=200))
def test_garbage_is_invalid_never_a_crash(garbage: str) -> None:
    with pytest.raises(InvalidRatingTokenError):
        verify_rating_token(VERIFIER, garbage + ".x.y", now=T0)


def test_forged_payload_for_another_ticket_is_refused() -> None:
    mine, theirs = issue("T-1").split("."), issue("T-2").split(".")
    forged = ".".join([mine[0], theirs[1], mine[2]])
    with pytest.raises(InvalidRatingTokenError, match="signature"):
        verify(forged)


def test_token_for_another_ticket_is_refused_by_the_aggregate() -> None:
    claims = verify(issue("T-2"))
    with pytest.raises(InvalidRatingTokenError, match="another ticket"):
        replied("T-1").rate_with_token(claims, rating="satisfied", at=T0)


def test_link_of_an_earlier_round_is_stale_after_a_reopen() -> None:
    fb = replied()
    old = verify(issue(reply_round=1))
    fb.rate(citizen_id="c-1", rating="dissatisfied", at=T0)
    fb.reopen(confirmed_by="staff", staff_id="s", reason="未解决", at=T0)
    fb.deliver_reply(unit_code="SJ", reply_outcome="resolved", delivered_at=T0)
    with pytest.raises(StaleRatingTokenError, match="reopened"):
        fb.rate_with_token(old, rating="satisfied", at=T0)


def test_an_old_hmac_link_is_refused_as_retired() -> None:
    old = "eyJ2IjoxLCJ0IjoiVC0xIiwiciI6MSwiZSI6MTcwOTg4NTYwMCwibiI6Im4tMSJ9.c2lnbmF0dXJlMTIzNDU2"
    with pytest.raises(RetiredRatingLinkError, match="old form"):
        verify(old)


def test_a_link_is_refused_as_a_bearer_token_for_any_other_operation() -> None:
    with pytest.raises(auth.AuthError, match="rating link only"):
        VERIFIER.verify(issue())
    intake = auth.Verifier(KEYS, audience="intake")
    with pytest.raises(auth.AuthError):
        intake.verify(issue())  # not for intake either (audience feedback)


def test_other_tokens_are_not_rating_links() -> None:
    staff = STAFF.mint(sub="zhang", role="dispatcher", audience=["feedback"])
    with pytest.raises(InvalidRatingTokenError, match="not a rating-link token"):
        verify(staff)
    citizen = STAFF.mint(sub="c-1", role="citizen", ticket="FY1", audience=["feedback"])
    with pytest.raises(InvalidRatingTokenError, match="not a rating-link token"):
        verify(citizen)


def test_the_rating_link_key_signs_ticket_scoped_citizen_tokens_only() -> None:
    with pytest.raises(ValueError, match="rating-link key"):
        ISSUER.mint(sub="x", role="dispatcher", ticket="FY1")
    with pytest.raises(ValueError, match="rating-link key"):
        ISSUER.mint(sub="x", role="citizen")
    # and a verifier refuses one made outside the issuer's rules
    now = int(T0.timestamp())
    rogue = jwt.encode({"iss": "minsheng", "aud": ["feedback"], "sub": "x", "role": "supervisor",
                        "unit": "", "iat": now, "exp": now + 60, "jti": "j", "tkt": "FY1"},
                       LINK_KEY, algorithm="EdDSA", headers={"kid": ISSUER.kid})
    with pytest.raises(InvalidRatingTokenError, match="ticket-scoped citizen tokens only"):
        verify(rogue)
    with pytest.raises(auth.AuthError, match="ticket-scoped citizen tokens only"):
        VERIFIER.verify(rogue)
