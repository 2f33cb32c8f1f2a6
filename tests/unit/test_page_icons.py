"""Every HTML page names its own (empty) icon, so a browser never asks a service for
/favicon.ico and the service never logs a 404 for it; a page's CSP lets the icon load.
(The monthly report's: tests/unit/analytics/test_ranking.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "services").rglob("*.html"))
ICON = '<link rel="icon" href="data:,">'


def test_the_pages_are_found():
    assert len(PAGES) >= 9 and "services/feedback/entrypoints/pages/hall.html" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_every_page_names_an_icon(page):
    head = (ROOT / page).read_text(encoding="utf-8").split("</head>")[0]
    assert ICON in head, page


def test_the_login_page_policy_lets_its_icon_load():
    from services.identity.entrypoints.web import router

    app = FastAPI()
    app.include_router(router(set()))
    r = TestClient(app).get("/login")
    assert ICON in r.text
    policy = r.headers["content-security-policy"]
    assert "img-src 'self' data:" in policy, policy
