"""What the workbench's routes share: the session (cookie -> bearer), role dependencies.

The browser holds the platform's token only in an HttpOnly, SameSite=Strict cookie: page
scripts never see it, so an injected script cannot carry it off, and a page on another site
cannot make the browser send it. `SessionAsBearer` turns the cookie into the usual
`Authorization: Bearer` header, so the workbench checks tokens exactly as every service does
(backbone.http), and forwards the same token to the services it calls.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from backbone import auth
from backbone.http import error, require

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

ListReaderDep = Annotated[auth.Principal, require("dispatcher", "supervisor", "unit")]
StaffDep = Annotated[auth.Principal, require("dispatcher", "supervisor")]
UnitDep = Annotated[auth.Principal, require("unit")]
OperatorDep = Annotated[auth.Principal, require("channel_adapter", "dispatcher", "supervisor")]
HotlineDep = Annotated[auth.Principal, require("channel_adapter")]
AnyStaffDep = Annotated[auth.Principal, require("channel_adapter", "dispatcher", "supervisor",
                                                "unit", "auditor", "observer")]


def cookie_token(headers: Headers, cookie_name: str) -> str:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == cookie_name and value:
            return value
    return ""


class SessionAsBearer:
    """Plain ASGI: the session cookie becomes the bearer header (an explicit header wins).
    A state-changing request that relies on the cookie must come from this very origin."""

    def __init__(self, app: ASGIApp, cookie_name: str):
        self.app = app
        self.cookie_name = cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = cookie_token(headers, self.cookie_name)
        if token and "authorization" not in headers:
            if scope["method"] not in SAFE_METHODS and not same_origin(headers):
                refused = error(403, "forbidden", "cross-site request refused (origin differs)")
                await refused(scope, receive, send)
                return
            scope["headers"] = [*scope["headers"],
                                (b"authorization", f"Bearer {token}".encode())]
        await self.app(scope, receive, send)


def same_origin(headers: Headers) -> bool:
    origin = headers.get("origin") or headers.get("referer") or ""
    host = headers.get("host", "")
    return bool(origin) and urlsplit(origin).netloc == host


def token_of(request: Request) -> str:
    """The caller's own token, to call the other services with (already verified)."""
    return auth.bearer(request.headers.get("authorization"))
