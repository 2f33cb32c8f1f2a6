"""Identity's HTTP API: log in, log out, who am I, the public keys, the revocation list.

    POST   /v1/sessions           {username, password} -> {token, expires_at, role, unit, ...}
    DELETE /v1/sessions/current   log out: the token's jti is revoked everywhere within seconds
    GET    /v1/sessions/current   the token's holder
    GET    /.well-known/jwks.json the public keys every service verifies with
    GET    /v1/revocations        revoked, unexpired jtis (services may read the table instead)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from backbone import auth
from backbone.http import PrincipalDep, error, require
from backbone.rate_limits import SharedRateLimits
from services.identity.application.sessions import LoginRefused, Sessions
from services.identity.domain.accounts import MAX_PASSWORD

StaffDep = Annotated[auth.Principal, require(*[r for r in auth.ROLES if r != "citizen"])]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64, examples=["zhang.wei"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class SessionAnswer(BaseModel):
    token: str = Field(description="the bearer token (EdDSA JWT) for every Minsheng API")
    token_type: str = "Bearer"
    expires_at: str = Field(description="ISO 8601, UTC")
    expires_in_s: int
    username: str
    display_name: str
    role: str
    unit: str = Field(description='the unit code for role "unit", else ""')


def router(sessions: Sessions, jwks_path: Path, limits: SharedRateLimits | None = None,
           logins_per_minute: float = 30) -> APIRouter:
    api = APIRouter(tags=["sessions"])

    # one client address may try this many logins a minute, across every replica (429)
    limited = [Depends(limits.dependency("login", capacity=logins_per_minute,
                                         per_s=logins_per_minute / 60))] if limits else []

    @api.post("/v1/sessions", response_model=SessionAnswer, status_code=201,
              dependencies=limited,
              responses={401: {"description": "wrong username or password, or disabled"},
                         423: {"description": "locked after repeated failures (Retry-After)"},
                         429: {"description": "too many logins from this address (Retry-After)"}})
    async def log_in(body: LoginRequest) -> Any:
        """Log in with a staff account; the answer carries the token (8 hours by default)."""
        try:
            return await run_in_threadpool(sessions.login, body.username, body.password)
        except LoginRefused as refused:
            if refused.status == 423:
                return error(423, "locked", refused.reason,
                             {"Retry-After": str(refused.retry_after_s)})
            return error(401, "unauthenticated", refused.reason)

    @api.delete("/v1/sessions/current", status_code=204)
    async def log_out(principal: PrincipalDep) -> Response:
        """Log out: this token is refused by every service from the next refresh (seconds)."""
        await run_in_threadpool(sessions.logout, principal)
        return Response(status_code=204)

    @api.get("/v1/sessions/current")
    async def who_am_i(principal: PrincipalDep) -> dict[str, Any]:
        """The holder of this token; `expires_at` in the form login answers it (ISO 8601, UTC)."""
        expires = datetime.fromtimestamp(principal.expires_at, UTC) if principal.expires_at else None
        return {"sub": principal.sub, "role": principal.role, "unit": principal.unit,
                "ticket": principal.ticket,
                "expires_at": expires.isoformat() if expires else None}

    @api.get("/.well-known/jwks.json", tags=["keys"])
    async def jwks() -> JSONResponse:
        """The public keys tokens are verified with (two during a rotation)."""
        document = json.loads(await run_in_threadpool(jwks_path.read_text))
        return JSONResponse(document, headers={"Cache-Control": "max-age=300"})

    @api.get("/v1/revocations", tags=["keys"])
    async def revocations(_: StaffDep) -> dict[str, Any]:
        """Revoked tokens that have not expired yet (jti and expiry only)."""
        return {"revoked": await run_in_threadpool(sessions.store.revoked)}

    return api
