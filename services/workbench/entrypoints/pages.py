"""The workbench's pages: the login page and the one-page app, with their script and styles.

Everything is served from this origin (a city's closed network has no CDN); a strict
Content-Security-Policy allows scripts and styles from here only, never inline.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def _static(name: str) -> str:
    return resources.files("services.workbench.entrypoints").joinpath(
        "static", name).read_text("utf-8")


def _html(name: str) -> HTMLResponse:
    return HTMLResponse(_static(name), headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin", "Cache-Control": "no-store"})


def router() -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/", response_class=HTMLResponse)
    def app_page() -> HTMLResponse:
        """民声工作台 (the page asks /v1/me who is signed in; not signed in: to /login)."""
        return _html("app.html")

    @web.get("/login", response_class=HTMLResponse)
    def login_page() -> HTMLResponse:
        """登录页."""
        return _html("login.html")

    @web.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in TYPES:
            return Response("not found", status_code=404)
        return Response(_static(name), media_type=TYPES[name],
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache"})

    return web
