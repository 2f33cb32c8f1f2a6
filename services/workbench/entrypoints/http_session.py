"""Signing in and out. The login form posts here; the workbench asks the identity service
(server-side) for a session and keeps the token in an HttpOnly cookie (see deps.py for why)."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from services.workbench.adapters.upstream import Services, UpstreamError
from services.workbench.entrypoints.deps import AnyStaffDep, cookie_token, same_origin

log = logging.getLogger(__name__)
# identity's refusals the login page has words for (app.js, LOGIN_ERRORS): the redirect names
# the reason by a key, never by its text, so a link to /login?error=... cannot put a sentence
# of a stranger's choosing (a phone number to call, a password to send) on the staff's login page
REFUSALS = (400, 401, 403, 422, 423, 429)
STAFF_ROLES = ("channel_adapter", "dispatcher", "supervisor", "unit", "auditor", "observer")


def router(*, services: Services, settings: Any) -> APIRouter:
    web = APIRouter(tags=["session"])
    cookie = settings.session_cookie

    def back_to_login(reason: str) -> RedirectResponse:
        return RedirectResponse(f"/login?error={quote(reason)}", status_code=303)

    @web.post("/login", include_in_schema=False)
    async def login(request: Request, username: Annotated[str, Form(max_length=64)] = "",
                    password: Annotated[str, Form(max_length=256)] = "",
                    ) -> RedirectResponse:
        """Sign in with the platform's account; on success the session cookie is set."""
        if "origin" in request.headers and not same_origin(request.headers):
            # login CSRF: another site must not sign a browser in under its own account
            return back_to_login("csrf")
        if not username.strip() or not password:
            return back_to_login("empty")
        # identity limits logins per address; every login reaches it from the workbench, so
        # the browser's address goes along (identity trusts it only from a configured proxy)
        forwarded = {"x-forwarded-for": request.client.host} if request.client else {}
        try:
            session = await services.post("identity", "/v1/sessions", token=None,
                                          headers=forwarded,
                                          json={"username": username.strip(),
                                                "password": password})
        except UpstreamError as exc:
            if exc.status in REFUSALS:
                return back_to_login(f"refused-{exc.status}")
            log.warning("identity unavailable at login: %s", exc.detail)
            return back_to_login("unavailable")
        if session.get("role") not in STAFF_ROLES:
            return back_to_login("not-staff")
        page = RedirectResponse("/", status_code=303)
        page.set_cookie(cookie, session["token"], max_age=settings.session_ttl_s, path="/",
                        httponly=True, samesite="strict", secure=settings.cookie_secure)
        return page

    @web.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> RedirectResponse:
        """Sign out: the identity service revokes the token; the cookie is cleared."""
        token = cookie_token(request.headers, cookie)
        if token:
            try:
                await services.call("identity", "DELETE", "/v1/sessions/current", token=token)
            except UpstreamError as exc:  # the cookie goes anyway; the token expires on time
                log.warning("could not revoke the session: %s", exc.detail)
        page = RedirectResponse("/login?bye=1", status_code=303)
        page.delete_cookie(cookie, path="/", httponly=True, samesite="strict",
                           secure=settings.cookie_secure)
        return page

    @web.get("/v1/me", tags=["session"])
    async def me(principal: AnyStaffDep) -> JSONResponse:
        """Who is signed in (the page shows the menus of this role)."""
        body: dict[str, Any] = {"sub": principal.sub, "role": principal.role,
                                "unit": principal.unit}
        expires = getattr(principal, "expires_at", 0)
        if expires:
            body["expires_at"] = expires
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return web


