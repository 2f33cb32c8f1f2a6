"""The public hall (大厅): JSON API and the mobile web page. No token: it is public.

Only the read model's public columns (masked, district-level) are ever returned; the
internal facts column never leaves the database.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from backbone.http import NotFoundError
from backbone.rate_limits import TOO_MANY, SharedRateLimits
from backbone.ticket_codes import spelled_code
from backbone.web_assets import page_headers
from services.feedback.adapters.read_models import Queries
from services.feedback.domain.errors import InvalidHallQueryError
from services.feedback.domain.hall import HallRules, decode_cursor, encode_cursor
from services.feedback.domain.satisfaction import RATING_LABELS_ZH
from services.feedback.entrypoints.deps import ticket_code

PAGES = Path(__file__).resolve().parent / "pages"
PAGE_HEADERS = page_headers("form-action 'self'")  # the public pages


def entry(row: dict[str, Any], rules: HallRules) -> dict[str, Any]:
    verdict = row["verdict"]
    return {
        "code": row["ticket_code"], "text": row["text_public"], "category": row["category"],
        "place": row["place"], "county": row["county"], "unit": row["unit_name"],
        "status": row["status"], "status_label": rules.status_labels.get(row["status"], ""),
        "reply": row["reply_public"], "rating": verdict,
        "rating_label": RATING_LABELS_ZH.get(verdict) if verdict else None,
        "overdue": row["overdue"], "supervised": row["supervised"],
        "updated_at": row["updated_at"].isoformat(),
    }


def cursor_of(row: dict[str, Any]) -> str:
    """The domain's opaque cursor (it reads only updated_at and ticket_code)."""
    last = SimpleNamespace(updated_at=row["updated_at"], ticket_code=row["ticket_code"])
    return encode_cursor(last)  # type: ignore[arg-type]


def router(queries: Queries, rules: HallRules, limits: SharedRateLimits | None = None,
           per_minute: float = 600) -> APIRouter:
    # public: one client address gets this many hall requests a minute, on every replica
    limited = [Depends(limits.dependency("hall", capacity=per_minute, per_s=per_minute / 60))
               ] if limits else []
    api = APIRouter(tags=["public hall"], dependencies=limited, responses=TOO_MANY)

    @api.get("/v1/hall")
    def hall(keyword: Annotated[str, Query(max_length=200)] = "",
             category: Annotated[str, Query(max_length=60)] = "",
             county: Annotated[str, Query(max_length=60)] = "",
             status: Annotated[str, Query(max_length=30)] = "",
             cursor: Annotated[str, Query(max_length=300)] = "",
             page_size: int | None = None) -> dict[str, Any]:
        """The hall: shown tickets, newest update first; search by keyword over masked
        text only (or a ticket's code, however typed: the code each card shows), filter by
        category, county and status; keyset pages (next_cursor)."""
        keyword = keyword.strip()
        for name, value in (("keyword", keyword), ("category", category),
                            ("county", county), ("status", status)):
            if any(unicodedata.category(c) == "Cc" for c in value.strip()):
                raise InvalidHallQueryError(f"{name} holds a control character")
        if len(keyword) > rules.max_keyword_chars:
            raise InvalidHallQueryError(
                f"keyword is longer than {rules.max_keyword_chars} characters")
        size = rules.default_page_size if page_size is None else page_size
        if not 1 <= size <= rules.max_page_size:
            raise InvalidHallQueryError(f"page_size must be between 1 and {rules.max_page_size}")
        after = decode_cursor(cursor) if cursor else None
        rows, total = queries.hall_page(keyword=keyword, code=spelled_code(keyword),
                                        category=category.strip(), county=county.strip(),
                                        status=status.strip(), after=after, size=size)
        page = rows[:size]
        return {"entries": [entry(r, rules) for r in page], "total": total,
                "next_cursor": cursor_of(page[-1]) if len(rows) > size else None,
                "statuses": dict(rules.status_labels)}

    @api.get("/v1/hall/{code}")
    def hall_ticket(code: str) -> dict[str, Any]:
        """One ticket as the hall shows it (404 when the hall may not show it)."""
        row = queries.hall_ticket(ticket_code(code))
        if row is None or not row["shown"]:
            raise NotFoundError("the hall shows no ticket with this code")
        return entry(row, rules)

    @api.get("/hall", response_class=HTMLResponse, include_in_schema=False)
    def hall_page() -> HTMLResponse:
        return HTMLResponse((PAGES / "hall.html").read_text(encoding="utf-8"),
                            headers=PAGE_HEADERS)

    @api.get("/rate", response_class=HTMLResponse, include_in_schema=False)
    def rate_page() -> HTMLResponse:
        return HTMLResponse((PAGES / "rate.html").read_text(encoding="utf-8"),
                            headers=PAGE_HEADERS)

    return api
