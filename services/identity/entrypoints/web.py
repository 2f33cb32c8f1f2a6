"""The staff login page (/login), in Chinese, with no outside resources.

After a login the page keeps the token in sessionStorage["minsheng.token"] and goes to
`?next=`: a path of this service, or a page on an allowed origin (the workbench), which then
gets the token in the URL fragment (#minsheng.token=...), never sent to any server.
"""

from __future__ import annotations

import json
from importlib import resources
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse


def safe_next(target: str | None, origins: set[str]) -> tuple[str, bool]:
    """(where to go, whether it is another origin); anything else goes nowhere ("")."""
    if not target or len(target) > 2000 or any(c in target for c in "\\\r\n\t"):
        return "", False
    if target.startswith("/") and not target.startswith("//"):
        return target, False
    parts = urlsplit(target)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme in ("http", "https") and origin in origins:
        return target, True
    return "", False


def router(origins: set[str]) -> APIRouter:
    web = APIRouter(tags=["web"])
    page = resources.files("services.identity.entrypoints").joinpath("static", "login.html")

    @web.get("/login", response_class=HTMLResponse)
    async def login_page(next: str | None = None) -> HTMLResponse:
        """登录: the staff login page."""
        target, cross = safe_next(next, origins)
        config = json.dumps({"next": target, "cross": cross}).replace("<", "\\u003c")
        html = page.read_text(encoding="utf-8").replace("__LOGIN_CONFIG__", config)
        return HTMLResponse(html, headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                       "style-src 'unsafe-inline'; img-src 'self' data:; "
                                       "frame-ancestors 'none'",  # data: the page's empty icon
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"})

    return web
