"""The supervision office's web page (/supervision): a small page over the JSON API.

The page itself holds no data, so it needs no token; the lists it shows come from the API
with the token the user gives it (kept in the browser's local storage).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse


def router() -> APIRouter:
    web = APIRouter(tags=["web"])
    page = resources.files("services.sla.entrypoints").joinpath("static", "supervision.html")

    @web.get("/supervision", response_class=HTMLResponse)
    async def supervision_page() -> HTMLResponse:
        """督办看板: overdue, due-soon and supervision orders, in Chinese."""
        return HTMLResponse(page.read_text(encoding="utf-8"))

    return web
