"""One-time rating links: HMAC-SHA256-signed tokens naming a ticket and a reply round.

Format: ``<payload>.<signature>``, both unpadded base64url; the payload is compact JSON
``{"v":1,"t":ticket_id,"r":reply_round,"e":expires_unix,"n":token_id[,"c":citizen_id]}``;
the signature is HMAC-SHA256 truncated to 128 bits.
The token proves only who it was issued for and until when; that it is used ONCE is
enforced by the `TicketFeedback` aggregate, which remembers every token id it accepted
(a replay raises `AlreadyRatedError`). Keeping the one-time check in the aggregate means
no separate "used tokens" table that could drift from the ratings themselves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from services.feedback.domain.errors import (
    InvalidRatingTokenError,
    RatingTokenExpiredError,
    WeakRatingSecretError,
)

TOKEN_VERSION = 1
MIN_SECRET_BYTES = 32
# A cap keeps a hostile "token" from making us parse megabytes of JSON.
MAX_TOKEN_CHARS = 1024


@dataclass(frozen=True)
class RatingTokenClaims:
    ticket_id: str
    reply_round: int
    citizen_id: str
    expires_at: datetime
    token_id: str


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise WeakRatingSecretError(
            f"rating-link secret has {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed"
        )


def _sign(payload: str, secret: bytes) -> str:
    digest = hmac.new(secret, b"minsheng-rating-link:" + payload.encode("ascii"), hashlib.sha256)
    # 128 bits of HMAC are plenty against forgery and keep the link short enough for SMS.
    return _b64encode(digest.digest()[:16])


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def issue_rating_token(
    ticket_id: str,
    secret: bytes,
    expires_at: datetime,
    *,
    reply_round: int = 1,
    citizen_id: str = "",
    token_id: str | None = None,
) -> str:
    """Sign a one-time rating link token for one reply round of one ticket."""
    _check_secret(secret)
    _require_aware(expires_at, "expires_at")
    if not ticket_id:
        raise InvalidRatingTokenError("a rating link needs a ticket id")
    claims = {
        "v": TOKEN_VERSION,
        "t": ticket_id,
        "r": reply_round,
        "e": int(expires_at.timestamp()),
        "n": token_id or secrets.token_urlsafe(8),
    }
    if citizen_id:  # left out for the usual one-citizen ticket, to keep SMS links short
        claims["c"] = citizen_id
    payload = _b64encode(json.dumps(claims, separators=(",", ":"), ensure_ascii=True).encode())
    return f"{payload}.{_sign(payload, secret)}"


def _decode_claims(payload: str) -> dict[str, object]:
    try:
        claims = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRatingTokenError("rating link payload cannot be decoded") from None
    if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
        raise InvalidRatingTokenError("rating link has an unknown format version")
    return claims


def verify_rating_token(token: str, secret: bytes, *, now: datetime) -> RatingTokenClaims:
    """Check signature and expiry; return the claims. Does NOT check single use (the
    aggregate does). Raises InvalidRatingTokenError or RatingTokenExpiredError."""
    _check_secret(secret)
    _require_aware(now, "now")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise InvalidRatingTokenError("rating link is malformed")
    payload, signature = token.split(".")
    try:
        payload.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidRatingTokenError("rating link is malformed") from None
    # Signature first, so nothing of an unsigned payload is ever interpreted.
    if not hmac.compare_digest(
        signature.encode("ascii", "replace"), _sign(payload, secret).encode()
    ):
        raise InvalidRatingTokenError("rating link signature does not match: it was altered")
    claims = _decode_claims(payload)
    try:
        expires_at = datetime.fromtimestamp(int(claims["e"]), tz=UTC)  # type: ignore[call-overload]
        parsed = RatingTokenClaims(
            ticket_id=str(claims["t"]),
            reply_round=int(claims["r"]),  # type: ignore[call-overload]
            citizen_id=str(claims.get("c", "")),
            expires_at=expires_at,
            token_id=str(claims["n"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidRatingTokenError("rating link is missing a claim") from None
    if now >= parsed.expires_at:
        raise RatingTokenExpiredError(
            f"rating link expired at {parsed.expires_at.isoformat()}; "
            "please rate through the channel you used or call 12345"
        )
    return parsed
