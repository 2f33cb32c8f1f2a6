"""One-time rating links: tokens in the platform's own form (backbone/auth.py), scoped to one
ticket and one reply round.

A link's token is an EdDSA JWT signed with feedback's rating-link key (kid `rating-link-...`):
role `citizen`, `tkt` = the ticket code, audience `feedback` only, `exp` = the end of the rating
window, `jti` = the token id, and two claims of its own: `tid` (the ticket id) and `rnd` (the
reply round); `sub` is the citizen's pseudonym when a ticket has several citizens, else
`rating-link`. Every verifier refuses such a token as a bearer token (backbone.auth: "good for
its rating link only"), so a link rates its own ticket's reply and does nothing else, and a
service that verifies tokens holds only the public key: it can check a link, never make one.
That a link is used ONCE is enforced by the `TicketFeedback` aggregate, which remembers every
token id it accepted (a replay raises `AlreadyRatedError`).

An SMS has no room for a JWT (~370 characters; four segments hold 268 with the text), so the
URL in a message carries the link's short form `<ticket code>~<reply round>~<digest>`, the
digest being 128 bits of SHA-256 over the token: feedback re-mints the token from the
ticket's record (it is deterministic) and compares digests, so the short form is as hard to
forge as the token (it needs feedback's private key) and stands for exactly that token.

Links of the old form (HMAC, `<payload>.<signature>`, until 2026-12) are refused with 410
`rating_link_retired` and a reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from backbone import auth
from services.feedback.domain.errors import (
    InvalidRatingTokenError,
    RatingTokenExpiredError,
    RetiredRatingLinkError,
)

# A cap keeps a hostile "token" from costing us a signature check on megabytes.
MAX_TOKEN_CHARS = 1024
AUDIENCE = ("feedback",)
SUB_WHEN_ONE_CITIZEN = "rating-link"
_SHORT = re.compile(r"^([A-Z0-9-]{6,40})~(\d{1,4})~([A-Za-z0-9_-]{22})$")


@dataclass(frozen=True)
class RatingTokenClaims:
    ticket_id: str
    ticket_code: str
    reply_round: int
    citizen_id: str
    expires_at: datetime
    token_id: str


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def issue_rating_token(
    issuer: auth.Issuer,
    *,
    ticket_id: str,
    ticket_code: str,
    expires_at: datetime,
    issued_at: datetime,
    reply_round: int = 1,
    citizen_id: str = "",
    token_id: str,
) -> str:
    """Sign a one-time rating link token for one reply round of one ticket. Given the same
    arguments it gives the same token (Ed25519 signatures are deterministic), so a notice
    published twice carries one link."""
    _require_aware(expires_at, "expires_at")
    _require_aware(issued_at, "issued_at")
    if not ticket_id or not ticket_code:
        raise InvalidRatingTokenError("a rating link needs a ticket")
    issued = int(issued_at.timestamp())
    return issuer.mint(
        sub=citizen_id or SUB_WHEN_ONE_CITIZEN, role="citizen", ticket=ticket_code,
        audience=AUDIENCE, now=issued, ttl_s=max(1, int(expires_at.timestamp()) - issued),
        jti=token_id, extra={"tid": ticket_id, "rnd": reply_round})


def verify_rating_token(verifier: auth.Verifier, token: str, *, now: datetime
                        ) -> RatingTokenClaims:
    """Check the link's signature, key and scope and its expiry against `now` (the command's
    time); return the claims. Does NOT check single use (the aggregate does)."""
    _require_aware(now, "now")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InvalidRatingTokenError("rating link is malformed")
    if token.count(".") == 1:
        raise RetiredRatingLinkError(
            "this rating link is of the old form, no longer accepted; please rate through the "
            "channel you used (我的诉求) or call 12345")
    try:
        claims = verifier.verify_link(token)
    except auth.AuthError as exc:
        if "signature" in str(exc):
            raise InvalidRatingTokenError("rating link signature does not match: it was "
                                          "altered") from None
        raise InvalidRatingTokenError(f"rating link refused: {exc}") from None
    try:
        parsed = RatingTokenClaims(
            ticket_id=str(claims["tid"]), ticket_code=str(claims["tkt"]),
            reply_round=int(claims["rnd"]),
            citizen_id="" if claims["sub"] == SUB_WHEN_ONE_CITIZEN else str(claims["sub"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
            token_id=str(claims["jti"]))
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidRatingTokenError("rating link is missing a claim") from None
    if now >= parsed.expires_at:
        raise RatingTokenExpiredError(
            f"rating link expired at {parsed.expires_at.isoformat()}; "
            "please rate through the channel you used or call 12345"
        )
    return parsed


def _digest(token: str) -> str:
    raw = hashlib.sha256(b"minsheng-rating-link-short:" + token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw[:16]).rstrip(b"=").decode("ascii")


def short_form(token: str, *, ticket_code: str, reply_round: int) -> str:
    """The link's short form for a URL: ticket code, round and a digest of the token."""
    return f"{ticket_code}~{reply_round}~{_digest(token)}"


@dataclass(frozen=True)
class ShortLink:
    ticket_code: str
    reply_round: int
    digest: str

    def stands_for(self, token: str) -> bool:
        return hmac.compare_digest(self.digest, _digest(token))


def parse_short_form(text: str) -> ShortLink | None:
    """The short form's parts, or None if `text` is not one (a whole token, say)."""
    match = _SHORT.match(text)
    if not match:
        return None
    return ShortLink(match.group(1), int(match.group(2)), match.group(3))
