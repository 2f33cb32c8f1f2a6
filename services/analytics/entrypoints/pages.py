"""Pages: the public published reports (no token) and the dashboard (/dashboard).

The dashboard is one static page; its script reads the API with the token given in the URL
fragment (`/dashboard#token=...`, never sent to the server or written to its logs).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from backbone.http import NotFoundError
from backbone.web_assets import page_headers
from services.analytics.application.reports import Reports
from services.analytics.domain.report_render import render_csv, render_html
from services.analytics.entrypoints.http_api import CsvResponse, csv_response

DASHBOARD = Path(__file__).resolve().parent / "static" / "dashboard.html"
PAGE_HEADERS = page_headers()


def router(reports: Reports) -> APIRouter:
    pages = APIRouter(tags=["public"])

    def published(month: str) -> dict:
        report = reports.published(month)
        if report is None:
            raise NotFoundError(f"the {month} report has not been published")
        return report

    @pages.get("/reports/{month}.html", response_class=HTMLResponse)
    def public_report(month: str) -> HTMLResponse:
        """A published monthly report (亮晒比), for everyone."""
        return HTMLResponse(render_html(published(month)), headers=PAGE_HEADERS)

    @pages.get("/reports/{month}.csv", response_class=CsvResponse)
    def public_report_csv(month: str) -> Response:
        """A published monthly ranking as CSV, for everyone."""
        return csv_response(render_csv(published(month)), month)

    @pages.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        """The dashboard page (its data comes from /v1 with the token in the URL fragment)."""
        return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"), headers=PAGE_HEADERS)

    return pages
