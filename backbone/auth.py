"""One way to authenticate, for every HTTP and gRPC API: signed role tokens.

A token is `ms1.<claims>.<signature>`: base64url JSON claims (sub, role, unit, iat, exp) and an
HMAC-SHA256 over them with the platform's secret (MINSHENG_TOKEN_SECRET). No token or a bad
one: 401 / UNAUTHENTICATED. A valid token with the wrong role: 403 / PERMISSION_DENIED.

    python -m backbone.auth mint --role unit --unit yingzhou --sub yingzhou-oa
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

ROLES = ("channel_adapter", "unit", "dispatcher", "supervisor", "auditor", "observer",
         "deputy", "citizen", "system")


class AuthError(Exception):
    """The token is missing, malformed, forged or expired (401)."""


class ForbiddenError(Exception):
    """The token is valid but its role or unit may not do this (403)."""


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    unit: str = ""

    def require(self, *roles: str) -> Principal:
        if self.role not in roles:
            raise ForbiddenError(f"role {self.role!r} may not do this; needs one of {list(roles)}")
        return self


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(secret: str, *, sub: str, role: str, unit: str = "", ttl_s: int = 30 * 86400,
         now: float | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if role == "unit" and not unit:
        raise ValueError("a unit token must name its unit")
    issued = int(now if now is not None else time.time())
    claims = {"sub": sub, "role": role, "unit": unit, "iat": issued, "exp": issued + ttl_s}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    sig = hmac.new(secret.encode(), f"ms1.{body}".encode(), hashlib.sha256).digest()
    return f"ms1.{body}.{_b64(sig)}"


def verify(secret: str, token: str, now: float | None = None) -> Principal:
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != "ms1":
        raise AuthError("malformed token")
    expected = hmac.new(secret.encode(), f"ms1.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        given = _unb64(parts[2])
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, json.JSONDecodeError):
        raise AuthError("malformed token") from None
    if not hmac.compare_digest(expected, given):
        raise AuthError("bad token signature")
    if not isinstance(claims, dict) or claims.get("role") not in ROLES:
        raise AuthError("token names no known role")
    if float(claims.get("exp", 0)) < (now if now is not None else time.time()):
        raise AuthError("token expired")
    return Principal(sub=str(claims.get("sub", "")), role=claims["role"],
                     unit=str(claims.get("unit", "")))


def bearer(header_value: str | None) -> str:
    if not header_value:
        raise AuthError("missing bearer token (Authorization: Bearer <token>)")
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return token


def main() -> None:
    from backbone.settings import ServiceSettings

    parser = argparse.ArgumentParser(description="Mint a Minsheng role token")
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mint")
    m.add_argument("--role", required=True, choices=ROLES)
    m.add_argument("--unit", default="")
    m.add_argument("--sub", default="")
    m.add_argument("--ttl-days", type=int, default=30)
    args = parser.parse_args()
    settings = ServiceSettings()
    print(mint(settings.token_secret, sub=args.sub or args.unit or args.role, role=args.role,
               unit=args.unit, ttl_s=args.ttl_days * 86400))


if __name__ == "__main__":
    main()
